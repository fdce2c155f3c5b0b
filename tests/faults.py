"""Faults injected from outside our code: database triggers, dead servers, closed ports.

Nothing here patches a function of ours; each fault is something a production database,
cache or network can really do, made to happen at a chosen moment.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from django.db import connection

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
