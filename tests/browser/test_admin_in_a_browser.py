"""The customer's path through the admin, in a real browser (vendor guide's steps)."""

from __future__ import annotations

import pytest

from onboarding.models import Route
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form [type=submit]")


def test_an_obs_admin_creates_a_route_with_a_mapped_user_and_domain(page, live_server):
    tenant = factories.ActiveTenantFactory(slug="acme", name="Acme Corp")
    user = factories.UserFactory(username="bob")
    factories.MembershipFactory(tenant=tenant, user=user, email=user.email, role="obs_admin")
    factories.IdentityProviderFactory(tenant=tenant, name="Acme Entra")
    factories.CertificateChainFactory(tenant=tenant, name="Berlin chain")

    _login(page, live_server, "bob", "correct horse battery staple")
    page.goto(f"{live_server.url}/admin/onboarding/route/add/")
    page.select_option("#id_tenant", label="Acme Corp")
    page.fill("#id_display_name", "Berlin UMS")
    page.fill("#id_ums_hostname", "UMS01.Acme.example")
    page.select_option("#id_identity_provider", label="Acme Entra (Other OpenID Connect provider)")
    page.select_option("#id_certificate_chain", label="Berlin chain")
    page.fill("#id_mapped_users-0-email", "Alice@Acme.example")
    page.fill("#id_mapped_domains-0-domain", "acme.example")
    # The save answers with a redirect: read the page it lands on, not the form.
    with page.expect_navigation(url="**/admin/onboarding/route/"):
        page.click("[name=_save]")

    assert "was added successfully" in page.content()
    route = Route.objects.get(display_name="Berlin UMS")
    assert route.ums_port == 8443
    assert route.mapped_users.get().email == "alice@acme.example"


def test_a_member_of_another_company_gets_not_found_for_acmes_route(page, live_server):
    acme = factories.ActiveTenantFactory(slug="acme", name="Acme Corp")
    route = factories.RouteFactory(tenant=acme)
    globex = factories.ActiveTenantFactory(slug="globex", name="Globex")
    mallory = factories.UserFactory(username="mallory")
    factories.MembershipFactory(
        tenant=globex, user=mallory, email=mallory.email, role="super_admin"
    )

    _login(page, live_server, "mallory", "correct horse battery staple")
    response = page.goto(f"{live_server.url}/admin/onboarding/route/{route.pk}/change/")
    assert response.status == 404
