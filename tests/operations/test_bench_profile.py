"""``make bench-profile``'s two measurements beside the whole request
(bench/profile_device.py): a view called alone, and one bare round trip to each service."""

from __future__ import annotations

import json
import os
from itertools import repeat

import pytest
from django.db import connection
from django.urls import resolve

from tests.operations.bench_modules import load_bench

profile_device = load_bench("profile_device")

TOKEN = "/api/v1/device/token"


@pytest.mark.django_db
def test_view_alone_answers_as_the_view_does_and_counts_its_cpu():
    body = json.dumps(
        {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x" * 43}
    ).encode()

    cpu, counted = profile_device.measure_view_alone(resolve(TOKEN).func, TOKEN, repeat(body), 3)

    # The body reached the view as sent: an unknown code, not a malformed request.
    assert profile_device.answers(counted) == "400 invalid_grant×3"
    assert cpu > 0


@pytest.mark.django_db
def test_a_drf_view_alone_is_rendered_as_the_handler_would():
    from config.bench import BaselineView

    cpu, counted = profile_device.measure_view_alone(
        BaselineView.as_view(), "/bench/baseline", repeat(None), 2
    )

    assert counted == {(200, b""): 2}
    assert cpu > 0


def test_answers_names_each_error():
    counted = {
        (200, b""): 5,
        (400, b'{"error":"authorization_pending","error_description":"Not yet.'): 3,
        (400, b'{"error":"slow_down","error_description":"Poll less often."}'): 1,
    }

    assert profile_device.answers(counted) == (
        "200×5, 400 authorization_pending×3, 400 slow_down×1"
    )


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"),
    reason="needs PostgreSQL and Redis (CI's second pass)",
)
def test_round_trip_floor_asks_both_services():
    floors = profile_device.round_trip_cpu(count=20)

    assert set(floors) == {"Redis PING, bare socket", "SELECT 1, psycopg"}
    assert all(floor > 0 for floor in floors.values())
