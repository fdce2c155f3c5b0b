"""The vendor guide's walk as an obs_admin, on a laptop and on a phone (issue 13).

Every page of the walk must fit the window (no horizontal scroll), answer without any
4xx/5xx (page or sub-resource) and log no console error; a full-page screenshot of each
step goes to build/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from identity.models import IdentityProvider
from onboarding.models import Route
from tenants.models import Activation
from tests import factories, pki

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "build" / "screenshots"
VIEWPORTS = {"laptop": (1366, 900), "phone": (390, 844)}
PASSWORD = "correct horse battery staple"


class Walk:
    """One browser page that checks and photographs every step it is taken to."""

    def __init__(self, page, base: str, name: str) -> None:
        self.page, self.base, self.name, self.step = page, base, name, 0
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} {response.url}")

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def check(self, label: str) -> None:
        """No horizontal scroll, nothing failed so far, and a screenshot."""
        self.page.wait_for_load_state("networkidle")
        self.step += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(
            path=str(SCREENSHOTS / f"{self.name}-{self.step:02d}-{label}.png"), full_page=True
        )
        scroll, client = self.page.evaluate(
            "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
        )
        assert scroll <= client, f"{label}: the page scrolls sideways ({scroll} > {client} px)"
        assert not self.problems, f"{label}: {self.problems}"


@pytest.fixture
def walk_setup(idp, tmp_path):
    tenant = factories.TenantFactory(slug="initech", name="Initech")
    user = factories.UserFactory(username="olivia", email="olivia@initech.example")
    factories.MembershipFactory(tenant=tenant, user=user, email=user.email, role="obs_admin")
    chain_file = tmp_path / "ums-chain.pem"
    chain_file.write_text(pki.pem_bundle(pki.chain()))
    return tenant, chain_file


@pytest.mark.parametrize("viewport", list(VIEWPORTS), ids=list(VIEWPORTS))
def test_an_obs_admin_follows_the_vendor_guide_without_a_dead_end(
    browser, live_server, settings, idp, walk_setup, viewport
):
    settings.BASE_URL = live_server.url
    tenant, chain_file = walk_setup
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    walk = Walk(page, live_server.url, viewport)

    walk.goto("/admin/login/")
    walk.check("sign-in")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")

    # 1. Activating the Onboarding Service: where staff land, with the button.
    walk.check("home-not-activated")
    page.click("#activate-button")
    walk.check("home-activated")
    assert Activation.objects.filter(tenant=tenant).exists()

    # 2. Configuring the identity provider, then testing its discovery.
    walk.goto("/admin/identity/identityprovider/add/")
    page.select_option("#id_kind", "oidc")
    walk.check("identity-provider-form")
    page.fill("#id_name", "Initech OpenID")
    page.fill("#id_issuer", idp.issuer)
    page.fill("#id_client_id", idp.client_id)
    page.fill("#id_client_secret", idp.client_secret)
    page.click("[name=_continue]")
    walk.check("identity-provider-saved")
    page.click("[name=identity_identityprovider_save_and_test_discovery]")
    walk.check("identity-provider-tested")
    assert IdentityProvider.objects.get(tenant=tenant).discovery_ok

    # 3. The root certificate chain of the UMS.
    walk.goto("/admin/certificates/certificatechain/add/")
    page.fill("#id_name", "Berlin UMS chain")
    page.set_input_files("#id_upload", str(chain_file))
    walk.check("chain-form")
    page.click("[name=_save]")
    walk.check("chain-list")

    # 4. The record set for the OBS routing, with a mapped user and domain.
    walk.goto("/admin/onboarding/route/add/")
    page.fill("#id_display_name", "Berlin UMS")
    page.fill("#id_ums_hostname", "ums01.initech.example")
    page.select_option(
        "#id_identity_provider", label="Initech OpenID (Other OpenID Connect provider)"
    )
    page.select_option("#id_certificate_chain", label="Berlin UMS chain")
    page.fill("#id_mapped_users-0-email", "peter@initech.example")
    page.fill("#id_mapped_domains-0-domain", "initech.example")
    walk.check("route-form")
    page.click("[name=_save]")
    walk.check("route-list")
    route = Route.objects.get(tenant=tenant)
    assert route.mapped_users.get().email == "peter@initech.example"

    # The route page says the domain must be proven; the domain page shows the record.
    walk.goto(f"/admin/onboarding/route/{route.pk}/change/")
    walk.check("route-page")
    walk.goto("/admin/domains/companydomain/")
    walk.check("company-domains")

    # The routing preview explains why the address does not route yet.
    walk.goto("/admin/onboarding/route/")
    page.fill("#preview-email", "peter@initech.example")
    page.click("#routing-preview [type=submit]")
    page.wait_for_selector("#preview-result")
    assert "not verified" in page.inner_text("#preview-result")
    walk.check("routing-preview")

    walk.goto("/admin/onboarding/onboardingevent/")
    walk.check("onboarding-events")
    walk.goto("/admin/")
    walk.check("home-checklist")
    assert "4 of 6 steps done" in page.content()
    context.close()
