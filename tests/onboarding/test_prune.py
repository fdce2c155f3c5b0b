"""prune_onboarding_events."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from onboarding.models import DeviceAuthorization, OnboardingEvent
from tests import factories

pytestmark = pytest.mark.django_db


def _event_aged(days: float):
    event = factories.OnboardingEventFactory()
    OnboardingEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - dt.timedelta(days=days)
    )
    return event


def run(*args: str) -> str:
    out = StringIO()
    call_command("prune_onboarding_events", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_deletes_events_past_the_retention_setting(settings):
    settings.ONBOARDING_EVENT_RETENTION_DAYS = 30
    old, recent = _event_aged(31), _event_aged(29)
    assert "Deleted 1 onboarding event(s) older than 30 day(s)" in run()
    assert list(OnboardingEvent.objects.all()) == [recent]
    assert not OnboardingEvent.objects.filter(pk=old.pk).exists()


def test_older_than_overrides_the_setting():
    _event_aged(3)
    _event_aged(1)
    assert "Deleted 1 onboarding" in run("--older-than", "2")
    assert OnboardingEvent.objects.count() == 1


def test_it_refuses_a_negative_age():
    with pytest.raises(CommandError, match="0 or more"):
        run("--older-than", "-1")


def test_it_removes_long_expired_device_authorizations(device, acme_route):
    device.authorize()
    device.authorize()
    DeviceAuthorization.objects.filter(pk=DeviceAuthorization.objects.first().pk).update(
        expires_at=timezone.now() - dt.timedelta(days=2)
    )
    assert "1 expired device authorization(s)" in run()
    assert DeviceAuthorization.objects.count() == 1
