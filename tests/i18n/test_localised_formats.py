"""Dates and numbers as the reader's language writes them (issue 14).

German pages say ``2. Dezember 2026`` and ``1.234``; English pages keep what they always
said (ISO dates, ``1,234``). Form inputs and the API's JSON keep plain numbers.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.models import Certificate
from onboarding.models import DeviceAuthorization, EventAction, EventResult, OnboardingEvent
from tests import factories
from tests.onboarding.conftest import AUTHORIZE, post_json

pytestmark = pytest.mark.django_db

EXPIRY = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)


def _home(client, language):
    return client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_the_home_page_writes_counts_and_dates_in_the_readers_language(client, acme, alice):
    OnboardingEvent.objects.bulk_create(
        OnboardingEvent(tenant=acme, action=EventAction.TOKEN, result=EventResult.SUCCESS)
        for _ in range(1234)
    )
    chain = factories.CertificateChainFactory(tenant=acme, name="Berlin chain")
    Certificate.objects.filter(chain=chain).update(not_after=EXPIRY)
    client.force_login(alice)

    german, english = _home(client, "de"), _home(client, "en")

    assert 'id="onboarded-count">1.234</span>Geräte eingebunden' in german
    assert "erstes Zertifikat läuft am 2. Dezember 2026 ab" in german
    assert 'id="onboarded-count">1,234</span>devices onboarded' in english
    assert "first certificate expires 2026-12-02" in english


def test_the_confirmation_page_says_when_in_german(client, acme_route):
    code = post_json(client, AUTHORIZE, {"email": "alice@acme.example"}).json()["user_code"]
    DeviceAuthorization.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    created = DeviceAuthorization.objects.get().created_at.astimezone(dt.UTC)

    page = client.get("/device", {"user_code": code}, HTTP_ACCEPT_LANGUAGE="de").content.decode()

    months = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
              "September", "Oktober", "November", "Dezember"]  # fmt: skip
    when = f"{created.day}. {months[created.month - 1]} {created.year}, {created:%H:%M} UTC"
    assert f"vor 2\xa0Minuten von 127.0.0.1 ({when})" in page


def test_a_german_form_keeps_the_port_a_plain_number(client, acme, bob, acme_route):
    client.force_login(bob)
    page = client.get(
        reverse("admin:onboarding_route_change", args=[acme_route.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert 'value="8443"' in page and "8.443" not in page
