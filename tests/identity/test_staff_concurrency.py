"""Two first sign-ins of one person at the same moment (PostgreSQL: real row locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from identity.models import ExternalIdentity
from identity.services import staff_sign_in
from tenants.models import Membership, Role
from tests import factories

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL row locks (CI's second pass)"
    ),
]


def test_two_simultaneous_first_sign_ins_make_one_identity_and_one_user():
    tenant = factories.ActiveTenantFactory(slug="acme")
    Membership.objects.create(tenant=tenant, email="dana@acme.example", role=Role.OBS_ADMIN)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def sign_in() -> None:
        try:
            barrier.wait(timeout=5)
            results.append(
                staff_sign_in(
                    issuer="https://idp.example", subject="sub-dana", email="dana@acme.example"
                ).pk
            )
        except Exception as exc:  # noqa: BLE001 - the assertion below shows what failed
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sign_in) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert len(results) == 2 and all(isinstance(r, int) for r in results), results
    assert results[0] == results[1]
    assert ExternalIdentity.objects.count() == 1
