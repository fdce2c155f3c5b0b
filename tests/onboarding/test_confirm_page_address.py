"""The confirmation page says where and when the device asked (issue 15, finding 13).

A phished code (someone sends the user a link for a device that is not theirs) is opened
far from that device: the page shows the device's address and age, and warns when the
browser's address differs.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from onboarding.models import DeviceAuthorization
from tests.onboarding.conftest import AUTHORIZE, post_json

pytestmark = pytest.mark.django_db

DEVICE = "203.0.113.7"


def _code(client, address=DEVICE):
    started = post_json(client, AUTHORIZE, {"email": "alice@acme.example"}, REMOTE_ADDR=address)
    return started.json()["user_code"]


def test_the_page_shows_the_devices_address_and_age(client, acme_route):
    code = _code(client)
    DeviceAuthorization.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    page = client.get("/device", {"user_code": code}, REMOTE_ADDR=DEVICE).content.decode()
    assert "2\xa0minutes ago from 203.0.113.7" in page
    assert "address-warning" not in page


def test_an_attacker_devices_code_opened_elsewhere_is_flagged(client, acme_route):
    code = _code(client, address="198.51.100.66")  # the attacker's device
    page = client.get("/device", {"user_code": code}, REMOTE_ADDR=DEVICE).content.decode()
    assert 'id="address-warning"' in page
    assert "opened from 203.0.113.7, but the device asked from\n  198.51.100.66" in page


def test_another_address_of_the_same_ipv6_network_is_not_flagged(client, acme_route):
    code = _code(client, address="2001:db8:1:2::10")
    page = client.get("/device", {"user_code": code}, REMOTE_ADDR="2001:db8:1:2::99")
    assert "address-warning" not in page.content.decode()
