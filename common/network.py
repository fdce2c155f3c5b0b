"""Where outbound connections may go: the one place that resolves customer-supplied hosts.

IdP endpoints and route probes take hosts that customers type. In production
(``OUTBOUND_BLOCK_PRIVATE_ADDRESSES``) a host that resolves to a loopback, private,
link-local, shared, multicast, reserved or unspecified address is refused, so the
service cannot be used to reach its own network (SSRF). Hosts, addresses or networks
listed in ``OUTBOUND_ALLOWED_HOSTS`` are exempt (on-premise IdPs, tests on loopback).

HTTP clients use :class:`OutboundSession`: it connects only to addresses that
:func:`resolve` vetted at connect time (checking a URL and then letting the HTTP library
resolve the name again is open to DNS rebinding: public on the check, 169.254.169.254 on
the connect), and it enforces an overall deadline by shutting its sockets down, which
per-operation timeouts cannot do against a server that drips one byte at a time.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext, gettext_noop
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

logger = logging.getLogger(__name__)

#: IPv6 ranges that can lead inside whatever Python's release counts as global: 6to4
#: (2002::/16) embeds any IPv4 address, private ones included, and a relay may deliver
#: it; deprecated site-local (fec0::/10) is still routed inside some networks; ::/8,
#: reserved by the IETF, holds the forms that carry an IPv4 address (IPv4-compatible
#: ::a00:1, SIIT's ::ffff:0:a00:1) and the NAT64 prefixes (RFC 6052's 64:ff9b::/96, RFC
#: 8215's local 64:ff9b:1::/48), through which a NAT64 gateway reaches the IPv4 address
#: embedded, private ones included. (Python 3.11 counts ::/8 as reserved, and so refuses
#: it anyway; named here so that no release's reading decides.) IPv4-mapped addresses
#: (::ffff:a00:1) are judged as the IPv4 address they are, before these ranges.
NON_PUBLIC_IPV6 = (
    ipaddress.IPv6Network("2002::/16"),
    ipaddress.IPv6Network("fec0::/10"),
    ipaddress.IPv6Network("::/8"),
)

#: One answer for "cannot be resolved" and "resolves to a non-public address": if they
#: differed, a tenant admin could use "Test discovery" or a route probe to learn which
#: internal host names exist. The real reason goes to the operator's log.
# In the active language: an admin testing an identity provider or a UMS reads them.
DESTINATION_REFUSED_MESSAGE = gettext_noop(
    "The host {host!r} does not resolve to a public address this service may connect to"
    " (unknown names and loopback, private or otherwise non-public addresses are refused;"
    " an operator can allow a host with OUTBOUND_ALLOWED_HOSTS)."
)


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
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            address = address.ipv4_mapped
        elif any(address in network for network in NON_PUBLIC_IPV6):
            return False
    return address.is_global and not (address.is_multicast or address.is_reserved)


def _refused(host: str, reason: str) -> DisallowedDestination:
    logger.info("Outbound connection to %r refused: %s", host, reason)
    return DisallowedDestination(gettext(DESTINATION_REFUSED_MESSAGE).format(host=host))


def resolve(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses, refusing non-public ones in production."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _refused(host, f"cannot be resolved ({exc})") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES:
        for address in addresses:
            if not is_public(address) and not _allowed(host, address):
                raise _refused(host, f"resolves to the non-public address {address}")
    return addresses


def check_url(url: str) -> None:
    """Refuse URLs this service must not fetch: not https in production, or a non-public host."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DisallowedDestination(gettext("{url!r} is not an http(s) URL.").format(url=url))
    if parts.scheme != "https" and settings.OUTBOUND_REQUIRE_HTTPS:
        raise DisallowedDestination(gettext("{url!r} must use https.").format(url=url))
    resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


class _Watchdog:
    """Shuts down every socket of one session when its deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv()
    except OSError:
        pass


_watchdog: contextvars.ContextVar[_Watchdog | None] = contextvars.ContextVar(
    "outbound_watchdog", default=None
)


class _VettedConnectionMixin:
    """Connects to an address :func:`resolve` accepted, never to a second lookup's answer."""

    _dns_host: str
    port: int
    proxy: Any

    def _new_conn(self) -> socket.socket:
        if self.proxy is not None:
            # The operator's proxy (HTTPS_PROXY) resolves the target; check_url vetted it.
            sock = super()._new_conn()  # type: ignore[misc]  # as above  # a mixin: urllib3 supplies it
        else:
            name = self._dns_host
            last: Exception | None = None
            sock = None
            for address in resolve(name, self.port):
                # urllib3 connects to _dns_host; TLS (SNI, certificate) still uses the name,
                # because it is restored before connect() wraps the socket.
                self._dns_host = str(address)
                try:
                    sock = super()._new_conn()  # type: ignore[misc]
                    break
                except ConnectTimeoutError as exc:  # and NewConnectionError, its subclass
                    last = exc
                finally:
                    self._dns_host = name
            if sock is None:
                assert last is not None
                raise last
        watchdog = _watchdog.get()
        if watchdog is not None:
            watchdog.watch(sock)
        return sock


class _VettedHTTPConnection(_VettedConnectionMixin, HTTPConnection):
    pass


class _VettedHTTPSConnection(_VettedConnectionMixin, HTTPSConnection):
    pass


class _VettedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _VettedHTTPConnection


class _VettedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _VettedHTTPSConnection


class _VettedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _VettedHTTPConnectionPool,
            "https": _VettedHTTPSConnectionPool,
        }


class OutboundSession(requests.Session):
    """A ``requests`` session for customer-supplied URLs; use as a context manager.

    Every connection goes to an address vetted at connect time, and all of the session's
    sockets are shut down ``deadline`` seconds after ``__enter__`` (``expired`` then
    says why a request failed or a body ended early). Check the URL with
    :func:`check_url` first (scheme, https in production). Raises
    :class:`DisallowedDestination` from a request whose host resolves where it must not.
    """

    def __init__(self, *, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline
        self._watch: _Watchdog | None = None
        self._token: contextvars.Token[_Watchdog | None] | None = None
        adapter = _VettedAdapter(max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    @property
    def expired(self) -> bool:
        return self._watch is not None and self._watch.expired

    def __enter__(self) -> OutboundSession:
        self._watch = _Watchdog(self._deadline)
        self._token = _watchdog.set(self._watch)
        self._watch._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._watch is not None and self._token is not None
        self._watch._timer.cancel()
        _watchdog.reset(self._token)
        self.close()
