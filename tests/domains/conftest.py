"""Fixtures of the company-domain tests: a real DNS server on loopback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dns_server import Zone, dns_server


@pytest.fixture
def zone(settings: Any):
    """A loopback DNS server that verification asks (and nothing else)."""
    with dns_server() as (served, address):
        settings.DOMAIN_VERIFICATION_NAMESERVERS = [address]
        settings.DOMAIN_VERIFICATION_TIMEOUT = 2.0
        yield served


def publish_proof(zone: Zone, claim: Any) -> None:
    zone.publish(claim.record_name, claim.record_value)
