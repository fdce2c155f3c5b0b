"""Faults injected from outside our code: database triggers, dead servers, closed ports.

Nothing here patches a function of ours; each fault is something a production database,
cache or network can really do, made to happen at a chosen moment.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from django.db import connection
from django.test import override_settings

_TRIGGER = "fault_injected"


@contextlib.contextmanager
def failing_insert(table: str, *, when: str) -> Iterator[None]:
    """Every INSERT into ``table`` whose new row matches ``when`` (SQL over ``NEW``) fails.

    The write fails inside the database, as a constraint, a full disk or a cut connection
    would make it fail, after the statements before it in the same request ran.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER {_TRIGGER} BEFORE INSERT ON {table} WHEN {when} "
                "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
            )
        else:
            cursor.execute(
                f"CREATE FUNCTION {_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'injected fault'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER {_TRIGGER} BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION {_TRIGGER}()"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS {_TRIGGER}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {_TRIGGER} ON {table}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {_TRIGGER}()")


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def cache_unreachable(port: int | None = None, *, timeout: float = 0.5) -> Iterator[None]:
    """The shared cache is Redis at a loopback port nothing answers on (or ``port``).

    Restored before the test's own teardown, which clears the cache.
    """
    location = f"redis://127.0.0.1:{port or closed_port()}/0"
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": location,
                "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout},
            }
        }
    ):
        yield


class SilentServer:
    """A TCP server that accepts connections and never answers: a hung Redis or
    PostgreSQL. Connections are held open until :meth:`close`."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.port = self._socket.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._socket.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                continue
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._socket.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
