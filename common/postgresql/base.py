"""Django's PostgreSQL backend, with a health check that costs no round trip when idle.

``CONN_HEALTH_CHECKS`` makes Django ask ``SELECT 1`` before the first statement of every
request on a persistent connection: on the device path that was a round trip and a
statement for PostgreSQL to run on every request, for a connection almost always fine.
A connection the server ended (a restart, an idle timeout, a terminated backend) has
something waiting on its socket: the server's FATAL message, then the close. So the
socket is asked first, without waiting; only when something is there (or the connection
is not idle) does ``SELECT 1`` decide. A server gone without a word (a network cut)
would not have answered ``SELECT 1`` either: the request's first statement fails, the
request gets its error, and Django closes the connection after it.

Its operations also log statements bound server-side (common.postgresql.prepared) with
their values, as Django logs its own (``connection.queries``, ``CaptureQueriesContext``).

``ENGINE = "common.postgresql"`` (config/settings.py sets it for postgres:// URLs).
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base, operations
from psycopg.pq import TransactionStatus


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str:
        if isinstance(cursor, psycopg.ClientCursor):
            return super().last_executed_query(cursor, sql, params)
        try:  # bound server-side: psycopg kept the statement with $n placeholders only
            return self.compose_sql(sql, params)
        except psycopg.errors.DataError:
            return sql  # a value it cannot write out: the statement without its values


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    #: Set when the connection must not outlive the request (common.postgresql.prepared):
    #: Django closes it after a request that had an error and is not usable.
    discard_after_request = False

    def connect(self) -> None:
        self.discard_after_request = False
        super().connect()

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or self.discard_after_request:
            return False
        waiting: list[Any]
        try:
            poller = select.poll()  # not select.select: a worker's descriptors pass 1024
            poller.register(connection.fileno(), select.POLLIN)
            waiting = poller.poll(0)
        except (OSError, ValueError, AttributeError):  # no poll() on Windows
            waiting = [None]  # cannot tell: ask the server
        if not waiting and connection.pgconn.transaction_status == TransactionStatus.IDLE:
            return True
        return bool(super().is_usable())
