"""The outbound address guard (issue 15, finding 12)."""

from __future__ import annotations

import ipaddress

import pytest

from common import network
from identity import oidc
from identity.oidc import ProviderConfig


@pytest.fixture
def production(settings):
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = []
    settings.OUTBOUND_REQUIRE_HTTPS = False


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
        "2002:a00:1::1",  # 6to4 wrapping 10.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 wrapping 169.254.169.254
        "fec0::1",  # site-local
        "feff::1",
    ],
)
def test_6to4_and_site_local_addresses_are_not_public(address):
    assert not network.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a00:1",  # NAT64 (RFC 6052) to 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 to 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 to 169.254.169.254
        "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
        "64:ff9b::1:a00:1",
        "::a00:1",  # IPv4-compatible 10.0.0.1
        "::ffff:0:a00:1",  # IPv4-translated (SIIT) 10.0.0.1
    ],
)
def test_addresses_that_carry_an_ipv4_address_are_not_public_whatever_python_says(address):
    parsed = ipaddress.ip_address(address)
    # Refused by the guard's own ranges, not only because this Python counts ::/8 as
    # reserved (a later release might not).
    assert any(parsed in net for net in network.NON_PUBLIC_IPV6)
    assert not network.is_public(parsed)


def test_an_ipv4_mapped_address_is_judged_as_its_ipv4_address():
    assert not network.is_public(ipaddress.ip_address("::ffff:a00:1"))
    assert network.is_public(ipaddress.ip_address("::ffff:808:808"))


def test_a_global_ipv6_address_is_still_public():
    assert network.is_public(ipaddress.ip_address("2606:4700:4700::1111"))


@pytest.mark.parametrize("address", ["2002:a00:1::1", "fec0::1", "64:ff9b::a00:1"])
def test_a_6to4_nat64_or_site_local_literal_is_never_connected_to(production, address):
    with pytest.raises(network.DisallowedDestination):
        network.resolve(address, 443)


def _told(host: str) -> str:
    try:
        network.resolve(host, 443)
    except network.DisallowedDestination as exc:
        return str(exc).replace(repr(host), "HOST")
    raise AssertionError(f"{host} was accepted")


def test_an_unknown_name_and_an_internal_name_get_the_same_answer(production):
    # Otherwise "Test discovery" tells a tenant admin which internal names exist.
    unknown = _told("intranet..corp")  # refused before any DNS query (empty label)
    internal = _told("localhost")
    assert unknown == internal
    assert "127.0.0.1" not in internal


def test_test_discovery_does_not_tell_unknown_from_internal_hosts(production):
    reports = [
        oidc.probe(ProviderConfig(issuer=f"http://{host}", client_id="c")).problems[0]
        for host in ("intranet..corp", "localhost")
    ]
    assert reports[0].replace("intranet..corp", "localhost") == reports[1]
