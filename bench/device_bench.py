"""``make bench``: the device endpoints against the framework's own floor, on PostgreSQL + Redis.

What it does, in one run:

1. Creates a fresh PostgreSQL database (``<DATABASE_URL's name>_bench``), migrates it and
   seeds one activated company with a verified domain, a route, an OpenID provider served
   on loopback by this process (discovery, JWKS) and 1,000 mapped users.
2. Starts gunicorn from the checkout (the shipped ``gunicorn.conf.py`` when present,
   2 workers) with ``DEBUG=False``, the shared Redis cache, rate limits raised by a
   setting (never by code) and ``BENCH_BASELINE=True``, which adds a trivial DRF view
   (``AllowAny``, no authentication, ``{"ok": true}``).
3. Runs ``wrk`` against the baseline, ``onboarding/lookup`` (valid ID tokens, warm JWKS),
   ``device/token`` (pending codes, each polled no faster than its interval) and
   ``device/authorize``, interleaved for ``--rounds`` rounds, and prints req/s, p50, p99
   and each endpoint's ratio to the baseline of the same round; then, where ``/proc``
   can be read (Linux), each endpoint's CPU per request, split between the server's
   workers, PostgreSQL, Redis and the rest of the machine (wrk, the kernel).
4. Counts SQL statements and Redis commands of one request of each kind.
5. Grows the table to ``--big`` mapped users and compares lookup p99 (a user match and a
   domain-only match) at 1,000 and at that size.

Nothing here asserts a time: it prints numbers for ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
WRK = Path(__file__).resolve().parent / "wrk"
PY = sys.executable
sys.path.insert(0, str(ROOT))

SMALL = 1_000
THREADS = 2
CONNECTIONS = 16
#: Issue 12's targets: req/s as a share of the baseline's, SQL statements per request.
RATIO_TARGETS = {
    "onboarding/lookup": 0.40,
    "device/token (pending)": 0.70,
    "device/authorize": 0.35,
}
#: (authorize: statements inside its one transaction; the route is read before it.)
SQL_TARGETS = {"onboarding/lookup": 2, "device/token (pending)": 0, "device/authorize": 2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")) or not os.environ.get("REDIS_URL"):
        sys.exit(
            "make bench needs PostgreSQL and Redis: set DATABASE_URL=postgres://... and REDIS_URL=redis://..."
        )
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "obs"
    return urlunsplit(parts._replace(path=f"/{name}_bench"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = parts.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def signing_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def server_environment(db_url: str, port: int) -> dict[str, str]:
    from cryptography.fernet import Fernet

    limits = ",".join(
        f"{name}=100000000/60"
        for name in (
            "authorize_address",
            "authorize_email",
            "token_address",
            "token_email",
            "lookup_address",
            "lookup_email",
            "user_code_address",
            "callback_address",
        )
    )
    return {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": "bench-" + os.urandom(24).hex(),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ONBOARDING_SIGNING_KEYS": signing_key_pem(),
        "DATABASE_URL": db_url,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "BENCH_BASELINE": "True",
        "ONBOARDING_RATE_LIMITS": limits,
        "DEVICE_CODE_INTERVAL": "1",
        "DEVICE_CODE_EXPIRES_IN": "3600",
        "ONBOARDING_LOOKUP_MAX_TOKEN_AGE": "3600",
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "OUTBOUND_REQUIRE_HTTPS": "False",
        "LOG_LEVEL": "ERROR",
        "CACHE_KEY_PREFIX": f"bench-{os.getpid()}",
    }


# --- Seeding (in this process, through the services) ------------------------------------


def seed(idp_issuer: str, client_id: str, client_secret: str) -> dict[str, Any]:
    from domains.models import CompanyDomain
    from domains.services import domain_claim, domain_verify_by_operator
    from identity.services import idp_create
    from onboarding.models import MappedUser
    from onboarding.services import chain_for_route, mapped_domain_add, route_create
    from tenants.services import membership_save, onboarding_activate, tenant_create
    from tests import pki

    tenant = tenant_create(slug="acme", name="Acme Corp")
    membership_save(tenant=tenant, email="alice@acme.example", role="super_admin")
    onboarding_activate(tenant=tenant, by_email="alice@acme.example")
    for domain in ("acme.example", "big.example"):
        claim, _ = domain_claim(tenant=tenant, domain=domain)
        domain_verify_by_operator(claim=claim, by="bench")
    idp = idp_create(
        tenant=tenant,
        name="Acme IdP",
        kind="oidc",
        client_id=client_id,
        client_secret=client_secret,
        issuer=idp_issuer,
    )
    chain = chain_for_route(
        tenant=tenant,
        data=pki.pem_bundle(pki.chain(intermediates=1)).encode(),
        filename="chain.pem",
        name="Berlin UMS",
    )
    route = route_create(
        tenant=tenant,
        display_name="Berlin UMS",
        ums_hostname="UMS01.Acme.example",
        identity_provider=idp,
        certificate_chain=chain,
    )
    mapped_domain_add(route=route, domain="acme.example")
    MappedUser.objects.bulk_create(
        MappedUser(route=route, tenant=tenant, email=f"user{n}@big.example") for n in range(SMALL)
    )
    assert CompanyDomain.objects.filter(status="verified").count() == 2
    return {"route_id": route.pk, "tenant_id": tenant.pk}


def grow_users(total: int, seeded: dict[str, Any]) -> None:
    """Add mapped users up to ``total`` with one INSERT ... SELECT (other companies' too)."""
    from django.db import DatabaseError, connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        # A million rows through the tenant trigger take longer than a request may.
        cursor.execute("SET LOCAL statement_timeout = 0")
        cursor.execute(
            "INSERT INTO onboarding_mappeduser (route_id, tenant_id, email, created_at) "
            "SELECT %s, %s, 'user' || n || '@big.example', now() "
            "FROM generate_series(%s, %s) AS n",
            [seeded["route_id"], seeded["tenant_id"], SMALL, total - 1],
        )
    with connection.cursor() as cursor:
        # As autovacuum leaves a table some time after a bulk import: statistics, and the
        # new rows' visibility settled (else the first reads of each page write it).
        cursor.execute("VACUUM (ANALYZE) onboarding_mappeduser")
        # And as a server that imported a while ago: the import's pages written out, not
        # flushed by the checkpointer during the first measurement (one run's user-match
        # p99 was 1.42x, the next 1.04x, with the flush falling in the first).
        try:
            cursor.execute("CHECKPOINT")
        except DatabaseError as exc:  # not a superuser (or pg_checkpoint): measured as is
            print(f"(no CHECKPOINT after the import: {exc})")


def device_codes(count: int) -> list[str]:
    from onboarding.device_flow import device_authorization_start

    return [
        device_authorization_start(email=f"user{n % SMALL}@big.example").device_code
        for n in range(count)
    ]


# --- Load ---------------------------------------------------------------------------------

_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


# --- Where the CPU goes (Linux: /proc) ------------------------------------------------

#: The server's process group (gunicorn's arbiter and workers), once it is started.
SERVER_GROUP: int | None = None
#: Kinds of process whose CPU is counted apart; the rest of the machine's is "other".
KINDS = ("app", "postgresql", "redis")


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU ticks used so far: the machine's (``busy``, and ``total`` with idle time) and
    each process's, by ``(pid, start time)`` (a pid can be reused): ``(kind, ticks)``."""

    busy: int
    total: int
    processes: dict[tuple[int, int], tuple[str, int]]


def _kind(comm: str, group: int) -> str:
    if SERVER_GROUP is not None and group == SERVER_GROUP:
        return "app"
    if comm in ("postgres", "postmaster"):
        return "postgresql"
    if comm == "redis-server":
        return "redis"
    return "other"


def cpu_ticks(proc: str = "/proc") -> CpuSnapshot | None:
    """The machine's and every process's CPU ticks now; None where ``proc`` cannot be read
    (not Linux)."""
    try:
        with open(f"{proc}/stat") as handle:
            user, nice, system, idle, iowait, irq, softirq, steal = (
                int(v) for v in handle.readline().split()[1:9]
            )
    except (OSError, ValueError):
        return None
    busy = user + nice + system + irq + softirq
    processes: dict[tuple[int, int], tuple[str, int]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{proc}/{entry.name}/stat") as handle:
                stat = handle.read()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": the name may hold spaces and parentheses.
        try:
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            group, utime, stime, started = (int(fields[i]) for i in (2, 11, 12, 19))
        except (ValueError, IndexError):  # not the layout above: not counted apart
            continue
        processes[(int(entry.name), started)] = (_kind(comm, group), utime + stime)
    return CpuSnapshot(busy, busy + idle + iowait + steal, processes)


def cpu_per_request(
    before: CpuSnapshot | None, after: CpuSnapshot | None, requests: float
) -> dict[str, float]:
    """Microseconds of CPU per request, by kind of process, between two snapshots, and the
    machine's idle share. A process started meanwhile counts in full; one that ended
    meanwhile (a database connection replaced, wrk itself) is not seen again, and its
    CPU of the interval is in "other": the rest of the machine's (wrk, the kernel's
    network work, this process)."""
    if before is None or after is None or requests <= 0:
        return {}
    per_tick = 1e6 / os.sysconf("SC_CLK_TCK") / requests
    used = dict.fromkeys(KINDS, 0.0)
    for key, (kind, ticks) in after.processes.items():
        if kind in used:
            _kind_before, ticks_before = before.processes.get(key, (kind, 0))
            used[kind] += (ticks - ticks_before) * per_tick
    machine = (after.busy - before.busy) * per_tick
    idle = 1 - (after.busy - before.busy) / max(1, after.total - before.total)
    return {"machine": machine, **used, "other": machine - sum(used.values()), "idle": idle}


def wrk(url: str, *, script: str, bodies: list[str] | None, seconds: int) -> dict[str, Any]:
    env = {**os.environ, "BENCH_THREADS": str(THREADS)}
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        handle.write("\n".join(bodies or ["{}"]) + "\n")
        env["BENCH_BODIES"] = handle.name
    before = cpu_ticks()
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{THREADS}",
                f"-c{CONNECTIONS}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                str(WRK / script),
                url,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(env["BENCH_BODIES"])
    after = cpu_ticks()
    requests = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    latency = {p: float(v) * _UNITS[u] for p, v, u in _LATENCY.findall(out)}
    return {
        "rps": float(_RATE.search(out).group(1)),  # type: ignore[union-attr]
        "p50": latency["50"],
        "p99": latency["99"],
        "non2xx": float(errors.group(1)) if errors else 0.0,
        "cpu": cpu_per_request(before, after, float(requests.group(1)) if requests else 0.0),
    }


def id_tokens(idp: Any, emails: list[str]) -> list[str]:
    return [
        json.dumps({"id_token": idp.id_token(user=idp.add_user(e, sub=f"sub-{e}"))}) for e in emails
    ]


# --- Counting SQL and Redis per request ---------------------------------------------------


def counts_per_request(bodies: dict[str, Any]) -> dict[str, tuple[list[str], int]]:
    """SQL statements and Redis commands of one request of each kind (in this process)."""
    import redis
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(REMOTE_ADDR="192.0.2.10", HTTP_HOST="127.0.0.1")
    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    result: dict[str, tuple[list[str], int]] = {}
    for name, (path, body) in bodies.items():
        if body is None:
            client.get(path)  # warm
        else:
            client.post(path, data=body, content_type="application/json")  # warm caches
        before = int(r.info("stats")["total_commands_processed"])
        with CaptureQueriesContext(connection) as queries:
            if body is None:
                client.get(path)
            else:
                client.post(path, data=body, content_type="application/json")
        after = int(r.info("stats")["total_commands_processed"])
        kinds = [q["sql"].split()[0].upper() for q in queries.captured_queries]
        result[name] = (kinds, after - before - 1)  # minus our own INFO
    return result


# --- Main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--codes", type=int, default=8_000)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="GUNICORN_THREADS for the server (default: the shipped configuration's)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")

    db_url = bench_database_url()
    recreate_database(db_url)
    port = free_port()
    env = server_environment(db_url, port)
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from tests.idp_server import IdPServer

    idp = IdPServer(issuer_path="/acme").start()
    seeded = seed(idp.issuer, idp.client_id, idp.client_secret)
    print(f"seeded {SMALL} mapped users; creating {args.codes} pending device codes ...")
    codes = [
        json.dumps({"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": c})
        for c in device_codes(args.codes)
    ]

    command = [
        str(Path(PY).parent / "gunicorn"),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]
    if (ROOT / "gunicorn.conf.py").exists():
        command[2:2] = ["-c", "gunicorn.conf.py"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    global SERVER_GROUP
    SERVER_GROUP = server.pid  # its own session, so its own process group
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        for _ in range(100):
            try:
                if requests.get(base + "/bench/baseline", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        run(args, base, idp, codes, seeded)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        idp.stop()


def run(
    args: argparse.Namespace, base: str, idp: Any, codes: list[str], seeded: dict[str, Any]
) -> None:
    user_emails = [f"user{n}@big.example" for n in range(SMALL)]
    authorize = [json.dumps({"email": e}) for e in user_emails]
    endpoints = {
        "trivial DRF": ("/bench/baseline", "get.lua", None),
        "onboarding/lookup": ("/api/v1/onboarding/lookup", "post_lines.lua", "lookup"),
        "device/token (pending)": ("/api/v1/device/token", "post_lines.lua", codes),
        "device/authorize": ("/api/v1/device/authorize", "post_lines.lua", authorize),
    }
    # Warm every worker: JWKS and discovery fetched once, connections open.
    for path, script, bodies in endpoints.values():
        body = id_tokens(idp, user_emails[:50]) if bodies == "lookup" else bodies
        wrk(base + path, script=script, bodies=body, seconds=2)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in endpoints}
    for round_no in range(args.rounds):
        for name, (path, script, bodies) in endpoints.items():
            body = id_tokens(idp, user_emails[:200]) if bodies == "lookup" else bodies
            results[name].append(wrk(base + path, script=script, bodies=body, seconds=args.seconds))
        print(f"round {round_no + 1}/{args.rounds} done")

    print()
    print(
        f"| endpoint | req/s (median of {args.rounds}) | ratio to trivial DRF (per round) "
        "| target | p50 ms | p99 ms | non-2xx |"
    )
    print("|---|---:|---|---|---:|---:|---:|")
    baseline = results["trivial DRF"]
    for name, rows in results.items():
        ratios = [r["rps"] / b["rps"] for r, b in zip(rows, baseline, strict=True)]
        print(
            f"| {name} | {statistics.median(r['rps'] for r in rows):,.0f} | "
            f"{min(ratios):.2f}–{max(ratios):.2f} (median {statistics.median(ratios):.2f}) | "
            f"{_verdict(statistics.median(ratios), RATIO_TARGETS.get(name), at_least=True)} | "
            f"{statistics.median(r['p50'] for r in rows):.2f} | "
            f"{statistics.median(r['p99'] for r in rows):.2f} | {sum(r['non2xx'] for r in rows):.0f} |"
        )

    print_cpu(results)

    counted = counts_per_request(
        {
            "trivial DRF": ("/bench/baseline", None),
            "onboarding/lookup": ("/api/v1/onboarding/lookup", id_tokens(idp, [user_emails[1]])[0]),
            "device/token (pending)": ("/api/v1/device/token", codes[0]),
            "device/authorize": ("/api/v1/device/authorize", authorize[2]),
        },
    )
    print()
    print("| endpoint | SQL statements | target | Redis commands |")
    print("|---|---|---|---:|")
    for name, (kinds, redis_commands) in counted.items():
        # Authorize's target counts the statements inside its one transaction.
        inside = (
            kinds[kinds.index("BEGIN") + 1 : kinds.index("COMMIT")] if "BEGIN" in kinds else kinds
        )
        counted_sql = len(inside) if name == "device/authorize" else len(kinds)
        verdict = _verdict(counted_sql, SQL_TARGETS.get(name), at_least=False)
        print(f"| {name} | {' '.join(kinds) or 'none'} | {verdict} | {redis_commands} |")

    scale(args, base, idp, seeded)


def print_cpu(results: dict[str, list[dict[str, Any]]]) -> None:
    """Where each endpoint's CPU goes, per request: the server's workers, PostgreSQL,
    Redis and the rest of the machine (median of the rounds). With the machine busy, an
    endpoint's req/s ratio is about the baseline's CPU per request over its own."""
    if not all(row["cpu"] for rows in results.values() for row in rows):
        print("\n(CPU per request: only where /proc can be read)")
        return
    print()
    print(
        "| endpoint | machine µs/request | app workers | PostgreSQL | Redis "
        "| other (wrk, kernel) | machine idle |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        median = {k: statistics.median(r["cpu"][k] for r in rows) for k in rows[0]["cpu"]}
        print(
            f"| {name} | {median['machine']:,.0f} | {median['app']:,.0f} | "
            f"{median['postgresql']:,.0f} | {median['redis']:,.0f} | {median['other']:,.0f} | "
            f"{median['idle']:.0%} |"
        )
    for kind, name in (("postgresql", "PostgreSQL"), ("redis", "Redis")):
        if not any(row["cpu"][kind] for rows in results.values() for row in rows):
            print(f"({name}'s processes were not seen here: its CPU is in no column.)")


def _lookup_p99(base: str, idp: Any, emails: list[str], seconds: int) -> float:
    bodies = id_tokens(idp, emails)
    return wrk(
        base + "/api/v1/onboarding/lookup", script="post_lines.lua", bodies=bodies, seconds=seconds
    )["p99"]


def _verdict(value: float, target: float | None, *, at_least: bool) -> str:
    if target is None:
        return "—"
    met = value >= target if at_least else value <= target
    sign = "≥" if at_least else "≤"
    return f"{sign} {target:g}: {'met' if met else 'NOT met'}"


def scale(args: argparse.Namespace, base: str, idp: Any, seeded: dict[str, Any]) -> None:
    """Lookup p99 at 1,000 and at ``--big`` mapped users: each the median of 3 runs (one
    short run's p99 is a handful of requests)."""
    domain_only = [f"someone{n}@acme.example" for n in range(200)]
    small_users = [f"user{n}@big.example" for n in range(0, SMALL, 5)]
    small = {
        "user match": _median_p99(base, idp, small_users, args.seconds),
        "domain-only match": _median_p99(base, idp, domain_only, args.seconds),
    }
    print(f"\ngrowing to {args.big:,} mapped users ...")
    grow_users(args.big, seeded)
    spread = [f"user{n}@big.example" for n in range(0, args.big, args.big // 200)]
    large = {
        "user match": _median_p99(base, idp, spread, args.seconds),
        "domain-only match": _median_p99(base, idp, domain_only, args.seconds),
    }
    print()
    print(f"| lookup | p99 ms at {SMALL:,} users | p99 ms at {args.big:,} users | ratio |")
    print("|---|---:|---:|---:|")
    for name in small:
        print(
            f"| {name} | {small[name]:.2f} | {large[name]:.2f} | {large[name] / small[name]:.2f} |"
        )


def _median_p99(base: str, idp: Any, emails: list[str], seconds: int) -> float:
    return statistics.median(_lookup_p99(base, idp, emails, seconds) for _ in range(3))


if __name__ == "__main__":
    main()
