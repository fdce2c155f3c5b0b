"""Soak: mixed device traffic on the shipped gunicorn configuration, PostgreSQL and Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/soak.py [--seconds 60] [--load 0.8]

Creates a fresh database (dropped afterwards), migrates it, seeds one company whose
route's IdP is the loopback OpenID provider of the tests, and starts
``gunicorn -c gunicorn.conf.py`` with DEBUG off. Then:

1. capacity: as many complete onboardings as ``--devices`` (48) concurrent devices
   manage in 20 s
   (authorize, a pending poll, the user's browser through /device, the IdP and the
   callback, the polls until the route), with an ID-token lookup and a /readyz probe
   beside each;
2. soak: the same mix started at ``--load`` (80 %) of that rate for ``--seconds``.

Prints requests by status, 5xx (the goal: none) and the workers' resident memory after
warm-up and at the end (the goal: under 10 % growth). All requests come from 127.0.0.1,
so the per-address limits are raised for the run; the per-e-mail ones stay (every
device has its own user). Worker recycling (max_requests) is off, so growth shows.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.production import production_environment  # noqa: E402  (needs ROOT on the path)

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _workers(master: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.flows = 0

    def add(self, response: requests.Response) -> requests.Response:
        with self.lock:
            self.statuses[response.status_code] += 1
        return response


def onboard(base: str, idp, email: str, tally: Tally) -> None:  # type: ignore[no-untyped-def]
    device = requests.Session()
    browser = requests.Session()
    started = tally.add(
        device.post(f"{base}/api/v1/device/authorize", json={"email": email}, timeout=30)
    )
    started.raise_for_status()
    codes = started.json()
    body = {"grant_type": GRANT, "device_code": codes["device_code"]}
    tally.add(device.post(f"{base}/api/v1/device/token", json=body, timeout=30))  # pending
    page = tally.add(browser.get(codes["verification_uri_complete"], timeout=30))
    token = CSRF.search(page.text)
    assert token, "no CSRF token on the confirmation page"
    to_idp = tally.add(
        browser.post(
            f"{base}/device/confirm",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "user_code": codes["user_code"],
                "decision": "approve",
            },
            allow_redirects=False,
            timeout=30,
        )
    )
    back = requests.get(to_idp.headers["Location"], allow_redirects=False, timeout=10)
    tally.add(browser.get(back.headers["Location"], timeout=30))
    tally.add(
        requests.post(
            f"{base}/api/v1/onboarding/lookup",
            json={"id_token": idp.id_token(user=idp.users[email])},
            timeout=30,
        )
    )
    tally.add(requests.get(f"{base}/readyz", timeout=10))
    for _ in range(10):
        time.sleep(codes["interval"] + 0.05)
        answer = tally.add(device.post(f"{base}/api/v1/device/token", json=body, timeout=30))
        if answer.status_code == 200:
            with tally.lock:
                tally.flows += 1
            return
    raise RuntimeError(f"no route for {email}: {answer.text}")


def run(
    base: str, idp, emails, tally: Tally, *, seconds: float, concurrency: int, rate: float | None
) -> None:  # type: ignore[no-untyped-def]
    ends = time.monotonic() + seconds
    gate = threading.Semaphore(concurrency)
    threads = []
    next_start = time.monotonic()
    while time.monotonic() < ends:
        if rate:
            delay = next_start - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_start += 1 / rate
        gate.acquire()
        email = next(emails)

        def flow(email: str = email) -> None:
            try:
                onboard(base, idp, email, tally)
            except Exception as exc:  # noqa: BLE001 - counted, the soak goes on
                with tally.lock:
                    tally.errors[type(exc).__name__ + ": " + str(exc)[:120]] += 1
            finally:
                gate.release()

        thread = threading.Thread(target=flow, daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--load", type=float, default=0.8)
    parser.add_argument(
        "--devices", type=int, default=48, help="concurrent devices measuring capacity"
    )
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL (a PostgreSQL server) and REDIS_URL.")
    parts = urlsplit(admin_url)
    name = f"soak_{os.getpid()}"
    database_url = parts._replace(path=f"/{name}").geturl()
    subprocess.run(
        ["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True
    )
    work = Path(tempfile.mkdtemp(prefix="obs-soak-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = production_environment(
        work,
        DATABASE_URL=database_url,
        CACHE_KEY_PREFIX=name,
        BASE_URL=base,
        DOMAIN_VERIFICATION="off",
        DEVICE_CODE_INTERVAL="1",
        OUTBOUND_ALLOWED_HOSTS="127.0.0.1",
        OUTBOUND_REQUIRE_HTTPS="False",
        ONBOARDING_RATE_LIMITS=",".join(
            f"{limit}=1000000/60"
            for limit in (
                "authorize_address",
                "token_address",
                "lookup_address",
                "callback_address",
                "user_code_address",
            )
        ),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_MAX_REQUESTS="0",
        GUNICORN_ACCESS_LOG="/dev/null",
        LOG_LEVEL="WARNING",
        PROMETHEUS_MULTIPROC_DIR=str(work / "metrics"),
    )
    os.environ.update(env)
    server = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        import django

        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        django.setup()
        from identity.models import IdPKind
        from tests import factories
        from tests.idp_server import IdPServer

        with IdPServer() as idp:
            tenant = factories.ActiveTenantFactory(slug="acme", name="Acme Corp")
            provider = factories.IdentityProviderFactory(
                tenant=tenant,
                name="Acme IdP",
                kind=IdPKind.OIDC,
                issuer=idp.issuer,
                client_id=idp.client_id,
                client_secret=idp.client_secret,
            )
            route = factories.RouteFactory(tenant=tenant, identity_provider=provider)
            factories.MappedDomainFactory(route=route, domain="acme.example")
            emails = iter(f"user{i}@acme.example" for i in range(10**7))
            pool = [f"user{i}@acme.example" for i in range(200_000)]
            for email in pool:
                idp.add_user(email, default=False)

            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
                cwd=ROOT,
                env=env,
            )
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(f"{base}/readyz", timeout=1).ok:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not become ready")
                time.sleep(0.2)

            capacity = Tally()
            started = time.monotonic()
            run(base, idp, emails, capacity, seconds=20, concurrency=args.devices, rate=None)
            rate = capacity.flows / (time.monotonic() - started)
            requests_per_second = sum(capacity.statuses.values()) / (time.monotonic() - started)
            print(
                f"capacity: {rate:.1f} onboardings/s ({requests_per_second:.0f} requests/s), "
                f"statuses {dict(capacity.statuses)}, errors {dict(capacity.errors)}"
            )

            soak = Tally()
            target = args.load * rate
            warm: dict[int, int] = {}

            def sample_warm() -> None:
                time.sleep(10)
                warm.update({pid: _rss_kib(pid) for pid in _workers(server.pid)})

            sampler = threading.Thread(target=sample_warm, daemon=True)
            sampler.start()
            started = time.monotonic()
            run(
                base,
                idp,
                emails,
                soak,
                seconds=args.seconds,
                concurrency=4 * args.devices,
                rate=target,
            )
            elapsed = time.monotonic() - started
            end = {pid: _rss_kib(pid) for pid in _workers(server.pid)}
            fives = sum(n for code, n in soak.statuses.items() if code >= 500)
            print(
                f"soak: {args.seconds:.0f} s at {target:.1f} onboardings/s "
                f"({args.load:.0%} of capacity): {soak.flows} onboardings, "
                f"{sum(soak.statuses.values()) / elapsed:.0f} requests/s, "
                f"statuses {dict(sorted(soak.statuses.items()))}, 5xx {fives}, "
                f"errors {dict(soak.errors)}"
            )
            for pid in sorted(end):
                before = warm.get(pid)
                growth = f"{(end[pid] - before) / before:+.1%}" if before else "(new worker)"
                print(
                    f"worker {pid}: RSS {before} KiB after warm-up, {end[pid]} KiB at the end, {growth}"
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=False)


if __name__ == "__main__":
    main()
