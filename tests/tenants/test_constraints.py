"""Rules the database itself enforces, so no entry point or race can break them.

Run on SQLite by ``make test`` and on PostgreSQL by CI (``DATABASE_URL``).
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from onboarding.models import MappedDomain, MappedUser, Route
from tenants.models import Activation, Membership
from tests.factories import (
    CertificateChainFactory,
    IdentityProviderFactory,
    MappedDomainFactory,
    MappedUserFactory,
    RouteFactory,
)

pytestmark = pytest.mark.django_db


def _violates(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_an_e_mail_can_be_mapped_only_once_across_all_tenants_whatever_its_case(acme, globex):
    MappedUserFactory(route=RouteFactory(tenant=acme), email="alice@example.com")
    other = RouteFactory(tenant=globex)
    assert _violates(lambda: MappedUser.objects.create(route=other, email="alice@example.com"))
    # Stored lowercase is also enforced, so a mixed-case duplicate cannot slip past.
    assert _violates(lambda: MappedUser.objects.create(route=other, email="ALICE@example.com"))


def test_a_domain_can_be_mapped_only_once_across_all_tenants(acme, globex):
    MappedDomainFactory(route=RouteFactory(tenant=acme), domain="example.com")
    other = RouteFactory(tenant=globex)
    assert _violates(lambda: MappedDomain.objects.create(route=other, domain="example.com"))
    assert _violates(lambda: MappedDomain.objects.create(route=other, domain="Example.com"))


@pytest.mark.parametrize("port", [0, 65536, 100000])
def test_a_port_outside_1_to_65535_is_refused_by_the_database(acme, port):
    route = RouteFactory(tenant=acme)
    assert _violates(lambda: Route.objects.filter(pk=route.pk).update(ums_port=port))


@pytest.mark.parametrize("port", [1, 8443, 65535])
def test_ports_inside_the_range_are_stored(acme, port):
    route = RouteFactory(tenant=acme, ums_port=port)
    route.refresh_from_db()
    assert route.ums_port == port


def test_a_tenant_is_activated_only_once(acme):
    assert _violates(
        lambda: Activation.objects.create(tenant=acme, activated_by_email="x@acme.example")
    )


def test_a_route_cannot_use_another_tenants_identity_provider(acme, globex):
    foreign_idp = IdentityProviderFactory(tenant=globex)
    assert _violates(lambda: RouteFactory(tenant=acme, identity_provider=foreign_idp))
    route = RouteFactory(tenant=acme)
    assert _violates(
        lambda: Route.objects.filter(pk=route.pk).update(identity_provider=foreign_idp)
    )


def test_a_route_cannot_use_another_tenants_certificate_chain(acme, globex):
    foreign_chain = CertificateChainFactory(tenant=globex)
    assert _violates(lambda: RouteFactory(tenant=acme, certificate_chain=foreign_chain))
    route = RouteFactory(tenant=acme)
    assert _violates(
        lambda: Route.objects.filter(pk=route.pk).update(certificate_chain=foreign_chain)
    )


def test_a_route_may_use_its_own_tenants_idp_and_chain(acme):
    route = RouteFactory(tenant=acme)
    assert route.identity_provider.tenant == route.certificate_chain.tenant == acme


def test_a_member_is_listed_once_per_tenant_whatever_the_case(acme):
    Membership.objects.create(tenant=acme, email="dave@acme.example", role="obs_admin")
    assert _violates(
        lambda: Membership.objects.create(
            tenant=acme, email="dave@acme.example", role="super_admin"
        )
    )
    assert _violates(
        lambda: Membership.objects.create(
            tenant=acme, email="DAVE@acme.example", role="super_admin"
        )
    )


def test_a_role_outside_the_three_is_refused_by_the_database(acme):
    assert _violates(
        lambda: Membership.objects.create(tenant=acme, email="eve@acme.example", role="owner")
    )


def test_display_names_are_unique_within_a_tenant_but_not_across(acme, globex):
    RouteFactory(tenant=acme, display_name="Berlin UMS")
    RouteFactory(tenant=globex, display_name="Berlin UMS")
    assert _violates(lambda: RouteFactory(tenant=acme, display_name="Berlin UMS"))
