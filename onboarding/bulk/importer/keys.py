"""The mapping keys of one import, kept on disk in a private SQLite database.

An import compares every mapped user and domain of the file with the company's current
ones. A 50 MiB file (the admin's limit) holds some 1.5 million of them; kept as Python
strings in dictionaries, one for the file and one for the database, they made a
process importing such a file peak at 290 to 770 MiB. Here they live in SQLite's
temporary database, which spills to a file beyond :data:`CACHE_KIB` of page cache, so
the import's memory no longer grows with the file. The database is private to the
import and deleted when it is closed.

Four tables, each in the order its rows were added (``seq``):

* ``file``: one row per key of the file (``kind``, ``key``, route ``ordinal``, ``line``);
  unique per kind, so the first line of a key stays and later ones are duplicates;
* ``company``: the company's current mappings (``key``, row ``pk``, ``route_id``);
* ``change``: the plan, one row per mapping to ``create`` (key, ordinal), ``move``
  (pk, ordinal) or ``remove`` (pk);
* ``domain``: the domains the created mappings are under, to claim them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

#: SQLite's page cache for this database; beyond it, pages go to the temporary file.
CACHE_KIB = 16 * 1024
CREATE, MOVE, REMOVE = "create", "move", "remove"

_SCHEMA = (
    "CREATE TABLE file (seq INTEGER PRIMARY KEY, kind TEXT, key TEXT, ordinal INTEGER,"
    " line INTEGER)",
    "CREATE UNIQUE INDEX file_key ON file (kind, key)",
    "CREATE TABLE company (seq INTEGER PRIMARY KEY, kind TEXT, key TEXT, pk INTEGER,"
    " route_id INTEGER)",
    "CREATE UNIQUE INDEX company_key ON company (kind, key)",
    "CREATE TABLE change (seq INTEGER PRIMARY KEY, kind TEXT, action TEXT, key TEXT,"
    " pk INTEGER, ordinal INTEGER)",
    "CREATE TABLE domain (kind TEXT, name TEXT, labels INTEGER, PRIMARY KEY (kind, name))",
)


class KeyStore:
    """The file's keys, the company's current mappings and the plan, per mapping kind.

    Queries read tables ``NOT INDEXED`` where the order of the rows matters: a scan in
    ``seq`` order gives file order (and so messages in file order) without a sort.
    """

    def __init__(self) -> None:
        # "": a private temporary database on disk, deleted when the connection closes.
        self._db = sqlite3.connect("", isolation_level=None)
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        for statement in _SCHEMA:
            self._db.execute(statement)
        # One transaction for the whole import: no journal work per row (nothing here
        # needs to survive the import).
        self._db.execute("BEGIN")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # The file ---------------------------------------------------------------------

    def add(self, kind: str, key: str, ordinal: int, line: int) -> tuple[int, int] | None:
        """Add a key of the file; if the file had it already, its (ordinal, line) there."""
        added = self._db.execute(
            "INSERT OR IGNORE INTO file (kind, key, ordinal, line) VALUES (?, ?, ?, ?)",
            (kind, key, ordinal, line),
        )
        if added.rowcount:
            return None
        first = self._db.execute(
            "SELECT ordinal, line FROM file WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
        return first[0], first[1]

    def count(self, kind: str) -> int:
        return self._count("SELECT count(*) FROM file WHERE kind = ?", kind)

    # The company ------------------------------------------------------------------

    def add_current(self, kind: str, rows: Iterable[tuple[str, int, int]]) -> None:
        """The company's mappings of ``kind`` as (key, pk, route_id)."""
        self._db.executemany(
            "INSERT OR REPLACE INTO company (kind, key, pk, route_id) VALUES (?, ?, ?, ?)",
            ((kind, key, pk, route_id) for key, pk, route_id in rows),
        )

    def both(self, kind: str) -> Iterator[tuple[str, int, int, int]]:
        """(key, ordinal, pk, route_id) of the file's keys the company maps, in file order."""
        return self._rows(
            "SELECT f.key, f.ordinal, c.pk, c.route_id FROM file AS f NOT INDEXED"
            " JOIN company AS c ON c.kind = f.kind AND c.key = f.key"
            " WHERE f.kind = ? ORDER BY f.seq",
            kind,
        )

    def only_in_file(self, kind: str, size: int) -> Iterator[list[tuple[str, int, int]]]:
        """(key, ordinal, line) of the file's keys the company does not map, in file order,
        ``size`` at a time."""
        return self._batches(
            "SELECT f.key, f.ordinal, f.line FROM file AS f NOT INDEXED WHERE f.kind = ?"
            " AND NOT EXISTS (SELECT 1 FROM company AS c WHERE c.kind = f.kind AND c.key = f.key)"
            " ORDER BY f.seq",
            (kind,),
            size,
            tuple,
        )

    def only_in_company(self, kind: str) -> Iterator[tuple[str, int]]:
        """(key, pk) of the company's mappings the file does not list, in database order."""
        return self._rows(
            "SELECT c.key, c.pk FROM company AS c NOT INDEXED WHERE c.kind = ?"
            " AND NOT EXISTS (SELECT 1 FROM file AS f WHERE f.kind = c.kind AND f.key = c.key)"
            " ORDER BY c.seq",
            kind,
        )

    # The plan ---------------------------------------------------------------------

    def plan(self, kind: str, action: str, *, key: str = "", pk: int = 0, ordinal: int = 0) -> None:
        self._db.execute(
            "INSERT INTO change (kind, action, key, pk, ordinal) VALUES (?, ?, ?, ?, ?)",
            (kind, action, key, pk, ordinal),
        )

    def planned(self, kind: str) -> int:
        return self._count("SELECT count(*) FROM change WHERE kind = ?", kind)

    def removals(self, kind: str, size: int) -> Iterator[list[int]]:
        """The pks to delete, ``size`` at a time."""
        return self._batches(
            "SELECT pk FROM change WHERE kind = ? AND action = ? ORDER BY seq",
            (kind, REMOVE),
            size,
            lambda row: row[0],
        )

    def moves(self, kind: str, size: int) -> Iterator[tuple[int, list[int]]]:
        """(route ordinal, pks) to move there, at most ``size`` pks at a time."""
        rows = self._db.execute(
            "SELECT ordinal, pk FROM change WHERE kind = ? AND action = ? ORDER BY ordinal, seq",
            (kind, MOVE),
        )
        ordinal, pks = -1, list[int]()
        for row_ordinal, pk in rows:
            if pks and (row_ordinal != ordinal or len(pks) == size):
                yield ordinal, pks
                pks = []
            ordinal = row_ordinal
            pks.append(pk)
        if pks:
            yield ordinal, pks

    def creations(self, kind: str, size: int) -> Iterator[list[tuple[str, int]]]:
        """(key, route ordinal) to create, in file order, ``size`` at a time."""
        return self._batches(
            "SELECT key, ordinal FROM change WHERE kind = ? AND action = ? ORDER BY seq",
            (kind, CREATE),
            size,
            tuple,
        )

    def add_domains(self, kind: str, names: Iterable[str]) -> None:
        """Domains the created mappings of ``kind`` are under (each kept once)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO domain (kind, name, labels) VALUES (?, ?, ?)",
            ((kind, name, name.count(".") + 1) for name in names),
        )

    def domains(self, kind: str, size: int) -> Iterator[list[str]]:
        """The domains added for ``kind``, the fewest labels first, ``size`` at a time.

        In this order a domain comes after every domain above it (example.com before
        mail.example.com), so claiming them batch by batch claims the same widest names
        as claiming them all at once.
        """
        return self._batches(
            "SELECT name FROM domain WHERE kind = ? ORDER BY labels, name",
            (kind,),
            size,
            lambda row: row[0],
        )

    # -------------------------------------------------------------------------------

    def _count(self, sql: str, kind: str) -> int:
        return int(self._db.execute(sql, (kind,)).fetchone()[0])

    def _rows(self, sql: str, kind: str) -> Iterator[Any]:
        # A cursor of its own: the caller may add plan rows while reading these.
        yield from self._db.cursor().execute(sql, (kind,))

    def _batches(
        self, sql: str, parameters: tuple[Any, ...], size: int, convert: Any
    ) -> Iterator[list[Any]]:
        rows = self._db.cursor().execute(sql, parameters)
        while batch := rows.fetchmany(size):
            yield [convert(row) for row in batch]
