"""Hostile and odd requests found by fuzzing a running server: none may be a 5xx or
leave the JSON error shape of the device API."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from gunicorn.http.errors import InvalidChunkSize, NoMoreData

from onboarding import api, ratelimit
from onboarding.api import DeviceAuthorizeView
from onboarding.models import DeviceAuthorization
from tests.onboarding.conftest import AUTHORIZE, LOOKUP, TOKEN, confirm, idp_redirect, local_path


class _BrokenStream:
    """A WSGI input whose reader fails as gunicorn's does on broken chunked framing."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def read(self, *args: object) -> bytes:
        raise self.exc


@pytest.mark.parametrize(
    "exc", [InvalidChunkSize(b"zz"), NoMoreData(b""), OSError("connection reset")]
)
def test_a_body_that_cannot_be_read_is_an_invalid_request(rf, acme_route, exc):
    request = rf.post(AUTHORIZE, data=b"{}", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    request.environ["wsgi.input_terminated"] = True
    request.environ["wsgi.input"] = _BrokenStream(exc)
    response = DeviceAuthorizeView.as_view()(request)
    assert response.status_code == 400
    assert json.loads(response.content) == {
        "error": "invalid_request",
        "error_description": api.BODY_UNREADABLE,
    }


@pytest.mark.parametrize("path", [AUTHORIZE, TOKEN, LOOKUP])
@pytest.mark.parametrize("method", ["options", "head", "put"])
def test_only_post_is_answered_on_device_endpoints(client, path, method):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    if method != "head":
        assert response.json() == {
            "error": "invalid_request",
            "error_description": "This endpoint accepts POST only.",
        }


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/device//authorize", "/api/"])
def test_a_post_to_an_unknown_api_address_is_a_json_404_not_a_csrf_page(path):
    response = Client(enforce_csrf_checks=True).post(
        path, data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_the_docs_page_answers_other_methods_with_a_json_405():
    response = Client(enforce_csrf_checks=True).post("/api/v1/docs/")
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "accept", ["application/json", "text/html", "application/xml", "application/yaml"]
)
def test_the_openapi_document_is_served_whatever_the_accept_header(client, accept):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    if accept == "application/yaml":
        assert response.content.startswith(b"openapi:")
    else:
        assert response.json()["openapi"].startswith("3.")


def test_an_unknown_schema_format_gets_the_json_document(client):
    response = client.get("/api/v1/schema/?format=xml")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
    assert client.get("/api/v1/schema/?format=yaml", HTTP_ACCEPT="text/html").content.startswith(
        b"openapi:"
    )


def test_the_schema_answers_other_methods_with_the_api_error_shape(client):
    response = client.post("/api/v1/schema/")
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"


def test_head_on_the_verification_page_is_fine(client):
    assert client.head("/device").status_code == 200


def test_the_confirmation_refuses_a_large_body_before_the_csrf_check_reads_it(device, acme_route):
    response = Client(enforce_csrf_checks=True).post(
        "/device/confirm",
        data=b"a" * (64 * 1024 + 1),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413


def test_the_confirmation_still_needs_a_csrf_token(device, acme_route):
    code = device.authorize().json()["user_code"]
    response = Client(enforce_csrf_checks=True).post(
        "/device/confirm", {"user_code": code, "decision": "approve"}
    )
    assert response.status_code == 403
    assert DeviceAuthorization.objects.get().state == "pending"


def test_a_code_denied_while_confirming_is_not_reported_as_an_idp_outage(
    client, device, acme_route, idp, monkeypatch
):
    # "Not my device" in one tab and "sign in" in another: the second finds the code
    # no longer pending, which is an invalid code (400), not "the IdP is down" (503).
    code = device.authorize().json()["user_code"]
    stale = DeviceAuthorization.objects.get()
    DeviceAuthorization.objects.update(state="denied")
    monkeypatch.setattr("onboarding.views.pending_authorization_for_user_code", lambda raw: stale)
    page = client.post("/device/confirm", {"user_code": code, "decision": "approve"})
    assert page.status_code == 400
    assert b"not valid or has expired" in page.content


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url + "&code=not-the-idps-code",  # duplicated code, the last one wins
        lambda url: url + "&error=temporarily_unavailable",
        lambda url: url + "&error=server_error",
    ],
)
def test_a_tampered_callback_with_a_live_state_is_never_a_5xx(
    client, device, acme_route, idp, tamper
):
    device.authorize()
    to_idp = confirm(client, device.started["user_code"])
    callback = local_path(idp_redirect(to_idp["Location"]))
    page = client.get(tamper(callback))
    assert page.status_code == 400
    assert b"Try again" in page.content
    assert device.poll().json()["error"] == "authorization_pending"


def test_a_link_local_ipv6_peer_is_stored_without_its_zone(device, acme_route, client):
    assert ratelimit.normalize_address("fe80::1%eth0") == "fe80::1"
    response = client.post(
        AUTHORIZE,
        data=json.dumps({"email": "alice@acme.example"}),
        content_type="application/json",
        REMOTE_ADDR="fe80::1%eth0",
    )
    assert response.status_code == 200
    assert DeviceAuthorization.objects.get().client_address == "fe80::1"


def test_the_openapi_document_says_email_and_device_code_cannot_be_empty(client):
    schemas = client.get("/api/v1/schema/").json()["components"]["schemas"]
    assert schemas["AuthorizeInput"]["properties"]["email"]["minLength"] == 1
    assert schemas["AuthorizeForm"]["properties"]["email"]["minLength"] == 1
    assert schemas["TokenInput"]["properties"]["device_code"]["minLength"] == 1
