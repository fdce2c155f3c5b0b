"""A user onboards a device in a real browser: code page, confirmation, IdP, callback."""

from __future__ import annotations

import pytest
import requests

from onboarding.models import OnboardingEvent
from tests.onboarding.conftest import GRANT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_user_signs_in_in_a_browser_and_the_device_receives_its_route(
    page, live_server, settings, acme_route
):
    settings.BASE_URL = live_server.url
    started = requests.post(
        f"{live_server.url}/api/v1/device/authorize",
        json={"email": "alice@acme.example", "device": {"hostname": "igel-berlin-7"}},
        timeout=10,
    ).json()
    assert started["verification_uri"] == f"{live_server.url}/device"

    page.goto(started["verification_uri"])
    page.get_by_label("Code").fill(started["user_code"].replace("-", "").lower())
    page.get_by_role("button", name="Continue").click()
    assert "igel-berlin-7" in page.content()
    assert "Acme" in page.content()
    page.get_by_role("button", name="Yes, this is my device").click()
    # The loopback IdP signs alice in and sends the browser back to /oidc/callback/.
    page.wait_for_url(f"{live_server.url}/oidc/callback/**")
    assert "return to your device" in page.inner_text("body").lower()

    token = requests.post(
        f"{live_server.url}/api/v1/device/token",
        json={"grant_type": GRANT, "device_code": started["device_code"]},
        timeout=10,
    )
    assert token.status_code == 200, token.text
    onboarding = token.json()["onboarding"]
    assert onboarding["ums_hostname"] == "UMS01.Acme.example"
    assert onboarding["user"] == "alice@acme.example"
    assert OnboardingEvent.objects.filter(action="sign_in", result="success").exists()
