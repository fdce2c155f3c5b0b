"""``make bench-profile``: where one device request spends its time, in this process.

``make bench`` measures throughput from outside; this measures the application alone,
on the same seeded PostgreSQL database and Redis, by calling the WSGI application
directly (no HTTP server, no wrk sharing the cores), so each step of an optimisation
shows up as CPU microseconds per request against the same trivial DRF baseline.

For each endpoint it prints the wall and CPU time per request (median of ``--rounds``)
and the ratio of the baseline's CPU time to the endpoint's: the share of the baseline's
throughput the endpoint could reach when CPU-bound. "View alone" is the CPU of the
endpoint's view called directly, without Django's handler, middleware and signals: what
the endpoint would cost if the framework cost nothing, and its ratio to the whole
baseline request the most any trimming of the framework could give. Last, the CPU one
blocking round trip costs this process with no library around it (a Redis ``PING`` on a
bare socket, a prepared ``SELECT 1`` through psycopg): the machine's floor under each
round trip a request makes. ``--profile NAME`` adds the
cProfile table of one endpoint (``lookup``, ``poll``, ``authorize``, ``baseline``).

Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import cycle
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import device_bench  # noqa: E402

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def environ(path: str, body: bytes | None) -> dict[str, Any]:
    base: dict[str, Any] = {
        "REQUEST_METHOD": "GET" if body is None else "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "192.0.2.10",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if body is not None:
        base["CONTENT_TYPE"] = "application/json"
        base["CONTENT_LENGTH"] = str(len(body))
    base["wsgi.input"] = io.BytesIO(body or b"")
    return base


#: An answer as counted: its status, and for an error the start of its body (read after
#: the measurement for its ``error``: a pending poll and a ``slow_down`` are both 400s).
Answer = tuple[int, bytes]


def _answer(status: int, content: bytes) -> Answer:
    return status, content[:64] if status >= 400 else b""


def answers(counted: Counter[Answer]) -> str:
    """``counted`` for the table: "200×1000, 400 authorization_pending×1000"."""
    named: Counter[str] = Counter()
    for (status, head), n in counted.items():
        error = re.search(rb'"error":\s*"([a-z_]+)"', head)
        named[f"{status} {error.group(1).decode()}" if error else str(status)] += n
    return ", ".join(f"{name}×{n}" for name, n in sorted(named.items()))


def call(app: Callable[..., Any], path: str, body: bytes | None) -> Answer:
    env = environ(path, body)
    statuses: list[str] = []
    result = app(env, lambda status, headers, exc_info=None: statuses.append(status))
    content = b""
    try:
        for chunk in result:
            content = content or chunk
    finally:
        if hasattr(result, "close"):
            result.close()
    return _answer(int(statuses[0].split()[0]), content)


def measure(
    app: Callable[..., Any], path: str, bodies: Iterator[bytes | None], count: int
) -> tuple[float, float, Counter[Answer]]:
    counted: Counter[Answer] = Counter()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        counted[call(app, path, next(bodies))] += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / count * 1e6, cpu / count * 1e6, counted


def measure_view_alone(
    view: Callable[..., Any], path: str, bodies: Iterator[bytes | None], count: int
) -> tuple[float, Counter[Answer]]:
    """CPU µs per request of ``view`` called directly, and the answers it gave.

    A response that still has to be rendered (DRF's) is rendered, as the handler would.
    """
    from django.core.handlers.wsgi import WSGIRequest

    counted: Counter[Answer] = Counter()
    cpu = time.process_time()
    for _ in range(count):
        response = view(WSGIRequest(environ(path, next(bodies))))
        if callable(getattr(response, "render", None)):
            response.render()
        counted[_answer(response.status_code, response.content)] += 1
    return (time.process_time() - cpu) / count * 1e6, counted


def round_trip_cpu(count: int = 2000) -> dict[str, float]:
    """CPU µs per blocking round trip with no library around it, median of three runs."""
    from django.db import connection

    redis_url = urlsplit(os.environ["REDIS_URL"])
    closing = contextlib.ExitStack()
    bare = closing.enter_context(
        socket.create_connection((redis_url.hostname or "127.0.0.1", redis_url.port or 6379))
    )
    bare.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def redis_ping() -> None:
        bare.sendall(b"PING\r\n")
        if not bare.recv(64).startswith(b"+PONG"):
            raise RuntimeError("Redis did not answer PING")

    def select_one() -> None:
        cursor.execute("SELECT 1", prepare=True)
        cursor.fetchall()

    floors: dict[str, float] = {}
    with closing:
        connection.ensure_connection()
        cursor = closing.enter_context(connection.connection.cursor())
        for name, step in (
            ("Redis PING, bare socket", redis_ping),
            ("SELECT 1, psycopg", select_one),
        ):
            runs = []
            for _run in range(3):
                step()
                cpu = time.process_time()
                for _ in range(count):
                    step()
                runs.append((time.process_time() - cpu) / count * 1e6)
            floors[name] = statistics.median(runs)
    return floors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--codes", type=int, default=3000)
    parser.add_argument("--profile", choices=["baseline", "lookup", "poll", "authorize"])
    parser.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"])
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="profile CPU time only (waits on PostgreSQL and Redis count nothing)",
    )
    parser.add_argument("--lines", type=int, default=45)
    args = parser.parse_args()

    db_url = device_bench.bench_database_url()
    device_bench.recreate_database(db_url)
    env = device_bench.server_environment(db_url, 8000)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True
    )

    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application

    from tests.idp_server import IdPServer

    idp = IdPServer(issuer_path="/acme").start()
    try:
        device_bench.seed(idp.issuer, idp.client_id, idp.client_secret)
        emails = [f"user{n}@big.example" for n in range(device_bench.SMALL)]
        codes = [
            json.dumps({"grant_type": GRANT, "device_code": c}).encode()
            for c in device_bench.device_codes(args.codes)
        ]
        tokens = [t.encode() for t in device_bench.id_tokens(idp, emails[:200])]
        authorize = [json.dumps({"email": e}).encode() for e in emails]
        app = get_wsgi_application()
        endpoints: dict[str, tuple[str, list[bytes | None]]] = {
            "baseline": ("/bench/baseline", [None]),
            "plain Django": ("/bench/plain", [None]),
            "lookup": ("/api/v1/onboarding/lookup", list(tokens)),
            "poll": ("/api/v1/device/token", list(codes)),
            "authorize": ("/api/v1/device/authorize", list(authorize)),
        }
        streams = {name: cycle(bodies) for name, (_path, bodies) in endpoints.items()}
        for name, (path, _bodies) in endpoints.items():  # warm caches and connections
            measure(app, path, streams[name], 20)
        # Steady state: every code polled once, as devices do every few seconds, so the
        # measured polls find their state in the shared cache (the first poll after the
        # cache's re-check period reads the database; see onboarding.pollstate).
        measure(app, endpoints["poll"][0], iter(codes), len(codes))
        # Pending codes must not be polled faster than their interval (1 s here).
        time.sleep(1.1)
        from django.urls import resolve

        rows: dict[str, list[tuple[float, float]]] = {name: [] for name in endpoints}
        alone: dict[str, list[float]] = {name: [] for name in endpoints}
        seen: dict[str, Counter[Answer]] = {name: Counter() for name in endpoints}
        seen_alone: dict[str, Counter[Answer]] = {name: Counter() for name in endpoints}
        for _round in range(args.rounds):
            for name, (path, _bodies) in endpoints.items():
                # Each code polled at most once a round: each pass takes half of the codes.
                count = min(args.requests, len(codes) // 2) if name == "poll" else args.requests
                wall, cpu, statuses = measure(app, path, streams[name], count)
                rows[name].append((wall, cpu))
                view_cpu, view_statuses = measure_view_alone(
                    resolve(path).func, path, streams[name], count
                )
                alone[name].append(view_cpu)
                seen[name].update(statuses)
                seen_alone[name].update(view_statuses)
            time.sleep(1.1)

        base_cpu = statistics.median(cpu for _wall, cpu in rows["baseline"])
        print(
            "| endpoint | wall µs/request | CPU µs/request | baseline CPU ÷ endpoint CPU "
            "| view alone: CPU µs | baseline CPU ÷ view alone | answers | answers, view alone |"
        )
        print("|---|---:|---:|---:|---:|---:|---|---|")
        for name, values in rows.items():
            wall = statistics.median(w for w, _c in values)
            cpu = statistics.median(c for _w, c in values)
            view_cpu = statistics.median(alone[name])
            print(
                f"| {name} | {wall:,.0f} | {cpu:,.0f} | {base_cpu / cpu:.2f} "
                f"| {view_cpu:,.0f} | {base_cpu / view_cpu:.2f} "
                f"| {answers(seen[name])} | {answers(seen_alone[name])} |"
            )
        print()
        print("| one blocking round trip, nothing around it | CPU µs |")
        print("|---|---:|")
        for name, floor in round_trip_cpu().items():
            print(f"| {name} | {floor:,.0f} |")
        print()

        if args.profile:
            path, _bodies = endpoints[args.profile]
            profiler = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
            profiler.enable()
            measure(app, path, streams[args.profile], min(args.requests, len(codes) // 2))
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.lines)
            print(out.getvalue())
    finally:
        idp.stop()


if __name__ == "__main__":
    main()
