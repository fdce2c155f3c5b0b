"""Events recorded outside a transaction are written in batches (onboarding.events).

The suite writes events in their requests (``ONBOARDING_EVENT_BATCH_SECONDS=0``); these
tests switch batching on, as in production. A clean stop of a real server writing what
its worker held: ``test_two_processes.py`` (CI's PostgreSQL + Redis pass).
"""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from common import metrics
from onboarding.events import BATCHER, DeviceInfo, EventRecorder, flush_events
from onboarding.models import DeviceAuthorization, OnboardingEvent
from tests.onboarding.conftest import AUTHORIZE, post_json

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def batched(settings):
    flush_events()
    settings.ONBOARDING_EVENT_BATCH_SECONDS = 3600  # only an explicit flush writes
    yield
    flush_events()


def test_a_refusal_is_answered_before_its_event_is_written(client, acme_route, batched):
    before = timezone.now()
    assert post_json(client, AUTHORIZE, {"email": "nobody@elsewhere.example"}).status_code == 400
    assert not OnboardingEvent.objects.exists()
    assert flush_events() == 1
    event = OnboardingEvent.objects.get()
    assert (event.action, event.result) == ("authorize", "failure")
    assert before <= event.created_at <= timezone.now()  # when it happened, not written


def test_a_started_onboarding_writes_one_row_and_its_event_follows(
    client, device, acme_route, batched
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert device.authorize().status_code == 200
    writes = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert writes.count("INSERT") == 1 and "BEGIN" not in writes  # one commit
    assert DeviceAuthorization.objects.count() == 1 and not OnboardingEvent.objects.exists()
    flush_events()
    assert OnboardingEvent.objects.get().result == "success"


def test_the_thread_writes_within_the_interval(client, acme_route, settings):
    flush_events()
    settings.ONBOARDING_EVENT_BATCH_SECONDS = 0.2
    assert post_json(client, AUTHORIZE, {"email": "nobody@elsewhere.example"}).status_code == 400
    deadline = time.monotonic() + 5
    while not OnboardingEvent.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert OnboardingEvent.objects.count() == 1


def test_an_event_the_database_refuses_does_not_take_its_batch_with_it(acme_route, batched):
    refused = metrics.EVENTS_DROPPED.labels("refused")
    before = refused._value.get()
    good = {"action": "lookup", "result": "failure", "reason": "not_mapped"}
    orphan = {"action": "lookup", "result": "failure", "route_id": 987654321}
    BATCHER.add(good)
    BATCHER.add(orphan)
    assert flush_events() == 1
    assert list(OnboardingEvent.objects.values_list("route_id", flat=True)) == [None]
    assert refused._value.get() == before + 1


def test_a_final_flush_waits_for_the_batch_being_written(acme_route, batched):
    import threading

    from django.db import connections

    written: list[int] = []
    with BATCHER._writing:  # the thread is in the middle of writing a batch
        BATCHER.add({"action": "lookup", "result": "failure", "reason": "not_mapped"})

        def stop() -> None:
            written.append(flush_events(final=True))
            connections.close_all()  # this thread's connection, before the test database goes

        stopping = threading.Thread(target=stop)
        stopping.start()
        stopping.join(0.3)
        assert stopping.is_alive()  # the stop waits for the write in progress
    stopping.join(5)
    assert written == [1] and OnboardingEvent.objects.count() == 1


def test_a_batch_keeps_every_character_and_value_as_recorded(acme_route, batched):
    """PostgreSQL writes batches with COPY: its separators and escapes must not leak."""
    detail = "tab\there\nnew line \\N back\\slash ünïcödé 🙂 'quoted' \"double\""
    recorder = EventRecorder(
        "lookup",
        client_address="2001:db8::1",
        structure_tag="Berlin\\Floor 2",
        device=DeviceInfo(hostname="igel-01", serial="S/N\t1", model="UD3", os_version="12.4"),
    )
    recorder.failure("not_mapped", detail=detail, email="alice@acme.example", route=acme_route)
    assert flush_events() == 1
    event = OnboardingEvent.objects.get()
    assert (event.detail, event.structure_tag, event.device_serial) == (
        detail,
        "Berlin\\Floor 2",
        "S/N\t1",
    )
    assert (event.route_id, event.tenant_id, event.client_address) == (
        acme_route.pk,
        None,
        "2001:db8::1",
    )
    assert event.created_at is not None
