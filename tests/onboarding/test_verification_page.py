"""The verification page: entering the code, what it shows, attempts limit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from onboarding.models import DeviceAuthorization
from onboarding.views import CODE_INVALID

pytestmark = pytest.mark.django_db


def test_the_page_asks_for_the_code(client):
    page = client.get("/device")
    assert page.status_code == 200
    assert b'name="user_code"' in page.content
    assert b"<script" not in page.content


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "{nodash}", " {lower} "])
def test_the_code_is_accepted_in_any_case_with_or_without_dash(client, device, acme_route, typed):
    code = device.authorize(device={"hostname": "ws-7", "model": "UD7"}).json()["user_code"]
    value = typed.format(code=code, lower=code.lower(), nodash=code.replace("-", ""))
    page = client.get("/device", {"user_code": value})
    assert page.status_code == 200
    assert b"Is this your device?" in page.content
    for text in (b"ws-7", b"UD7", b"Acme Corp", b"alice@acme.example", code.encode()):
        assert text in page.content


def test_a_wrong_or_expired_code_is_refused(client, device, acme_route):
    code = device.authorize().json()["user_code"]
    assert CODE_INVALID.encode() in client.get("/device", {"user_code": "BCDF-GHJK"}).content
    DeviceAuthorization.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    page = client.get("/device", {"user_code": code})
    assert page.status_code == 400
    assert CODE_INVALID.encode() in page.content


def test_device_data_is_escaped(client, device, acme_route):
    code = device.authorize(device={"hostname": "<script>alert(1)</script>"}).json()["user_code"]
    page = client.get("/device", {"user_code": code})
    assert b"<script>alert" not in page.content
    assert b"&lt;script&gt;" in page.content


def test_wrong_codes_are_rate_limited_per_address(client, device, acme_route, settings):
    settings.ONBOARDING_RATE_LIMITS = {"user_code_address": (3, 600)}
    code = device.authorize().json()["user_code"]
    for _ in range(3):
        assert client.get("/device", {"user_code": "BCDF-GHJK"}).status_code == 400
    blocked = client.get("/device", {"user_code": code})  # even the right code, now
    assert blocked.status_code == 429
    assert b"Too many wrong codes" in blocked.content
    assert client.get("/device", {"user_code": code}, REMOTE_ADDR="192.0.2.1").status_code == 200


def test_right_codes_do_not_count_against_the_limit(client, device, acme_route, settings):
    settings.ONBOARDING_RATE_LIMITS = {"user_code_address": (1, 600)}
    code = device.authorize().json()["user_code"]
    for _ in range(5):
        assert client.get("/device", {"user_code": code}).status_code == 200


def test_a_denied_code_cannot_be_used_again(client, device, acme_route):
    code = device.authorize().json()["user_code"]
    client.post("/device/confirm", {"user_code": code, "decision": "deny"})
    assert client.get("/device", {"user_code": code}).status_code == 400
    assert (
        client.post("/device/confirm", {"user_code": code, "decision": "approve"}).status_code
        == 400
    )


def test_confirming_sends_the_browser_to_the_routes_idp(client, device, acme_route, idp):
    code = device.authorize().json()["user_code"]
    response = client.post("/device/confirm", {"user_code": code, "decision": "approve"})
    assert response.status_code == 302
    assert response["Location"].startswith(idp.url("/authorize?"))
    assert "login_hint=alice%40acme.example" in response["Location"]
    stored = DeviceAuthorization.objects.get()
    assert stored.oidc_state_hash and stored.oidc_identity_provider == acme_route.identity_provider
    assert stored.oidc_state_hash not in response["Location"]  # only the hash is stored


def test_an_idp_that_cannot_be_reached_keeps_the_device_waiting(client, device, acme_route, idp):
    code = device.authorize().json()["user_code"]
    idp.down = True
    page = client.post("/device/confirm", {"user_code": code, "decision": "approve"})
    assert page.status_code == 503
    assert DeviceAuthorization.objects.get().state == "pending"


def test_the_confirm_page_only_accepts_post(client):
    assert client.get("/device/confirm").status_code == 405


def test_a_huge_confirmation_body_is_not_read(client):
    response = client.post(
        "/device/confirm",
        data="x",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH="70000",
    )
    assert response.status_code == 413
