"""Rules the database itself enforces, so no entry point or race can break them.

Run on SQLite by ``make test`` and on PostgreSQL by CI (``DATABASE_URL``).
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from domains.models import CompanyDomain
from onboarding.models import MappedDomain, MappedUser, Route
from tenants.models import Activation, Membership
from tests.factories import (
    CertificateChainFactory,
    CompanyDomainFactory,
    IdentityProviderFactory,
    MappedDomainFactory,
    MappedUserFactory,
    RouteFactory,
    VerifiedDomainFactory,
)

pytestmark = pytest.mark.django_db


def _violates(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_an_e_mail_is_mapped_once_per_tenant_whatever_its_case(acme):
    MappedUserFactory(route=RouteFactory(tenant=acme), email="alice@example.com")
    other = RouteFactory(tenant=acme)
    assert _violates(
        lambda: MappedUser.objects.create(route=other, tenant=acme, email="alice@example.com")
    )
    # Stored lowercase is also enforced, so a mixed-case duplicate cannot slip past.
    assert _violates(
        lambda: MappedUser.objects.create(route=other, tenant=acme, email="ALICE@example.com")
    )


def test_a_domain_is_mapped_once_per_tenant(acme):
    MappedDomainFactory(route=RouteFactory(tenant=acme), domain="example.com")
    other = RouteFactory(tenant=acme)
    assert _violates(
        lambda: MappedDomain.objects.create(route=other, tenant=acme, domain="example.com")
    )
    assert _violates(
        lambda: MappedDomain.objects.create(route=other, tenant=acme, domain="Example.com")
    )


def test_two_tenants_may_hold_rows_for_one_address_since_routing_decides_by_domain(acme, globex):
    # Spec 2.1: a row saved before another company verified the domain stays (and no
    # longer routes), so the verifying company must be able to map the address too.
    MappedUserFactory(route=RouteFactory(tenant=acme), email="alice@example.com")
    other = RouteFactory(tenant=globex)
    assert not _violates(
        lambda: MappedUser.objects.create(route=other, tenant=globex, email="alice@example.com")
    )


@pytest.mark.parametrize("model", [MappedUser, MappedDomain])
def test_a_mapping_always_belongs_to_its_routes_tenant(acme, globex, model):
    route = RouteFactory(tenant=acme)
    value = {"email": "x@example.com"} if model is MappedUser else {"domain": "example.com"}
    assert _violates(lambda: model.objects.create(route=route, tenant=globex, **value))
    row = model.objects.create(route=route, tenant=acme, **value)
    assert _violates(lambda: model.objects.filter(pk=row.pk).update(tenant=globex))


def test_a_domain_is_verified_by_one_tenant_at_a_time(acme, globex):
    VerifiedDomainFactory(tenant=acme, domain="acme.example")
    assert _violates(lambda: VerifiedDomainFactory(tenant=globex, domain="acme.example"))
    # Pending claims of several tenants may coexist.
    CompanyDomainFactory(tenant=globex, domain="acme.example")


def test_a_company_domain_is_stored_lower_case(acme):
    assert _violates(lambda: CompanyDomain.objects.create(tenant=acme, domain="Acme.example"))


def test_an_issuer_and_client_id_pair_is_registered_once_across_tenants(acme, globex):
    IdentityProviderFactory(tenant=acme, issuer="https://idp.example", client_id="app")
    assert _violates(
        lambda: IdentityProviderFactory(
            tenant=globex, issuer="https://idp.example", client_id="app"
        )
    )
    IdentityProviderFactory(tenant=globex, issuer="https://idp.example", client_id="other-app")


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
