"""The device endpoints' answers: shapes, every error code, malformed and hostile input."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from onboarding import api
from onboarding.models import DeviceAuthorization, OnboardingEvent
from onboarding.selectors import USER_CODE_ALPHABET, hash_secret
from tenants.models import Activation
from tests.onboarding.conftest import AUTHORIZE, GRANT, TOKEN, post_json, update_authorization

pytestmark = pytest.mark.django_db

NOT_ROUTABLE = {"error": "invalid_request", "error_description": api.NOT_ROUTABLE}


# --- authorize ------------------------------------------------------------------------


def test_authorize_answers_the_rfc_8628_fields(device, acme_route, settings):
    response = device.authorize()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert re.fullmatch(
        f"[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}", body["user_code"]
    )
    assert body["verification_uri"] == settings.BASE_URL + "/device"
    assert (
        body["verification_uri_complete"]
        == f"{settings.BASE_URL}/device?user_code={body['user_code']}"
    )
    assert (body["expires_in"], body["interval"]) == (600, 5)
    assert len(body["device_code"]) >= 43


def test_only_a_hash_of_the_device_code_is_stored(device, acme_route):
    code = device.authorize().json()["device_code"]
    stored = DeviceAuthorization.objects.get()
    assert stored.device_code_hash == hash_secret(code)
    assert code not in json.dumps(list(DeviceAuthorization.objects.values()), default=str)


def test_expiry_and_interval_come_from_settings(device, acme_route, settings):
    settings.DEVICE_CODE_EXPIRES_IN = 300
    settings.DEVICE_CODE_INTERVAL = 7
    body = device.authorize().json()
    assert (body["expires_in"], body["interval"]) == (300, 7)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_form_encoded_request_is_accepted(client, acme_route, encoding):
    form = {
        "email": "Alice@ACME.example",
        "device_hostname": "ws-1",
        "device_serial": "S1",
        "structure_tag": "x",
    }
    if encoding == "urlencoded":
        response = client.post(
            AUTHORIZE, urlencode(form), content_type="application/x-www-form-urlencoded"
        )
    else:
        response = client.post(AUTHORIZE, form)
    assert response.status_code == 200
    stored = DeviceAuthorization.objects.get()
    assert (stored.email, stored.device_hostname, stored.device_serial, stored.structure_tag) == (
        "alice@acme.example",
        "ws-1",
        "S1",
        "x",
    )


@pytest.mark.parametrize(
    "email", ["nobody@unknown.example", "not-an-email", "a@b", "x" * 3000 + "@acme.example"]
)
def test_unknown_emails_all_get_the_same_answer(device, acme_route, email):
    response = device.authorize(email)
    assert response.status_code == 400
    assert response.json() == NOT_ROUTABLE


def test_a_disabled_route_and_an_inactive_tenant_look_like_unknown_emails(device, acme_route):
    acme_route.enabled = False
    acme_route.save()
    disabled = device.authorize()
    acme_route.enabled = True
    acme_route.save()
    Activation.objects.filter(tenant=acme_route.tenant).delete()
    inactive = device.authorize()
    assert disabled.json() == inactive.json() == NOT_ROUTABLE
    reasons = list(
        OnboardingEvent.objects.order_by("created_at").values_list("reason", "tenant__slug")
    )
    assert reasons == [("route_disabled", "acme"), ("tenant_not_activated", "acme")]


def test_an_unknown_email_is_recorded_without_a_tenant(device, acme_route):
    device.authorize("nobody@unknown.example", device={"hostname": "ws-9"})
    event = OnboardingEvent.objects.get()
    assert (event.action, event.result, event.reason, event.tenant, event.device_hostname) == (
        "authorize",
        "failure",
        "not_mapped",
        None,
        "ws-9",
    )
    assert event.client_address == "127.0.0.1"


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({}, "email: This field is required."),
        ({"email": None}, "email: This field may not be null."),
        ({"email": 42}, "email: Not a valid string."),
        ({"email": ["alice@acme.example"]}, "email: Not a valid string."),
        ({"email": ""}, "email: This field may not be blank."),
        ({"email": "alice@acme.example", "device": "ws-1"}, None),
        ({"email": "alice@acme.example", "device": ["ws-1"]}, None),
        ({"email": "alice@acme.example", "device": {"hostname": "h" * 129}}, None),
        ({"email": "alice@acme.example", "device": {"serial": 12}}, None),
        ({"email": "alice@acme.example", "device": {"model": "a\x00b"}}, None),
        ({"email": "alice@acme.example", "structure_tag": "t" * 129}, None),
        ({"email": "alice@acme.example", "structure_tag": {"a": 1}}, None),
    ],
)
def test_malformed_fields_are_invalid_requests(client, acme_route, body, description):
    response = post_json(client, AUTHORIZE, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    if description:
        assert response.json()["error_description"] == description
    assert DeviceAuthorization.objects.count() == 0


def test_device_fields_of_exactly_128_characters_are_fine(device, acme_route):
    assert (
        device.authorize(device={"hostname": "h" * 128}, structure_tag="s" * 128).status_code == 200
    )


def test_a_lone_surrogate_is_refused_not_a_server_error(client, acme_route):
    raw = '{"email": "alice@acme.example", "device": {"hostname": "\\ud800"}}'
    response = client.post(AUTHORIZE, data=raw, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("raw", "content_type", "description"),
    [
        ("{not json", "application/json", api.BODY_NOT_JSON),
        ("[1, 2]", "application/json", api.BODY_NOT_OBJECT),
        ("null", "application/json", api.BODY_NOT_OBJECT),
        ('"alice@acme.example"', "application/json", api.BODY_NOT_OBJECT),
        ("[" * 30000 + "]" * 30000, "application/json", None),
        ("1" * 60000, "application/json", None),
        ("\xff\xfe garbage", "application/json", api.BODY_NOT_JSON),
        ("email=alice@acme.example", "text/plain", api.BODY_CONTENT_TYPE),
        ("<xml/>", "application/xml", api.BODY_CONTENT_TYPE),
        ("a&" * 5000, "application/x-www-form-urlencoded", api.BODY_BAD_FORM),
        ("email=x", "application/x-www-form-urlencoded; charset=nonsense", api.BODY_BAD_FORM),
        ("--x\r\nbroken", "multipart/form-data; boundary=x", None),
        ("--x\r\nbroken", "multipart/form-data", None),
    ],
)
def test_malformed_bodies_are_invalid_requests(client, acme_route, raw, content_type, description):
    # generic(): the test client would otherwise re-encode the body with its charset.
    response = client.generic("POST", AUTHORIZE, raw.encode("latin-1"), content_type=content_type)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    if description:
        assert response.json()["error_description"] == description


def test_an_empty_body_is_an_invalid_request(client, acme_route):
    response = client.post(AUTHORIZE)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "email: This field is required.",
    }


def test_a_body_over_64_kib_is_refused_unread(client, acme_route):
    response = client.post(
        AUTHORIZE, data="x", content_type="application/json", CONTENT_LENGTH=str(64 * 1024 + 1)
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": "invalid_request",
        "error_description": api.BODY_TOO_LARGE.format(limit=65536),
    }


def test_a_long_body_is_refused_while_reading(client, acme_route):
    body = json.dumps({"email": "alice@acme.example", "pad": "x" * 70000})
    response = client.post(AUTHORIZE, data=body, content_type="application/json")
    assert response.status_code == 413


@pytest.mark.parametrize("path", [AUTHORIZE, TOKEN, "/api/v1/onboarding/lookup"])
def test_other_methods_get_a_json_405(client, path):
    response = client.get(path)
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"
    assert "POST" in response["Allow"]


def test_unknown_api_addresses_get_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "error_description": api.NOT_FOUND}


def test_an_api_404_and_500_are_json_with_debug_off(rf):
    request = rf.get("/api/v1/x")
    assert json.loads(api.handler404(request).content)["error"] == "not_found"
    assert json.loads(api.handler500(request).content) == {
        "error": "server_error",
        "error_description": api.SERVER_ERROR,
    }
    assert b"<" in api.handler404(rf.get("/elsewhere"), None).content  # HTML elsewhere


def test_an_unexpected_error_is_a_json_500_without_details(client, acme_route, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("onboarding.device_flow.device_authorization_create", boom)
    response = post_json(client, AUTHORIZE, {"email": "alice@acme.example"})
    assert response.status_code == 500
    assert response.json() == {"error": "server_error", "error_description": api.SERVER_ERROR}


def test_html_cannot_be_asked_for(client, acme_route):
    response = post_json(client, AUTHORIZE, {}, HTTP_ACCEPT="text/html")
    assert response["Content-Type"] == "application/json"


# --- token ----------------------------------------------------------------------------


def _token_error(client, body):
    response = post_json(client, TOKEN, body)
    assert response.status_code == 400
    return response.json()


def test_token_errors_for_bad_input(client, acme_route):
    assert _token_error(client, {"device_code": "x"})["error"] == "invalid_request"
    assert _token_error(client, {"grant_type": GRANT})["error"] == "invalid_request"
    assert (
        _token_error(client, {"grant_type": GRANT, "device_code": 5})["error"] == "invalid_request"
    )
    assert _token_error(client, {"grant_type": 5, "device_code": "x"})["error"] == "invalid_request"
    assert _token_error(client, {"grant_type": "authorization_code", "device_code": "x"}) == {
        "error": "unsupported_grant_type",
        "error_description": api.UNSUPPORTED_GRANT,
    }
    assert _token_error(client, {"grant_type": GRANT, "device_code": "unknown"}) == {
        "error": "invalid_grant",
        "error_description": api.UNKNOWN_DEVICE_CODE,
    }


def test_token_accepts_a_form_body(client, device, acme_route):
    device.authorize()
    body = urlencode({"grant_type": GRANT, "device_code": device.device_code})
    response = client.post(TOKEN, body, content_type="application/x-www-form-urlencoded")
    assert response.json()["error"] == "authorization_pending"


def test_polling_too_fast_slows_that_device_code_down(device, acme_route, monkeypatch):
    real_time = time.time

    def later(seconds: float) -> None:
        monkeypatch.setattr(time, "time", lambda: real_time() + seconds)

    device.authorize()
    assert device.poll().json()["error"] == "authorization_pending"
    fast = device.poll().json()
    assert fast == {
        "error": "slow_down",
        "error_description": api.TOKEN_DESCRIPTIONS["slow_down"].format(interval=10),
    }
    # Polling at the old interval is still too fast now.
    later(6)
    assert device.poll().json() == {
        "error": "slow_down",
        "error_description": api.TOKEN_DESCRIPTIONS["slow_down"].format(interval=15),
    }
    later(6 + 15)
    assert device.poll().json()["error"] == "authorization_pending"


def test_a_pending_poll_never_touches_the_database(device, acme_route, django_assert_num_queries):
    device.authorize()
    with django_assert_num_queries(0):
        assert device.poll().json()["error"] == "authorization_pending"
        assert device.poll().json()["error"] == "slow_down"


def test_a_pending_poll_after_the_cache_forgot_it_reads_the_database_once(
    device, acme_route, django_assert_num_queries
):
    device.authorize()
    update_authorization()  # nothing changed, but the cache is empty (evicted, flushed)
    with django_assert_num_queries(2):  # read, UPDATE last poll
        assert device.poll().json()["error"] == "authorization_pending"
    with django_assert_num_queries(0):
        assert device.poll().json()["error"] == "slow_down"


def test_a_cached_pending_is_rechecked_with_a_read_and_no_write(
    device, acme_route, monkeypatch, django_assert_num_queries
):
    from onboarding import pollstate

    real_time = time.time
    device.authorize()
    assert device.poll().json()["error"] == "authorization_pending"
    monkeypatch.setattr(time, "time", lambda: real_time() + pollstate.RECHECK_SECONDS + 1)
    with django_assert_num_queries(1):  # the row is read again; nothing is written
        assert device.poll().json()["error"] == "authorization_pending"
    monkeypatch.setattr(time, "time", lambda: real_time() + pollstate.RECHECK_SECONDS + 12)
    with django_assert_num_queries(0):  # confirmed: trusted again
        assert device.poll().json()["error"] == "authorization_pending"


def test_a_decision_the_cache_missed_is_found_by_the_recheck(device, acme_route, monkeypatch):
    from onboarding import pollstate

    real_time = time.time
    device.authorize()
    assert device.poll().json()["error"] == "authorization_pending"
    # The row is denied behind the cache's back (a lost "decided" mark): the cached
    # "pending" is trusted until the recheck, which finds the decision.
    DeviceAuthorization.objects.update(state="denied", failure_reason="sign_in_cancelled")
    monkeypatch.setattr(time, "time", lambda: real_time() + 6)
    assert device.poll().json()["error"] == "authorization_pending"
    monkeypatch.setattr(time, "time", lambda: real_time() + pollstate.RECHECK_SECONDS + 1)
    assert device.poll().json()["error"] == "access_denied"


def test_a_too_early_poll_at_recheck_time_is_slowed_down_without_a_query(
    device, acme_route, monkeypatch, django_assert_num_queries
):
    from onboarding import pollstate

    real_time = time.time
    device.authorize()
    monkeypatch.setattr(time, "time", lambda: real_time() + pollstate.RECHECK_SECONDS + 1)
    assert device.poll().json()["error"] == "authorization_pending"
    with django_assert_num_queries(0):
        assert device.poll().json()["error"] == "slow_down"


def test_slow_down_concerns_only_that_device_code(client, acme_route):
    from tests.onboarding.conftest import Device

    first, second = Device(client), Device(client)
    first.authorize()
    second.authorize()
    first.poll()
    assert first.poll().json()["error"] == "slow_down"
    assert second.poll().json()["error"] == "authorization_pending"


def test_an_expired_device_code_answers_expired_token(device, acme_route):
    device.authorize()
    update_authorization(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert device.poll().json()["error"] == "expired_token"
    assert OnboardingEvent.objects.filter(action="token", reason="expired").exists()


def test_a_denied_device_code_answers_access_denied(device, acme_route):
    device.authorize()
    update_authorization(state="denied", failure_reason="sign_in_cancelled")
    assert device.poll().json() == {
        "error": "access_denied",
        "error_description": api.TOKEN_DESCRIPTIONS["access_denied"],
    }


def test_only_one_of_two_racing_polls_gets_the_route(device, acme_route):
    device.authorize()
    update_authorization(
        state="approved",
        authenticated_email="alice@acme.example",
        oidc_identity_provider=acme_route.identity_provider,
    )
    assert device.poll().status_code == 200
    # The second poll read the row before the first consumed it: simulated by undoing
    # nothing but the poll time; the conditional UPDATE still refuses it.
    update_authorization(last_polled_at=None)
    assert device.poll().json()["error"] == "expired_token"


def test_a_route_disabled_after_sign_in_denies_the_device(device, acme_route):
    device.authorize()
    update_authorization(
        state="approved",
        authenticated_email="alice@acme.example",
        oidc_identity_provider=acme_route.identity_provider,
    )
    acme_route.enabled = False
    acme_route.save()
    assert device.poll().json()["error"] == "access_denied"
    assert DeviceAuthorization.objects.get().state == "denied"


# --- rate limits -------------------------------------------------------------------------


def test_authorize_is_rate_limited_per_client_address(client, acme_route, settings):
    settings.ONBOARDING_RATE_LIMITS = {"authorize_address": (2, 60)}
    for _ in range(2):
        assert post_json(client, AUTHORIZE, {"email": "alice@acme.example"}).status_code == 200
    limited = post_json(client, AUTHORIZE, {"email": "alice@acme.example"})
    assert limited.status_code == 429
    assert limited.json()["error"] == "slow_down"
    assert int(limited["Retry-After"]) >= 1
    other = post_json(client, AUTHORIZE, {"email": "alice@acme.example"}, REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 200
    assert OnboardingEvent.objects.filter(reason="rate_limited").count() == 1


def test_the_token_endpoint_is_rate_limited_per_address(client, settings, db):
    settings.ONBOARDING_RATE_LIMITS = {"token_address": (3, 60)}
    answers = [
        post_json(client, TOKEN, {"grant_type": GRANT, "device_code": "x"}).status_code
        for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]


def test_forwarded_addresses_count_only_behind_trusted_proxies(client, acme_route, settings):
    settings.ONBOARDING_RATE_LIMITS = {"authorize_address": (1, 60)}
    body = {"email": "alice@acme.example"}
    # No trusted proxy: a forged X-Forwarded-For does not buy a new bucket.
    assert (
        post_json(client, AUTHORIZE, body, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200
    )
    assert (
        post_json(client, AUTHORIZE, body, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 429
    )
    settings.TRUSTED_PROXY_COUNT = 1
    assert (
        post_json(client, AUTHORIZE, body, HTTP_X_FORWARDED_FOR="forged, 198.51.100.3").status_code
        == 200
    )
    assert (
        post_json(client, AUTHORIZE, body, HTTP_X_FORWARDED_FOR="other, 198.51.100.3").status_code
        == 429
    )
    event = DeviceAuthorization.objects.order_by("created_at").last()
    assert event.client_address == "198.51.100.3"


# --- schema and docs ------------------------------------------------------------------------


def test_the_openapi_document_describes_every_endpoint_and_error(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert {"/api/v1/device/authorize", "/api/v1/device/token", "/api/v1/onboarding/lookup"} <= set(
        paths
    )
    token = paths["/api/v1/device/token"]["post"]
    assert {"200", "400", "413", "429"} <= set(token["responses"])
    lookup = paths["/api/v1/onboarding/lookup"]["post"]
    assert {"200", "400", "401", "404"} <= set(lookup["responses"])
    errors = schema["components"]["schemas"]["TokenError"]["properties"]["error"]
    assert "slow_down" in json.dumps(schema["components"]["schemas"])
    assert errors
    assert client.get("/api/v1/schema/?format=yaml").content.startswith(b"openapi:")


def test_the_docs_page_works_offline(client):
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    assert b"/api/v1/device/token" in page.content
    assert b"<script" not in page.content and b"cdn" not in page.content.lower()


def test_a_chunked_body_is_read_with_the_same_cap(rf, acme_route):
    import io

    from onboarding.api import DeviceAuthorizeView

    def chunked(body: bytes):
        request = rf.post(AUTHORIZE, data=b"{}", content_type="application/json")
        request.META.pop("CONTENT_LENGTH", None)
        request.environ["wsgi.input_terminated"] = True
        request.environ["wsgi.input"] = io.BytesIO(body)
        return DeviceAuthorizeView.as_view()(request)

    assert chunked(json.dumps({"email": "alice@acme.example"}).encode()).status_code == 200
    assert chunked(b" " * 70000).status_code == 413


def test_pending_and_slow_down_polls_log_nothing_above_debug(device, acme_route, caplog):
    device.authorize()
    caplog.clear()
    with caplog.at_level("DEBUG"):
        assert device.poll().json()["error"] == "authorization_pending"
        assert device.poll().json()["error"] == "slow_down"
    assert [r for r in caplog.records if r.levelno > 10] == []
    assert any("authorization_pending" in r.getMessage() for r in caplog.records)


def test_the_device_api_passes_the_browser_middleware_by_and_pages_keep_it(
    client, device, acme_route
):
    # Devices have no session, user, messages or time zone (common.browser); pages do.
    client.cookies["obs_tz"] = "Europe/Berlin"
    response = device.authorize()
    assert response.status_code == 200
    assert not response.cookies and "Cookie" not in response.get("Vary", "")
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user")
    assert not hasattr(request, "_messages")
    assert response["X-Content-Type-Options"] == "nosniff"  # security headers stay
    page = client.get("/admin/login/")
    assert page["X-Frame-Options"] == "DENY" and "csrftoken" in page.cookies
    assert hasattr(page.wsgi_request, "session") and hasattr(page.wsgi_request, "user")


def test_a_field_error_is_said_in_each_requests_own_language(client, acme_route):
    # The body's checks are shared between requests (made once): their messages must
    # still follow each request's Accept-Language, not the first one's.
    body = {"grant_type": GRANT, "device_code": "x" * 600}
    german = post_json(client, TOKEN, body, HTTP_ACCEPT_LANGUAGE="de")
    english = post_json(client, TOKEN, body, HTTP_ACCEPT_LANGUAGE="en")
    assert german.status_code == english.status_code == 400
    assert "512" in german.json()["error_description"]
    assert english.json()["error_description"] == (
        "device_code: Ensure this field has no more than 512 characters."
    )
    assert german.json()["error_description"] != english.json()["error_description"]
