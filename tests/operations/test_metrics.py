"""/metrics: Prometheus text for the operator's scraper, and nobody else by default."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db


def _samples(response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = response.content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_requests_outcomes_and_rate_limit_decisions(client, device, acme_route):
    device.authorize()
    device.poll()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = _samples(response)
    requests = (
        "obs_http_requests_total",
        (("endpoint", "onboarding:device-authorize"), ("method", "POST"), ("status", "200")),
    )
    assert samples[requests] >= 1
    event = (
        "obs_onboarding_events_total",
        (("action", "authorize"), ("reason", ""), ("result", "success")),
    )
    assert samples[event] >= 1
    pending = (
        "obs_device_api_outcomes_total",
        (("endpoint", "token"), ("outcome", "authorization_pending")),
    )
    assert samples[pending] >= 1
    decision = (
        "obs_rate_limit_decisions_total",
        (("decision", "allowed"), ("limit", "authorize_email")),
    )
    assert samples[decision] >= 1


def test_metrics_count_idp_requests_and_jwks_refreshes(client, acme_route, idp):
    from tests.onboarding.conftest import LOOKUP, post_json

    assert post_json(client, LOOKUP, {"id_token": idp.id_token()}).status_code == 200
    samples = _samples(client.get("/metrics"))
    assert samples[("obs_idp_requests_total", (("operation", "jwks"), ("outcome", "ok")))] >= 1
    assert samples[("obs_jwks_refreshes_total", (("cause", "cold"), ("result", "ok")))] >= 1
    assert ("obs_idp_request_duration_seconds_count", (("operation", "discovery"),)) in samples


def test_metrics_are_refused_from_other_addresses(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"obs_" not in response.content


def test_metrics_are_refused_through_a_proxy_even_on_loopback(client):
    # Behind a reverse proxy on the same machine every request comes from 127.0.0.1.
    response = client.get("/metrics", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 403


def test_metrics_are_readable_anywhere_with_the_metrics_token(client, settings):
    settings.METRICS_TOKEN = "scraper-token-0123456789"
    assert (
        client.get(
            "/metrics",
            REMOTE_ADDR="203.0.113.9",
            HTTP_AUTHORIZATION="Bearer scraper-token-0123456789",
        ).status_code
        == 200
    )
    assert (
        client.get(
            "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong"
        ).status_code
        == 403
    )


def test_allowed_networks_are_a_setting(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback is no longer listed


def test_metrics_count_import_jobs_by_state_from_the_database(client, acme, alice):
    from onboarding.models import ImportJob

    def job(state: str, phase: str = "check") -> None:
        ImportJob.objects.create(
            tenant=acme,
            created_by=alice,
            file_name="routes.csv",
            format="csv",
            state=state,
            phase=phase,
        )

    job("queued")
    job("queued")
    job("queued", "apply")
    job("done")
    samples = _samples(client.get("/metrics"))
    assert samples[("obs_import_jobs", (("phase", "check"), ("state", "queued")))] == 2
    assert samples[("obs_import_jobs", (("phase", "apply"), ("state", "queued")))] == 1
    assert samples[("obs_import_jobs", (("phase", "check"), ("state", "done")))] == 1
