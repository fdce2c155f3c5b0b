"""Screenshots of the German pages for docs/i18n.md: the admin's home page and the device
pages (code entry, confirmation, result), taken in Debian's chromium with a German browser.

Skipped unless ``SCREENSHOTS_DIR`` names where to write them; ``make screenshots`` writes
docs/screenshots/. Each page is also checked to be the German one, so a screenshot of an
English page is never taken silently.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
import requests
from django.utils import timezone

from identity.models import IdentityProvider
from onboarding.models import OnboardingEvent
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: The password tests/factories.py gives every user.
PASSWORD = "correct horse battery staple"


@pytest.fixture
def shots() -> Path:
    folder = os.environ.get("SCREENSHOTS_DIR")
    if not folder:
        pytest.skip("set SCREENSHOTS_DIR (make screenshots) to take the German screenshots")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def german(browser: Any) -> Any:
    """A page of a browser that asks for German (Accept-Language: de-DE)."""
    context = browser.new_context(locale="de-DE", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _save(page: Any, shots: Path, name: str) -> None:
    assert page.locator("html").get_attribute("lang") == "de"
    page.screenshot(path=str(shots / name), full_page=True)


def _events_of_a_month(route: Any) -> None:
    """Onboardings and failures spread over the last 30 days, for the home page's chart."""
    now = timezone.now()
    for day in range(28):
        for _ in range(day % 4 + 1):
            factories.OnboardingEventFactory(
                tenant=route.tenant, route=route, action="token", result="success", reason=""
            )
        if day % 3 == 0:
            factories.OnboardingEventFactory(tenant=route.tenant, reason="not_mapped")
        if day % 7 == 0:
            factories.OnboardingEventFactory(tenant=route.tenant, reason="expired")
        OnboardingEvent.objects.filter(created_at__gt=now - dt.timedelta(minutes=5)).update(
            created_at=now - dt.timedelta(days=day, hours=2)
        )


def test_the_home_page_in_german(german, live_server, shots, acme, alice):
    route = factories.RouteFactory(
        tenant=acme,
        display_name="Berlin UMS",
        identity_provider=factories.IdentityProviderFactory(tenant=acme, name="Acme Entra ID"),
    )
    tested = timezone.now()  # "Test discovery" passed: the checklist's second step
    IdentityProvider.objects.update(discovery_tested_at=tested, discovery_passed_at=tested)
    factories.MappedDomainFactory(route=route, domain="acme.example")
    _events_of_a_month(route)

    german.goto(f"{live_server.url}/admin/login/")
    german.fill("#id_username", "alice")
    german.fill("#id_password", PASSWORD)
    german.click("#login-form [type=submit]")
    german.wait_for_selector("#getting-started")
    german.wait_for_timeout(800)  # the chart's animation

    assert "Erste Schritte mit Acme Corp" in german.inner_text("body")
    _save(german, shots, "admin-home-de.png")


def test_the_device_pages_in_german(german, live_server, shots, settings, acme_route):
    settings.BASE_URL = live_server.url
    german.set_viewport_size({"width": 900, "height": 760})
    started = requests.post(
        f"{live_server.url}/api/v1/device/authorize",
        json={"email": "alice@acme.example", "device": {"hostname": "igel-berlin-7"}},
        timeout=10,
    ).json()

    german.goto(started["verification_uri"])
    assert "Verbinden Sie Ihr IGEL OS-Gerät" in german.inner_text("body")
    _save(german, shots, "device-code-de.png")

    german.get_by_label("Code").fill(started["user_code"])
    german.get_by_role("button", name="Weiter").click()
    assert "Ist das Ihr Gerät?" in german.inner_text("body")
    _save(german, shots, "device-confirm-de.png")

    german.get_by_role("button", name="Ja, das ist mein Gerät").click()
    german.wait_for_url(f"{live_server.url}/oidc/callback/**")
    assert "Ihr Gerät wird verbunden" in german.inner_text("body")
    _save(german, shots, "device-result-de.png")
