"""Where outbound connections may go: the one place that resolves customer-supplied hosts.

IdP endpoints and route probes take hosts that customers type. In production
(``OUTBOUND_BLOCK_PRIVATE_ADDRESSES``) a host that resolves to a loopback, private,
link-local, shared, multicast, reserved or unspecified address is refused, so the
service cannot be used to reach its own network (SSRF). Hosts, addresses or networks
listed in ``OUTBOUND_ALLOWED_HOSTS`` are exempt (on-premise IdPs, tests on loopback).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DisallowedDestination(Exception):
    """The host may not be contacted; the message says why, in words for the customer."""


def _allowed(host: str, address: IPAddress) -> bool:
    for entry in settings.OUTBOUND_ALLOWED_HOSTS:
        entry = entry.strip()
        if not entry:
            continue
        if entry.lower() == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not (address.is_multicast or address.is_reserved)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses, refusing non-public ones in production."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DisallowedDestination(f"The host {host!r} cannot be resolved ({exc}).") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES:
        for address in addresses:
            if not is_public(address) and not _allowed(host, address):
                raise DisallowedDestination(
                    f"The host {host!r} resolves to {address}, a loopback, private or otherwise "
                    "non-public address, which this service does not connect to. An operator can "
                    "allow it with OUTBOUND_ALLOWED_HOSTS."
                )
    return addresses


def check_url(url: str) -> None:
    """Refuse URLs this service must not fetch: not https in production, or a non-public host."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DisallowedDestination(f"{url!r} is not an http(s) URL.")
    if parts.scheme != "https" and settings.OUTBOUND_REQUIRE_HTTPS:
        raise DisallowedDestination(f"{url!r} must use https.")
    resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
