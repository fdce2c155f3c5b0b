"""Statements a device request runs every time, prepared once per connection on PostgreSQL.

:func:`execute` runs a statement; :func:`insert` writes a new model instance.

Django sends every statement with its values merged in (client-side binding) and with
psycopg's automatic preparation off, so PostgreSQL parses and plans each one anew: for
the routing statement, with its subqueries, planning cost several times what running
it does. :func:`execute` sends a statement with its parameters apart and ``prepare=True``
on PostgreSQL, so its connection parses and plans it once and then only runs it. On
any other database it is Django's cursor as usual.

``DB_PREPARED_STATEMENTS=False`` turns this off, for a PgBouncer in transaction mode
without prepared-statement support (docs/deployment.md). Statements name their columns:
PostgreSQL re-plans a prepared statement by itself when a migration adds a column, but a
column it returns changing type (a longer ``max_length``) makes the statement fail
("cached plan must not change result type") until its connection forgets it. Such a
connection is replaced: at once (and the statement run again) outside a transaction,
after the request inside one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import NotSupportedError, connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model


class _PreparedCursor(psycopg.Cursor[Any]):
    """A server-side-binding cursor whose every statement is prepared.

    Django leaves psycopg's preparing off on its connections (threshold None), and then
    psycopg prepares nothing, even when asked; on (any number), it would also keep the
    text of every other statement of the connection, counting them. So it is on only
    for the statements of this cursor.
    """

    def execute(
        self,
        query: Any,
        params: Any = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> _PreparedCursor:
        connection = self.connection
        threshold = connection.prepare_threshold
        connection.prepare_threshold = 0
        try:
            super().execute(query, params, prepare=True, binary=binary)
        finally:
            connection.prepare_threshold = threshold
        return self


def execute(
    connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Run ``sql`` (``%s`` placeholders) and return its column names and rows.

    ``sql`` names its columns (no ``*``): their names are read once per statement.

    The statement goes through Django's cursor wrapper either way, so it is counted and
    logged like any other (``CaptureQueriesContext``, ``connection.queries``) and its
    errors are Django's.
    """
    if connection.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return _result(cursor)
    try:
        return _execute_prepared(connection, sql, params)
    except NotSupportedError as exc:
        if not _plan_changed(exc):
            raise
        # The connection's statement no longer fits its tables (see the module).
        connection.discard_after_request = True  # type: ignore[attr-defined]  # common.postgresql
        if connection.in_atomic_block:
            raise
        connection.close()
    return _execute_prepared(connection, sql, params)


def _execute_prepared(
    connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    # What connection.cursor() does, with this cursor class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        connection.validate_thread_sharing()
        raw = _cursor_of(connection)
    cursor = (
        connection.make_debug_cursor(raw)
        if connection.queries_logged
        else connection.make_cursor(raw)
    )
    cursor.execute(sql, params)
    return _result(cursor, sql)


def _plan_changed(exc: NotSupportedError) -> bool:
    cause = exc.__cause__
    return isinstance(
        cause, psycopg.errors.FeatureNotSupported
    ) and "cached plan must not change result type" in str(cause)


def _cursor_of(connection: BaseDatabaseWrapper) -> Any:
    """The connection's own prepared-statement cursor, kept while the connection lives:
    a new cursor would work out again how to send each parameter and read each column."""
    cursor: _PreparedCursor | None = getattr(connection, "_obs_prepared_cursor", None)
    if cursor is None or cursor.closed or cursor.connection is not connection.connection:
        cursor = _PreparedCursor(connection.connection)
        connection._obs_prepared_cursor = cursor  # type: ignore[attr-defined]
    return cursor


#: Each statement's column names, read from its first result: psycopg builds its
#: description anew on every read, and a statement that names its columns keeps them.
_COLUMNS: dict[str, tuple[str, ...]] = {}


def _result(cursor: Any, sql: str | None = None) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    columns = _COLUMNS.get(sql) if sql is not None else None
    if columns is None:
        description = cursor.description
        if description is None:
            return (), []
        columns = tuple(column[0] for column in description)
        if sql is not None and len(_COLUMNS) < 256:
            _COLUMNS[sql] = columns
    return columns, cursor.fetchall()


def insert(instance: Model, *, durable: bool = True) -> None:
    """Write the new ``instance`` as one INSERT ... RETURNING its key, prepared.

    What ``instance.save(force_insert=True)`` does (each field's ``pre_save`` and
    database value, the key and state set after), without building the statement
    through the ORM on every call: for a model with an automatic key, its related
    objects saved, and no signal receivers, inheritance or ``db_default`` (which
    ``save`` would honour).

    ``durable=False`` (PostgreSQL): the transaction that writes the row commits
    asynchronously (``synchronous_commit`` off for that transaction alone, set by the
    statement itself, so it costs no round trip). The commit then returns without
    waiting for the disk: a crash of the database server, not of this process, can lose
    what was committed in its last moments (three times ``wal_writer_delay``, 0.6 s by
    default); nothing else changes, the database stays consistent. For rows that are
    cheap to lose and costly to wait for: a device code, which the device asks again for.
    """
    model = type(instance)
    connection = connections[router.db_for_write(model, instance=instance)]
    if not connection.features.can_return_columns_from_insert:
        instance.save(force_insert=True)
        return
    fields = insert_fields(model)
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    sql = _insert_sql(model, connection.alias, durable or connection.vendor != "postgresql")
    _columns, rows = execute(connection, sql, values)
    instance.pk = rows[0][0]
    instance._state.adding = False
    instance._state.db = connection.alias


@functools.cache
def insert_fields(model: type[Model]) -> tuple[Field[Any, Any], ...]:
    """The fields a new row of ``model`` is written with: all but its automatic key."""
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


@functools.cache
def insert_target(model: type[Model], alias: str) -> str:
    """``table (column, ...)`` of :func:`insert_fields`, quoted for the database ``alias``:
    what an INSERT or a COPY of new rows names."""
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in insert_fields(model))
    return f"{quote(model._meta.db_table)} ({columns})"


@functools.cache
def _insert_sql(model: type[Model], alias: str, durable: bool = True) -> str:
    placeholders = ", ".join(["%s"] * len(insert_fields(model)))
    key = connections[alias].ops.quote_name(str(model._meta.pk.column))
    # Names from the model's metadata, quoted; the values are parameters.
    target = insert_target(model, alias)
    sql = f"INSERT INTO {target} VALUES ({placeholders}) RETURNING {key}"  # noqa: S608
    if not durable:
        # SET LOCAL as a function, evaluated with the row: it holds until the end of the
        # transaction, whose commit then does not wait for the disk (PostgreSQL's
        # "asynchronous commit"). Its value, a second column, is not read.
        sql += ", set_config('synchronous_commit', 'off', true)"
    return sql
