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
