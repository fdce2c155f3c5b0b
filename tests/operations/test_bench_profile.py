"""``make bench-profile``'s two measurements beside the whole request
(bench/profile_device.py): a view called alone, and one bare round trip to each service."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from itertools import repeat
from pathlib import Path

import pytest
from django.db import connection
from django.urls import resolve

_BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_profile_device():
    # Loaded from its file; it puts bench/ on sys.path to import device_bench, which is
    # taken off again so that no other test imports a bench module by accident.
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location(
            "_bench_profile_device", _BENCH / "profile_device.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path[:] = saved


profile_device = _load_profile_device()

TOKEN = "/api/v1/device/token"


@pytest.mark.django_db
def test_view_alone_answers_as_the_view_does_and_counts_its_cpu():
    body = json.dumps(
        {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x" * 43}
    ).encode()

    cpu, statuses = profile_device.measure_view_alone(resolve(TOKEN).func, TOKEN, repeat(body), 3)

    assert statuses == {400: 3}  # an unknown code: invalid_grant, from the view itself
    assert cpu > 0


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"),
    reason="needs PostgreSQL and Redis (CI's second pass)",
)
def test_round_trip_floor_asks_both_services():
    floors = profile_device.round_trip_cpu(count=20)

    assert set(floors) == {"Redis PING, bare socket", "SELECT 1, psycopg"}
    assert all(floor > 0 for floor in floors.values())
