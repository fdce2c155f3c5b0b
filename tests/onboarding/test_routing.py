"""route_for_email: the one routing rule every path uses."""

from __future__ import annotations

import pytest

from onboarding.selectors import route_for_email, route_lookup
from tenants.models import Activation
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def domain_route(acme):
    route = factories.RouteFactory(tenant=acme, display_name="Domain route")
    factories.MappedDomainFactory(route=route, domain="acme.example")
    return route


@pytest.fixture
def user_route(acme, domain_route):
    route = factories.RouteFactory(
        tenant=acme,
        display_name="User route",
        identity_provider=domain_route.identity_provider,
        certificate_chain=domain_route.certificate_chain,
    )
    factories.MappedUserFactory(route=route, email="alice@acme.example")
    return route


def test_a_user_mapping_wins_over_a_domain_mapping(user_route, domain_route):
    assert route_for_email("alice@acme.example") == user_route
    assert route_for_email("bob@acme.example") == domain_route


def test_addresses_are_compared_case_insensitively(user_route, domain_route):
    assert route_for_email("ALICE@Acme.Example") == user_route
    assert route_for_email("Bob@ACME.EXAMPLE") == domain_route


def test_idn_domains_match_in_their_a_label_form(acme):
    route = factories.RouteFactory(tenant=acme)
    factories.MappedDomainFactory(route=route, domain="xn--bcher-kva.example")
    assert route_for_email("anna@bücher.example") == route


def test_a_disabled_user_route_does_not_fall_back_to_the_domain(user_route, domain_route):
    user_route.enabled = False
    user_route.save()
    lookup = route_lookup("alice@acme.example")
    assert (lookup.route, lookup.matched, lookup.reason) == (None, user_route, "route_disabled")


def test_a_tenant_that_is_not_activated_routes_nobody(domain_route):
    Activation.objects.filter(tenant=domain_route.tenant).delete()
    assert route_lookup("bob@acme.example").reason == "tenant_not_activated"


@pytest.mark.parametrize(
    "email", ["", "nobody", "@acme.example", "a b@acme.example", None, 5, ["x"]]
)
def test_invalid_addresses_route_nowhere(domain_route, email):
    assert route_lookup(email).reason == "invalid_email"


def test_unmapped_addresses_route_nowhere(domain_route):
    assert route_lookup("x@sub.acme.example").reason == "not_mapped"


def test_routing_takes_one_query_whatever_the_answer(
    user_route, domain_route, django_assert_num_queries
):
    for n in range(20):
        factories.MappedUserFactory(route=domain_route, email=f"u{n}@acme.example")
    for email in ("alice@acme.example", "bob@acme.example", "x@nowhere.example"):
        with django_assert_num_queries(1):
            route = route_for_email(email)
            if route is not None:
                # What the device's answer and the events need comes with it.
                assert route.certificate_chain.pem.startswith("-----BEGIN CERTIFICATE-----")
                assert route.tenant.slug == "acme" and route.tenant.name


def test_a_routed_routes_timestamps_load_when_read(user_route, django_assert_num_queries):
    """The device path does not read them: they are left out of routing's statement."""
    route = route_for_email("alice@acme.example")
    with django_assert_num_queries(2):  # Django loads a deferred field when first read
        assert (route.created_at, route.updated_at) == (
            user_route.created_at,
            user_route.updated_at,
        )
