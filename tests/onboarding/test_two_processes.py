"""One onboarding spread over two real app server processes sharing PostgreSQL and Redis.

Runs only in CI's PostgreSQL + Redis pass (``DATABASE_URL`` is PostgreSQL and
``REDIS_URL`` is set): the processes must see the test's committed data and each
other's writes, which SQLite files and in-process caches cannot show.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection

from onboarding import conf, ratelimit
from onboarding.models import DeviceAuthorization, OnboardingEvent
from tests.onboarding.conftest import GRANT

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(
            ("postgres://", "postgresql://", "pgsql://")
        )
        or not os.environ.get("REDIS_URL"),
        reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL: runs in CI's second pass",
    ),
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    # pytest-django's database is test_<name>: the servers must use that one.
    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server on port {port} did not start")


@pytest.fixture
def server_env() -> dict[str, str]:
    """More environment for the servers (a test parametrizes it)."""
    return {}


class Servers(list[str]):
    """The servers' base URLs; ``stop()`` stops them cleanly (SIGTERM), as systemd would."""

    def __init__(self, urls: list[str], processes: list[subprocess.Popen[bytes]]) -> None:
        super().__init__(urls)
        self.processes = processes

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def servers(transactional_db: Any, idp: Any, tmp_path: Path, server_env: dict[str, str]) -> Any:
    """Two gunicorn processes (one worker each) on the test database and Redis.

    No signing keys are configured: both sign with the development key, made on first
    use by whichever process needs it first.
    """
    ports = [_free_port(), _free_port()]
    base_url = f"http://127.0.0.1:{ports[0]}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CACHE_KEY_PREFIX": django_settings.CACHES["default"].get("KEY_PREFIX", ""),
        "SECRET_KEY": django_settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": ",".join(django_settings.FIELD_ENCRYPTION_KEYS),
        "BASE_URL": base_url,
        "DEBUG": "True",
        "ONBOARDING_SIGNING_KEYS": "",
        "ONBOARDING_DEVELOPMENT_KEY_FILE": str(tmp_path / "dev-signing-key.pem"),
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "OUTBOUND_REQUIRE_HTTPS": "False",
        "OUTBOUND_BLOCK_PRIVATE_ADDRESSES": "True",
        **server_env,
    }
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    running = Servers([f"http://127.0.0.1:{port}" for port in ports], processes)
    try:
        for port, process in zip(ports, processes, strict=True):
            _wait_until_listening(port, process)
        yield running
    finally:
        running.stop()


def _on(server: str, url: str) -> str:
    """The same path and query, sent to ``server``."""
    parts = urlsplit(url)
    return f"{server}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def test_one_onboarding_can_use_any_process(servers, acme_route, idp):
    a, b = servers
    start = requests.post(
        f"{a}/api/v1/device/authorize",
        json={"email": "alice@acme.example", "device": {"hostname": "ws-mp"}},
        timeout=10,
    )
    assert start.status_code == 200, start.text
    started = start.json()
    poll = {"grant_type": GRANT, "device_code": started["device_code"]}
    assert requests.post(f"{b}/api/v1/device/token", json=poll, timeout=10).json()["error"] == (
        "authorization_pending"
    )
    # Polled again at once on the other process: the interval is shared state too.
    assert (
        requests.post(f"{a}/api/v1/device/token", json=poll, timeout=10).json()["error"]
        == "slow_down"
    )

    browser = requests.Session()
    page = browser.get(_on(b, started["verification_uri_complete"]), timeout=10)
    assert page.status_code == 200 and "ws-mp" in page.text
    csrf = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    to_idp = browser.post(
        f"{a}/device/confirm",
        data={
            "csrfmiddlewaretoken": csrf,
            "user_code": started["user_code"],
            "decision": "approve",
        },
        headers={"Referer": f"{a}/device"},
        allow_redirects=False,
        timeout=10,
    )
    assert to_idp.status_code == 302, to_idp.text
    back = requests.get(to_idp.headers["Location"], allow_redirects=False, timeout=10)
    callback = browser.get(_on(b, back.headers["Location"]), timeout=10)  # state kept in the DB
    assert callback.status_code == 200, callback.text
    assert browser.get(_on(a, back.headers["Location"]), timeout=10).status_code == 400  # replay

    DeviceAuthorization.objects.update(last_polled_at=None)
    # Two polls at the same moment on two processes: exactly one gets the route.
    answers: list[requests.Response] = []
    barrier = threading.Barrier(2)

    def poll_on(server: str) -> None:
        barrier.wait()
        answers.append(requests.post(f"{server}/api/v1/device/token", json=poll, timeout=10))

    threads = [threading.Thread(target=poll_on, args=(s,)) for s in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 400], [r.text for r in answers]
    winner = next(r for r in answers if r.status_code == 200)
    assert winner.json()["onboarding"]["ums_hostname"] == "UMS01.Acme.example"
    # Whichever process signed, both publish its key.
    token = winner.json()["access_token"]
    for server in (a, b):
        key = jwt.PyJWKClient(f"{server}/.well-known/jwks.json").get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["ES256"], audience="UMS01.Acme.example")
        assert claims["sub"] == "alice@acme.example"
    loser = next(r for r in answers if r.status_code == 400)
    assert loser.json()["error"] in {"slow_down", "expired_token"}

    DeviceAuthorization.objects.update(last_polled_at=None)
    assert (
        requests.post(f"{b}/api/v1/device/token", json=poll, timeout=10).json()["error"]
        == "expired_token"
    )
    assert OnboardingEvent.objects.filter(result="success").count() == 3


def test_rate_limits_hold_across_processes(servers, acme_route):
    a, b = servers
    limit, period = conf.rate_limit("token_address")
    if period - time.time() % period < 5:  # do not straddle two windows
        time.sleep(period - time.time() % period)
    window = int(time.time() // period)
    # Bring this address's counter (in Redis) to one below the limit from here...
    cache.set(ratelimit._key("token_address", "127.0.0.1", window), limit - 1, timeout=period)
    body = {"grant_type": GRANT, "device_code": "x"}
    # ...then one request on each process: the second sees the first one's count.
    assert requests.post(f"{a}/api/v1/device/token", json=body, timeout=10).status_code == 400
    limited = requests.post(f"{b}/api/v1/device/token", json=body, timeout=10)
    assert limited.status_code == 429
    assert limited.json()["error"] == "slow_down"


@pytest.mark.parametrize("server_env", [{"ONBOARDING_EVENT_BATCH_SECONDS": "3600"}])
def test_a_clean_stop_writes_the_events_a_worker_still_held(server_env, servers, acme_route):
    a, _b = servers
    refused = requests.post(
        f"{a}/api/v1/device/authorize", json={"email": "nobody@elsewhere.example"}, timeout=10
    )
    assert refused.status_code == 400
    time.sleep(0.5)
    assert not OnboardingEvent.objects.exists()  # held by the worker: an hour's batch
    servers.stop()  # SIGTERM: gunicorn's worker_exit (and the interpreter's exit) write them
    event = OnboardingEvent.objects.get()
    assert (event.action, event.result, event.email) == (
        "authorize",
        "failure",
        "nobody@elsewhere.example",
    )
