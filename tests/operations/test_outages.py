"""Redis or PostgreSQL down or hung: 503 with Retry-After, rate limits fail open (but for
user codes), every answer within a bounded time (issue 11, items 5 and 6)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from prometheus_client import REGISTRY

from tests.faults import SilentServer, cache_unreachable, closed_port, failing_insert
from tests.onboarding.conftest import LOOKUP, post_json

pytestmark = pytest.mark.django_db

ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith(
    ("postgres://", "postgresql://", "pgsql://")
)
needs_postgresql = pytest.mark.skipif(
    not ON_POSTGRESQL, reason="needs DATABASE_URL (PostgreSQL): runs in CI's second pass"
)


def _decisions(limit: str, decision: str) -> float:
    value = REGISTRY.get_sample_value(
        "obs_rate_limit_decisions_total", {"limit": limit, "decision": decision}
    )
    return value or 0.0


def test_rate_limits_fail_open_when_redis_is_down_and_say_so(client, device, acme_route, caplog):
    before = _decisions("authorize_address", "failed_open")
    with cache_unreachable(), caplog.at_level(logging.WARNING, "onboarding.ratelimit"):
        response = device.authorize()
    assert response.status_code == 200  # the onboarding goes on without its rate limits
    assert _decisions("authorize_address", "failed_open") == before + 1
    assert any("authorize_address" in r.getMessage() for r in caplog.records)


def test_a_hung_redis_costs_a_request_its_socket_timeout_not_a_worker(client, device, acme_route):
    with SilentServer() as hung, cache_unreachable(hung.port, timeout=0.3):
        started = time.monotonic()
        response = device.authorize()
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 5  # two limits, each given up after 0.3 s


def test_user_code_entry_fails_closed_with_a_friendly_page(client, device, acme_route):
    device.authorize()
    with cache_unreachable():
        page = client.get(f"/device?user_code={device.started['user_code']}")
    assert page.status_code == 503
    assert page["Retry-After"] == "30"
    assert b"temporarily unavailable" in page.content
    assert b"Server Error" not in page.content


def test_a_lookup_needing_the_cached_keys_is_503_when_redis_is_down(client, acme_route, idp):
    token = idp.id_token()
    with cache_unreachable():
        response = post_json(client, LOOKUP, {"id_token": token})
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["error"] == "temporarily_unavailable"


# --- PostgreSQL ------------------------------------------------------------------------


@contextlib.contextmanager
def database_at(port: int, **options: object) -> Iterator[None]:
    """The app's connection goes to ``port`` (nothing there, or a hung server)."""
    saved = dict(connection.settings_dict)
    saved_options = dict(saved.get("OPTIONS") or {})
    connection.close()
    connection.settings_dict["PORT"] = port
    connection.settings_dict["OPTIONS"] = {**saved_options, **options}
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        connection.settings_dict["OPTIONS"] = saved_options


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_when_postgresql_is_down(client, device, acme_route):
    with database_at(closed_port()):
        response = device.authorize()
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["error"] == "temporarily_unavailable"
    assert device.authorize().status_code == 200  # and works again once it is back


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_people_get_a_friendly_page_when_postgresql_is_down(client, device, acme_route):
    device.authorize()
    with database_at(closed_port()):
        page = client.get(f"/device?user_code={device.started['user_code']}")
    assert page.status_code == 503
    assert page["Retry-After"] == "30"
    assert b"temporarily unavailable" in page.content


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_hung_postgresql_fails_a_request_after_the_connect_timeout(client, device, acme_route):
    assert connection.settings_dict["OPTIONS"]["connect_timeout"] == 5  # the default
    with SilentServer() as hung, database_at(hung.port, connect_timeout=1):
        started = time.monotonic()
        response = device.authorize()
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 4


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_statement_stuck_in_postgresql_is_cancelled_by_statement_timeout(
    client, device, acme_route
):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "15s"  # the default of DB_STATEMENT_TIMEOUT
    sleeping_insert = "pg_sleep(5) IS NOT NULL AND NEW.email <> ''"
    port = connection.settings_dict["PORT"] or 5432
    with (
        database_at(port, options="-c statement_timeout=300"),
        failing_insert("onboarding_deviceauthorization", when=sleeping_insert),
    ):
        started = time.monotonic()
        response = device.authorize()
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 3


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_batch_of_events_cut_off_by_the_database_waits_for_the_next_write(acme_route, settings):
    """PostgreSQL writes a batch with COPY: its failure is an outage like any other (the
    batch is kept), not an unknown error that would lose it."""
    from onboarding.events import BATCHER, flush_events
    from onboarding.models import OnboardingEvent

    flush_events()
    settings.ONBOARDING_EVENT_BATCH_SECONDS = 3600  # only these flushes write
    port = connection.settings_dict["PORT"] or 5432
    stuck = "pg_sleep(2) IS NOT NULL"
    BATCHER.add({"action": "lookup", "result": "failure", "reason": "not_mapped"})
    with (
        database_at(port, options="-c statement_timeout=300"),
        failing_insert("onboarding_onboardingevent", when=stuck),
    ):
        assert flush_events() == 0  # cancelled by statement_timeout: kept
    assert flush_events() == 1
    assert OnboardingEvent.objects.get().reason == "not_mapped"
