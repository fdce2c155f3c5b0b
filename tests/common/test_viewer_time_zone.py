"""Dates in the admin are shown in the viewer's time zone (the browser's cookie)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from onboarding.models import OnboardingEvent
from tests import factories

pytestmark = pytest.mark.django_db


def _event_at(tenant, when):
    event = factories.OnboardingEventFactory(tenant=tenant)
    OnboardingEvent.objects.filter(pk=event.pk).update(created_at=when)
    return event


def _page(client, cookie: str | None) -> str:
    if cookie is not None:
        client.cookies["obs_tz"] = cookie
    return client.get(reverse("admin:onboarding_onboardingevent_changelist")).content.decode()


def test_an_event_is_listed_in_the_viewers_time_zone(client, acme, bob):
    _event_at(acme, dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC))
    client.force_login(bob)

    assert "Jan. 16, 2026, 8:30 a.m." in _page(client, "Asia/Tokyo")
    assert "Jan. 15, 2026, 11:30 p.m." in _page(client, "")


@pytest.mark.parametrize("forged", ["Not/AZone", "../../etc/passwd", "x" * 100])
def test_an_unknown_zone_leaves_utc(client, acme, bob, forged):
    _event_at(acme, dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC))
    client.force_login(bob)

    assert "Jan. 15, 2026, 11:30 p.m." in _page(client, forged)


def test_every_admin_page_loads_the_script_that_tells_the_zone(client, bob):
    client.force_login(bob)
    assert "obs-admin.js" in client.get(reverse("admin:index")).content.decode()
    client.logout()
    assert "obs-admin.js" in client.get(reverse("admin:login")).content.decode()
