"""The route admin writes through the route services: updated_at, no-op saves, actions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from certificates.models import CertificateChain
from onboarding import services
from onboarding.models import ROUTE_CHAIN_REPLACED, Route
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:onboarding_route_changelist")
LONG_AGO = timezone.now() - dt.timedelta(days=30)
NO_INLINES = {
    "mapped_users-TOTAL_FORMS": 0,
    "mapped_users-INITIAL_FORMS": 0,
    "mapped_domains-TOTAL_FORMS": 0,
    "mapped_domains-INITIAL_FORMS": 0,
}


def _last_touched_long_ago(*routes: Route) -> None:
    Route.objects.filter(pk__in=[r.pk for r in routes]).update(updated_at=LONG_AGO)


def _updated_at(route: Route) -> dt.datetime:
    return Route.objects.values_list("updated_at", flat=True).get(pk=route.pk)


def _change_form(route: Route, **extra):
    return {
        "display_name": route.display_name,
        "ums_hostname": route.ums_hostname,
        "ums_port": route.ums_port,
        "target": route.target,
        "identity_provider": route.identity_provider_id,
        "certificate_chain": route.certificate_chain_id,
        "enabled": "on" if route.enabled else "",
        **NO_INLINES,
        **extra,
    }


def _act(client, action: str, *routes: Route):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [r.pk for r in routes]},
        follow=True,
    )


def test_enabling_routes_marks_the_ones_it_changed_as_updated(client, bob, acme):
    off = factories.RouteFactory(tenant=acme, enabled=False)
    on = factories.RouteFactory(tenant=acme, enabled=True)
    _last_touched_long_ago(off, on)
    client.force_login(bob)

    response = _act(client, "enable_routes", off, on)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert [str(m) for m in response.context["messages"]] == ["2 route(s) enabled."]
    off.refresh_from_db()
    assert off.enabled and off.updated_at > LONG_AGO
    assert _updated_at(on) == LONG_AGO  # already enabled: nothing written


def test_disabling_routes_marks_them_as_updated(client, bob, acme):
    route = factories.RouteFactory(tenant=acme, enabled=True)
    _last_touched_long_ago(route)
    client.force_login(bob)

    response = _act(client, "disable_routes", route)

    assert [str(m) for m in response.context["messages"]] == ["1 route(s) disabled."]
    route.refresh_from_db()
    assert not route.enabled and route.updated_at > LONG_AGO


def test_the_enable_action_leaves_another_accounts_routes_alone(client, bob, acme, globex):
    foreign = factories.RouteFactory(tenant=globex, enabled=False)
    client.force_login(bob)

    _act(client, "enable_routes", foreign)

    foreign.refresh_from_db()
    assert not foreign.enabled


def test_saving_a_changed_route_writes_it_with_updated_at(client, bob, acme):
    route = factories.RouteFactory(tenant=acme, ums_port=8443)
    _last_touched_long_ago(route)
    client.force_login(bob)

    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]),
        _change_form(route, ums_port=9443),
    )

    assert response.status_code == 302
    route.refresh_from_db()
    assert route.ums_port == 9443 and route.updated_at > LONG_AGO


def test_saving_a_route_unchanged_writes_nothing(client, bob, acme):
    route = factories.RouteFactory(tenant=acme)
    _last_touched_long_ago(route)
    client.force_login(bob)

    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]), _change_form(route)
    )

    assert response.status_code == 302
    assert _updated_at(route) == LONG_AGO


def test_choosing_another_stored_chain_saves_it(client, bob, acme):
    route = factories.RouteFactory(tenant=acme)
    other = factories.CertificateChainFactory(tenant=acme, name="Munich chain")
    client.force_login(bob)

    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]),
        _change_form(route, certificate_chain=other.pk),
    )

    assert response.status_code == 302
    route.refresh_from_db()
    assert route.certificate_chain == other


def test_a_route_added_in_the_admin_keeps_its_mapped_users(client, bob, acme):
    idp = factories.IdentityProviderFactory(tenant=acme)
    chain = factories.CertificateChainFactory(tenant=acme)
    client.force_login(bob)

    response = client.post(
        reverse("admin:onboarding_route_add"),
        {
            "tenant": acme.pk,
            "display_name": "Berlin UMS",
            "ums_hostname": "ums.acme.example",
            "ums_port": 8443,
            "target": "ums",
            "identity_provider": idp.pk,
            "certificate_chain": chain.pk,
            "enabled": "on",
            **NO_INLINES,
            "mapped_users-TOTAL_FORMS": 1,
            "mapped_users-0-email": "Dave@Acme.example",
        },
    )

    route = Route.objects.get()
    assert response.status_code == 302
    assert response.url == CHANGELIST
    assert [u.email for u in route.mapped_users.all()] == ["dave@acme.example"]


def test_a_route_update_refuses_a_replaced_chain(acme):
    route = factories.RouteFactory(tenant=acme)
    replaced = factories.CertificateChainFactory(tenant=acme)
    CertificateChain.objects.filter(pk=replaced.pk).update(replaced_at=timezone.now())
    replaced.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        services.route_update(route=route, data={"certificate_chain": replaced})

    assert refused.value.message_dict == {"certificate_chain": [ROUTE_CHAIN_REPLACED]}
