"""The shipped gunicorn configuration keeps answering probes while slow clients drip
headers at it (issue 11, item 2): 50 connections, each sending a header line a second
and reconnecting when dropped, for the length of the test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SLOW_CLIENTS = 50
DURATION = 12.0  # seconds of attack: more than the header timeout, so threads free up
PROBE_TIMEOUT = 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "True",  # no production secrets needed to answer /healthz
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",  # as on the machine of the report
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "ONBOARDING_DEVELOPMENT_KEY_FILE": str(tmp_path / "dev-signing-key.pem"),
    }
    env.pop("GUNICORN_HEADER_TIMEOUT", None)
    env.pop("GUNICORN_THREADS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn with gunicorn.conf.py did not start")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _slow_client(port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while not stop.wait(1.0):
                    sock.sendall(b"X-Slow: a\r\n")  # never the blank line that ends headers
        except OSError:
            stop.wait(0.1)  # dropped by the server: come back


def test_probes_are_answered_while_fifty_clients_send_headers_slowly(shipped_server):
    stop = threading.Event()
    attackers = [
        threading.Thread(target=_slow_client, args=(shipped_server, stop), daemon=True)
        for _ in range(SLOW_CLIENTS)
    ]
    for thread in attackers:
        thread.start()
    time.sleep(1.0)  # every slow connection is open and has sent its first bytes
    answered, failed, slowest = 0, 0, 0.0
    ends = time.monotonic() + DURATION
    try:
        while time.monotonic() < ends:
            started = time.monotonic()
            try:
                ok = requests.get(
                    f"http://127.0.0.1:{shipped_server}/healthz", timeout=PROBE_TIMEOUT
                ).ok
            except requests.RequestException:
                ok = False
            slowest = max(slowest, time.monotonic() - started)
            answered, failed = (answered + 1, failed) if ok else (answered, failed + 1)
            time.sleep(0.25)
    finally:
        stop.set()
        for thread in attackers:
            thread.join(timeout=5)
    assert failed == 0, (
        f"{failed} of {answered + failed} probes unanswered (slowest {slowest:.2f} s)"
    )
    assert answered >= 20


def test_the_shipped_worker_reads_bodies_and_keeps_connections_alive(shipped_server):
    """Headers read by the event loop, the body by the thread: nothing is lost between."""
    url = f"http://127.0.0.1:{shipped_server}/api/v1/device/token"
    body = {"grant_type": "password", "device_code": "x" * 2000}
    with requests.Session() as session:  # one kept-alive connection for all requests
        for _ in range(3):
            response = session.post(url, json=body, timeout=5)
            assert response.status_code == 400
            assert response.json()["error"] == "unsupported_grant_type"
        chunked = session.post(
            url,
            data=iter([b'{"grant_type": ', b'"password", "device_code": "x"}']),
            headers={"Content-Type": "application/json"},
            timeout=5,
        )
        assert chunked.json()["error"] == "unsupported_grant_type"
        assert session.get(url.replace("/api/v1/device/token", "/healthz"), timeout=5).ok


def test_a_client_that_never_finishes_its_headers_is_disconnected(shipped_server):
    with socket.create_connection(("127.0.0.1", shipped_server), timeout=15) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, without an answer
    assert time.monotonic() - started < 8  # GUNICORN_HEADER_TIMEOUT (5 s) and a loop tick
