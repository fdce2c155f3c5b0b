"""Faults injected into the device flow: nothing is lost, the answer says what happened."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from onboarding.models import DeviceAuthorization, DeviceAuthorizationState, OnboardingEvent
from tests.faults import failing_insert
from tests.onboarding.conftest import sign_in

# Committed transactions, as in production: the fault must not leave a half-written poll.
pytestmark = pytest.mark.django_db(transaction=True)


def _wait_an_interval() -> None:
    DeviceAuthorization.objects.update(last_polled_at=timezone.now() - dt.timedelta(seconds=10))


def test_a_failure_while_recording_the_success_leaves_the_code_deliverable(
    client, device, acme_route, idp
):
    device.authorize()
    sign_in(client, device)

    with failing_insert(
        "onboarding_onboardingevent", when="NEW.action = 'token' AND NEW.result = 'success'"
    ):
        failed = device.poll()
    assert failed.status_code >= 500
    assert failed.json()["error"] in ("server_error", "temporarily_unavailable")
    authorization = DeviceAuthorization.objects.get()
    assert authorization.state == DeviceAuthorizationState.APPROVED  # not consumed
    assert not OnboardingEvent.objects.filter(action="token", result="success").exists()

    _wait_an_interval()
    answer = device.poll()
    assert answer.status_code == 200
    assert answer.json()["onboarding"]["ums_hostname"] == "UMS01.Acme.example"
    assert DeviceAuthorization.objects.get().state == DeviceAuthorizationState.CONSUMED
    assert OnboardingEvent.objects.filter(action="token", result="success").count() == 1


def test_the_success_event_and_the_consumed_code_are_written_together(
    client, device, acme_route, idp
):
    device.authorize()
    sign_in(client, device)
    _wait_an_interval()
    assert device.poll().status_code == 200
    authorization = DeviceAuthorization.objects.get()
    event = OnboardingEvent.objects.get(action="token", result="success")
    assert authorization.consumed_at is not None and event.route_id == acme_route.pk
