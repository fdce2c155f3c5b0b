"""common.postgresql: the health check without a round trip, and prepared hot statements.

PostgreSQL only (CI's second pass): they are about PostgreSQL's connections.
"""

from __future__ import annotations

import os
import time

import psycopg
import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from onboarding.models import Route
from onboarding.selectors import route_lookup
from tests import factories

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="needs DATABASE_URL (PostgreSQL): runs in CI's second pass",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def route(acme):
    route = factories.RouteFactory(tenant=acme)
    factories.MappedUserFactory(route=route, email="alice@acme.example")
    return route


def _server_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _statements_sent(monkeypatch) -> list[object]:
    """Every statement psycopg sends on Django's connection from now on."""
    sent: list[object] = []
    raw = type(connection.connection)
    original = raw.execute
    monkeypatch.setattr(raw, "cursor", _spy(raw.cursor, sent))
    monkeypatch.setattr(
        raw, "execute", lambda self, *a, **k: sent.append(a) or original(self, *a, **k)
    )
    return sent


def _spy(method, sent):
    def cursor(self, *args, **kwargs):
        sent.append("cursor")
        return method(self, *args, **kwargs)

    return cursor


def test_a_healthy_idle_connection_is_reused_without_asking_the_server(monkeypatch):
    connection.ensure_connection()
    before = connection.connection
    sent = _statements_sent(monkeypatch)
    connection.health_check_done = False  # as at the start of every request
    connection.close_if_health_check_failed()
    assert connection.connection is before
    assert sent == []  # no SELECT 1


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it(route):
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with psycopg.connect(_server_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the server's goodbye reaches the socket
    close_old_connections()  # what Django does when a request starts
    assert route_lookup("alice@acme.example").route == route  # not an error
    assert connection.connection.info.backend_pid != pid


def _runs_of_prepared(statement_like: str) -> list[int]:
    """How often each statement prepared on this connection and matching ran."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            [statement_like],
        )
        return [runs for (runs,) in cursor.fetchall()]


def test_the_routing_statement_is_prepared_once_per_connection(route):
    for _ in range(3):
        assert route_lookup("alice@acme.example").route == route
    assert _runs_of_prepared("%onboarding_mappeduser%") == [3]


def test_prepared_statements_can_be_turned_off(route, settings):
    settings.DB_PREPARED_STATEMENTS = False
    assert route_lookup("alice@acme.example").route == route
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)


def _migrate(statement: str) -> None:
    """A migration run by another process (the deploy's), on its own connection."""
    with psycopg.connect(_server_url(), autocommit=True) as other:
        other.execute(statement)


@pytest.fixture
def display_name_widened(route):
    """The routing statement prepared, then one of its columns' type changed."""
    assert route_lookup("alice@acme.example").route == route
    length = Route._meta.get_field("display_name").max_length
    _migrate(f"ALTER TABLE onboarding_route ALTER COLUMN display_name TYPE varchar({length + 50})")
    yield
    close_old_connections()
    connection.close()
    _migrate(f"ALTER TABLE onboarding_route ALTER COLUMN display_name TYPE varchar({length})")


def test_a_column_added_by_a_migration_leaves_the_prepared_routing_statement_working(route):
    assert route_lookup("alice@acme.example").route == route
    _migrate("ALTER TABLE onboarding_route ADD COLUMN added_by_a_migration integer")
    try:
        assert route_lookup("alice@acme.example").route == route
    finally:
        _migrate("ALTER TABLE onboarding_route DROP COLUMN added_by_a_migration")


def test_a_column_whose_type_a_migration_changed_costs_a_reconnection_not_an_error(
    route, display_name_widened
):
    pid = connection.connection.info.backend_pid
    assert route_lookup("alice@acme.example").route == route
    assert connection.connection.info.backend_pid != pid
    assert route_lookup("alice@acme.example").route == route


def test_inside_a_transaction_it_fails_once_and_the_connection_goes_after_the_request(
    route, display_name_widened
):
    from django.db import NotSupportedError, transaction

    pid = connection.connection.info.backend_pid
    with pytest.raises(NotSupportedError), transaction.atomic():
        route_lookup("alice@acme.example")
    close_old_connections()  # what Django does when the request ends
    assert route_lookup("alice@acme.example").route == route
    assert connection.connection.info.backend_pid != pid


def test_other_statements_are_not_kept_by_psycopg_for_preparing(route):
    assert route_lookup("alice@acme.example").route == route
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s", ["not kept"])
    assert connection.connection.prepare_threshold is None  # as Django leaves it
    assert not any(b"not kept" in key[0] for key in connection.connection._prepared._counts)


def test_a_device_authorizations_insert_is_prepared_and_writes_every_field(route):
    from onboarding.device_flow import device_authorization_start
    from onboarding.events import DeviceInfo
    from onboarding.models import DeviceAuthorization

    device = DeviceInfo(hostname="igel-01", serial="S1", model="UD3", os_version="12.4")
    for _ in range(2):
        started = device_authorization_start(
            email="Alice@acme.example", device=device, client_address="2001:db8::7"
        )
    stored = DeviceAuthorization.objects.get(pk=started.authorization.pk)
    assert (stored.email, stored.device_serial, stored.client_address) == (
        "alice@acme.example",
        "S1",
        "2001:db8::7",
    )
    assert stored.expires_at == started.authorization.expires_at
    assert stored.state == started.authorization.state == "pending"
    assert _runs_of_prepared('INSERT INTO "onboarding_deviceauthorization"%') == [2]


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def _observe_commit_mode(seen: list[tuple[bool, str]]):
    """Django's execute wrapper noting, for each authorization INSERT: whether it asked for
    asynchronous commit, and synchronous_commit on the server right after it (in its
    transaction if that is still open)."""

    def observe(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('INSERT INTO "onboarding_deviceauthorization"'):
            with context["connection"].connection.cursor() as cursor:  # psycopg's own
                cursor.execute("SHOW synchronous_commit")
                seen.append(("set_config('synchronous_commit'" in sql, cursor.fetchone()[0]))
        return result

    return connection.execute_wrapper(observe)


def test_a_device_code_is_committed_without_waiting_for_the_disk(route, settings):
    from django.db import transaction

    from onboarding.device_flow import device_authorization_start
    from onboarding.events import flush_events

    seen: list[tuple[bool, str]] = []
    with _observe_commit_mode(seen):
        # Events written with the row (one transaction): asynchronous for that transaction.
        settings.ONBOARDING_EVENT_BATCH_SECONDS = 0
        device_authorization_start(email="alice@acme.example")
        assert seen.pop() == (True, "off")
        assert _synchronous_commit() == "on"  # not beyond it
        # Events batched: the INSERT is its own transaction, committed by the time we look.
        settings.ONBOARDING_EVENT_BATCH_SECONDS = 1
        device_authorization_start(email="alice@acme.example")
        assert seen.pop() == (True, "on")
        flush_events()  # its event, while this test's database exists
        # A caller's transaction is never made asynchronous as a whole.
        with transaction.atomic():
            device_authorization_start(email="alice@acme.example")
            assert seen.pop() == (False, "on")
        # Switched off: every code waits for the disk.
        settings.DEVICE_CODE_ASYNC_COMMIT = False
        settings.ONBOARDING_EVENT_BATCH_SECONDS = 0
        device_authorization_start(email="alice@acme.example")
        assert seen.pop() == (False, "on")


def test_a_new_device_codes_insert_maintains_only_indexes_that_queries_use(route):
    from onboarding.device_flow import device_authorization_start
    from onboarding.models import DeviceAuthorization
    from onboarding.selectors import authorization_for_state

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            ["onboarding_deviceauthorization"],
        )
        indexes = dict(cursor.fetchall())
    assert not [name for name, d in indexes.items() if "pattern_ops" in d]  # LIKE: never asked
    # Columns empty when a code is created: their indexes hold only the rows that have one.
    for name in ("device_authorization_oidc_state_unique", "device_authorization_idp"):
        assert indexes[name].endswith("IS NOT NULL)")
    started = device_authorization_start(email="alice@acme.example")
    DeviceAuthorization.objects.filter(pk=started.authorization.pk).update(
        oidc_state_hash="ab" * 32
    )
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a handful of rows: it would scan them
        try:
            with CaptureQueriesContext(connection) as captured:
                authorization_for_state("any state")
            cursor.execute("EXPLAIN " + captured.captured_queries[0]["sql"])
            plan = " ".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "device_authorization_oidc_state_unique" in plan
