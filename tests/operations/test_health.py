"""/healthz and /readyz: unauthenticated JSON probes that say what is not ready."""

from __future__ import annotations

import pytest
from django.db import connection

from operations import health
from tests.faults import cache_unreachable

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_asking_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_every_dependency_ready(client):
    response = client.get("/readyz", HTTP_ACCEPT="text/html")  # JSON whatever is asked
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "storage": "ok", "migrations": "ok"},
    }


def test_probes_answer_any_host_name_a_load_balancer_uses(client, settings):
    settings.ALLOWED_HOSTS = ["obs.example.com"]
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/readyz/", HTTP_HOST="10.1.2.3:8000").status_code == 200


def test_readyz_is_503_and_names_the_cache_when_redis_is_down(client):
    with cache_unreachable():
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "cache": "unavailable", "storage": "ok", "migrations": "ok"},
    }
    assert "127.0.0.1" not in response.content.decode()  # details are logged, not shown


@pytest.mark.django_db(transaction=True)
def test_readyz_waits_for_the_migrations_of_a_new_version(client, monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT app, name, applied FROM django_migrations WHERE app = 'onboarding' "
            "ORDER BY id DESC LIMIT 1"
        )
        app, name, applied = cursor.fetchone()
        cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", [app, name])
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["migrations"] == "unavailable"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, %s)",
                [app, name, applied],
            )
    assert client.get("/readyz").status_code == 200
