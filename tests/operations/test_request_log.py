"""One log line per request, with its id, and never a secret; quiet pending polls."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from django.utils import timezone

from onboarding.models import DeviceAuthorization
from operations.logs import JSONFormatter
from tests.onboarding.conftest import confirm, idp_redirect, local_path, sign_in

pytestmark = pytest.mark.django_db


def _request_lines(caplog):
    return [r for r in caplog.records if r.name == "obs.request"]


def _as_json(record) -> dict:
    return json.loads(JSONFormatter().format(record))


def test_a_request_is_logged_as_one_json_line_with_its_request_id(client, caplog):
    with caplog.at_level(logging.DEBUG):
        response = client.get("/device?user_code=ABCD-EFGH", HTTP_X_REQUEST_ID="proxy-id-12345")
    assert response["X-Request-ID"] == "proxy-id-12345"
    (record,) = _request_lines(caplog)
    line = _as_json(record)
    assert line["request_id"] == "proxy-id-12345"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/device", 400)
    assert isinstance(line["duration_ms"], float)
    assert "ABCD" not in json.dumps(line)  # the query (a user code) is never logged


def test_an_unusable_request_id_is_replaced_by_one_of_ours(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith a line break")
    assert len(response["X-Request-ID"]) == 32 and "\n" not in response["X-Request-ID"]


def test_a_pending_poll_logs_nothing_above_debug(client, device, acme_route, caplog):
    device.authorize()
    DeviceAuthorization.objects.update(last_polled_at=None)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert device.poll().json()["error"] == "authorization_pending"
    assert [r.levelno for r in caplog.records if r.levelno > logging.DEBUG] == []
    (record,) = _request_lines(caplog)
    line = _as_json(record)
    assert line["outcome"] == "authorization_pending"
    assert line["tenant"] == acme_route.tenant_id


def test_device_requests_log_tenant_and_outcome_but_never_codes_or_tokens(
    client, device, acme_route, idp, caplog
):
    with caplog.at_level(logging.DEBUG):
        started = device.authorize().json()
        sign_in(client, device)
        DeviceAuthorization.objects.update(last_polled_at=timezone.now() - dt.timedelta(seconds=10))
        answer = device.poll().json()
    # Ours, not the test browser's own HTTP client (which logs the URLs it follows).
    ours = [r for r in caplog.records if r.name != "urllib3.connectionpool"]
    everything = "\n".join(JSONFormatter().format(r) for r in ours)
    for secret in (
        started["device_code"],
        started["user_code"],
        started["user_code"].replace("-", ""),
        answer["access_token"],
        idp.client_secret,
    ):
        assert secret not in everything
    assert "state=" not in everything and "code=" not in everything
    token_line = _as_json(_request_lines(caplog)[-1])
    assert token_line["outcome"] == "success"
    assert token_line["tenant"] == acme_route.tenant_id
    assert token_line["endpoint"] == "onboarding:device-token"


def test_a_failed_sign_in_logs_its_reason(client, device, acme_route, idp, caplog):
    device.authorize()
    to_idp = confirm(client, device.started["user_code"])
    callback = local_path(idp_redirect(to_idp["Location"]))
    client.get(callback)  # the first use of the state
    with caplog.at_level(logging.INFO):
        replayed = client.get(callback)
    assert replayed.status_code == 400
    line = _as_json(_request_lines(caplog)[-1])
    assert line["path"] == "/oidc/callback/"
    assert line["outcome"] == "sign_in_invalid"
    assert line["reason"] == "state_unknown_or_used"
