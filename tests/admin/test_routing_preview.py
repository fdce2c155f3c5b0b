"""The route list's routing preview answers as the device API would (same selector)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from onboarding.reasons import reason_text
from onboarding.selectors import REASON_NOT_MAPPED, REASON_ROUTE_DISABLED
from tests import factories

pytestmark = pytest.mark.django_db

PREVIEW = reverse("admin:onboarding_route_preview")


def _verified_route(tenant, domain: str, **route):
    factories.CompanyDomainFactory(tenant=tenant, domain=domain, status="verified")
    made = factories.RouteFactory(tenant=tenant, **route)
    factories.MappedDomainFactory(route=made, domain=domain)
    return made


def test_the_route_list_offers_the_preview(client, bob):
    client.force_login(bob)
    page = client.get(reverse("admin:onboarding_route_changelist")).content.decode()
    assert 'id="routing-preview"' in page and PREVIEW in page


def test_a_mapped_address_shows_route_idp_and_chain(client, acme, bob):
    route = _verified_route(acme, "acme.example", display_name="Berlin UMS")
    client.force_login(bob)

    response = client.get(PREVIEW, {"email": "Someone@Acme.example"}, HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert "Berlin UMS" in page and route.ums_hostname in page
    assert str(route.identity_provider) in page and str(route.certificate_chain) in page
    assert "<html" not in page  # a fragment for htmx


def test_an_unusable_route_gives_the_reason_in_words(client, acme, bob):
    _verified_route(acme, "acme.example", enabled=False)
    client.force_login(bob)

    page = client.get(PREVIEW, {"email": "x@acme.example"}).content.decode()

    assert escape(reason_text(REASON_ROUTE_DISABLED)) in page
    assert "<html" in page  # without htmx, a whole page


def test_another_companys_route_is_never_shown(client, globex, bob):
    route = _verified_route(globex, "globex.example", display_name="Globex Secret UMS")
    client.force_login(bob)

    page = client.get(PREVIEW, {"email": "x@globex.example"}).content.decode()

    assert "Globex Secret UMS" not in page and route.ums_hostname not in page
    assert reason_text(REASON_NOT_MAPPED) in page


def test_an_account_admin_may_not_preview(client, carol):
    client.force_login(carol)
    assert client.get(PREVIEW, {"email": "x@acme.example"}).status_code == 403


TRY = reverse("admin:onboarding_route_try")


def test_a_trial_onboarding_runs_the_real_device_flow_and_shows_what_the_device_got(
    client, bob, acme, acme_route
):
    from django.test import Client

    from tests.onboarding.conftest import confirm, idp_redirect, local_path

    client.force_login(bob)
    started = client.post(TRY, {"email": "alice@acme.example"})
    assert started.status_code == 302
    trial = started["Location"]
    page = client.get(trial)
    code = page.context["authorization"].display_user_code
    assert code in page.content.decode()
    assert "nobody has signed in" in client.post(trial).content.decode()

    # The user signs in with that code, in another browser, at the route's IdP.
    user = Client()
    assert user.get(local_path(page.context["verification_uri_complete"])).status_code == 200
    to_idp = confirm(user, code)
    user.get(local_path(idp_redirect(to_idp["Location"])))

    answer = client.post(trial).content.decode()
    assert "UMS01.Acme.example" in answer and "access_token" in answer


def test_a_trial_is_refused_for_an_address_no_route_of_the_company_serves(client, bob, globex):
    factories.CompanyDomainFactory(tenant=globex, domain="globex.example", status="verified")
    factories.MappedDomainFactory(
        route=factories.RouteFactory(tenant=globex), domain="globex.example"
    )
    client.force_login(bob)

    assert client.post(TRY, {"email": "x@globex.example"}).status_code == 403


def test_a_trial_belongs_to_the_session_that_started_it(client, bob, mallory, acme, acme_route):
    client.force_login(bob)
    trial = client.post(TRY, {"email": "alice@acme.example"})["Location"]
    client.force_login(mallory)

    assert client.get(trial).status_code == 404
