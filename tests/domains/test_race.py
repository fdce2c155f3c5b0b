"""Two companies verifying overlapping domains at the same moment (PostgreSQL, real locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from domains.models import CompanyDomain, DomainStatus
from domains.services import domain_check, domain_claim
from tests import factories
from tests.domains.conftest import publish_proof

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL locks (CI's second pass)"
    ),
]


@pytest.mark.parametrize(
    "domains", [("acme.example", "acme.example"), ("acme.example", "ACME.example")]
)
def test_of_two_companies_verifying_one_domain_at_once_exactly_one_wins(zone, domains):
    tenants = [
        factories.ActiveTenantFactory(slug="acme"),
        factories.ActiveTenantFactory(slug="globex"),
    ]
    claims = [domain_claim(tenant=t, domain=d)[0] for t, d in zip(tenants, domains, strict=True)]
    for claim in claims:
        publish_proof(zone, claim)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def verify(claim: CompanyDomain) -> None:
        try:
            barrier.wait(timeout=5)
            domain_check(claim=claim)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=verify, args=(c,)) for c in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    statuses = sorted(CompanyDomain.objects.values_list("status", flat=True))
    assert statuses == [DomainStatus.PENDING, DomainStatus.VERIFIED]
