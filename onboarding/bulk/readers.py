"""Read route import files (JSON of spec 4.1, or CSV) into records with line numbers.

Both readers stream: they yield one :class:`MappingRecord` per mapped user or domain as
it is read, so a file of any length needs memory only for the route records (a few
per file) and the current chunk. Nothing here validates values beyond their shape;
:mod:`onboarding.bulk.importer` applies the model rules.

A reader yields, in any order: ``RouteRecord`` (a route's fields), ``MappingRecord``
(one e-mail or domain of a route, by the route's ordinal in the file) and ``Issue``
(something wrong with the file's structure). Route ordinals count from 0 in file order.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TextIO

from django.utils.translation import gettext_noop

from common.i18n import Phrase
from onboarding.bulk import jsonstream
from onboarding.bulk.jsonstream import (
    END_OF_FILE,
    EOF,
    LITERAL,
    NUMBER,
    STRING,
    JsonSyntaxError,
)

# What the readers say about a file's shape (English in the command; the admin says it
# in its reader's language, common.i18n).
NOT_JSON = gettext_noop("not valid JSON: {problem}")
EXPECTED = gettext_noop("expected {what}, found {found}")
AN_OBJECT = gettext_noop('an object ({{"routes": [...]}})')
A_KEY = gettext_noop("a key")
A_STRING = gettext_noop("a string")
COMMA_OR_BRACE = gettext_noop("',' or '}}'")
COMMA_OR_BRACKET = gettext_noop("',' or ']'")
NO_ROUTES = gettext_noop('the file has no "routes" list')
ROUTES_TWICE = gettext_noop('the key "routes" appears twice')
UNKNOWN_KEY = gettext_noop('unknown key "{key}" (the file holds only "routes")')
ROUTES_NOT_LIST = gettext_noop('"routes" must be a list, not {found}')
ROUTE_NOT_OBJECT = gettext_noop("a route must be an object, not {found}")
KEY_TWICE = gettext_noop('the key "{key}" appears twice in this route (also line {first})')
UNKNOWN_ROUTE_KEY = gettext_noop('unknown key "{key}" in a route')
NOT_LIST = gettext_noop('"{key}" must be a list, not {found}')
TOO_DEEP = gettext_noop("values nested more than {levels} levels deep")
CSV_EMPTY = gettext_noop("the file is empty; the first line must name the columns: {columns}")
UNKNOWN_COLUMN = gettext_noop('unknown column "{name}" (columns: {columns})')
COLUMN_MISSING = gettext_noop('the column "{name}" is missing')
COLUMN_TWICE = gettext_noop('the column "{name}" appears twice')
NOT_CSV = gettext_noop("not valid CSV: {error}")
ROW_WIDTH = gettext_noop("the row has {count} columns, the header has {width}")
NO_DISPLAY_NAME = gettext_noop("display_name: every row needs the route's display name")
BAD_KIND = gettext_noop('kind: "{kind}" is neither "user" nor "domain"')
NO_VALUE = {
    "user": gettext_noop("value: a user row needs an e-mail address or domain"),
    "domain": gettext_noop("value: a domain row needs an e-mail address or domain"),
}
OTHER_CHAIN = gettext_noop(
    'certificate_chain: a different chain for route "{route}", which has on line {line}'
)
OTHER_VALUE = gettext_noop(
    '{column}: "{value}" for route "{route}", which has "{before}" on line {line}'
)
TEMPLATES = (
    NOT_JSON, EXPECTED, AN_OBJECT, A_KEY, A_STRING, COMMA_OR_BRACE, COMMA_OR_BRACKET, NO_ROUTES, ROUTES_TWICE, UNKNOWN_KEY,
    ROUTES_NOT_LIST, ROUTE_NOT_OBJECT, KEY_TWICE, UNKNOWN_ROUTE_KEY, NOT_LIST, TOO_DEEP,
    CSV_EMPTY, UNKNOWN_COLUMN, COLUMN_MISSING, COLUMN_TWICE, NOT_CSV, ROW_WIDTH,
    NO_DISPLAY_NAME, BAD_KIND, *NO_VALUE.values(), OTHER_CHAIN, OTHER_VALUE,
    *jsonstream.TEMPLATES,
)  # fmt: skip

#: Route fields of the file formats, in the order of spec section 4.1.
ROUTE_FIELDS = (
    "display_name",
    "ums_hostname",
    "ums_port",
    "target",
    "identity_provider",
    "enabled",
    "certificate_chain",
)
USER = "user"
DOMAIN = "domain"
#: JSON key of each mapping kind.
MAPPING_KEYS = {"mapped_users": USER, "mapped_domains": DOMAIN}
#: CSV columns, in export order; ``enabled`` is optional and last so the first eight
#: are exactly the documented spreadsheet layout.
CSV_COLUMNS = (
    "display_name",
    "ums_hostname",
    "ums_port",
    "target",
    "identity_provider",
    "kind",
    "value",
    "certificate_chain",
    "enabled",
)
CSV_REQUIRED_COLUMNS = ("display_name", "kind", "value")


@dataclass(frozen=True)
class Issue:
    """One problem, at a line of the file (0: the file as a whole)."""

    line: int
    message: str


class MappingRecord(NamedTuple):
    route: int  # ordinal of the route in the file
    kind: str  # USER or DOMAIN
    value: Any  # as read: a string, unless the file has something else there
    line: int


@dataclass
class RouteRecord:
    ordinal: int
    line: int
    #: field name → (value as read, line it was read on); fields the file leaves out are absent.
    fields: dict[str, tuple[Any, int]] = field(default_factory=dict)

    @property
    def display_name(self) -> Any:
        return self.fields.get("display_name", (None, 0))[0]


Record = RouteRecord | MappingRecord | Issue


# --- JSON ------------------------------------------------------------------------------


#: Deepest nesting of lists and objects read inside a route (a route file needs 2).
MAX_NESTING = 32


def read_json(stream: TextIO, *, max_token_chars: int = 16 << 20) -> Iterator[Record]:
    """Records of a spec-4.1 JSON document. A syntax error ends the reading with an Issue."""
    toks = jsonstream.tokens(stream, max_token_chars=max_token_chars)
    try:
        yield from _JsonDocument(toks).read()
    except JsonSyntaxError as exc:
        yield Issue(exc.line, Phrase(NOT_JSON, problem=exc.message))


class _JsonDocument:
    def __init__(self, toks: Iterator[tuple[str, Any, int]]) -> None:
        self._next = toks.__next__

    def _expect(self, kinds: str, what: Phrase | str) -> tuple[str, Any, int]:
        kind, value, line = self._next()
        if kind not in kinds:
            raise JsonSyntaxError(line, Phrase(EXPECTED, what=what, found=_token_text(kind, value)))
        return kind, value, line

    def read(self) -> Iterator[Record]:
        self._expect("{", Phrase(AN_OBJECT))
        seen_routes = False
        kind, value, line = self._next()
        if kind == "}":
            yield Issue(line, Phrase(NO_ROUTES))
            self._expect(EOF, Phrase(END_OF_FILE))
            return
        while True:
            if kind != STRING:
                raise JsonSyntaxError(
                    line, Phrase(EXPECTED, what=Phrase(A_KEY), found=_token_text(kind, value))
                )
            self._expect(":", "':'")
            if value == "routes":
                if seen_routes:
                    yield Issue(line, Phrase(ROUTES_TWICE))
                seen_routes = True
                yield from self._routes()
            else:
                yield Issue(line, Phrase(UNKNOWN_KEY, key=value))
                self._value()
            kind, value, line = self._expect(",}", Phrase(COMMA_OR_BRACE))
            if kind == "}":
                break
            kind, value, line = self._next()
        if not seen_routes:
            yield Issue(line, Phrase(NO_ROUTES))
        self._expect(EOF, Phrase(END_OF_FILE))

    def _routes(self) -> Iterator[Record]:
        kind, value, line = self._next()
        if kind != "[":
            yield Issue(line, Phrase(ROUTES_NOT_LIST, found=_token_text(kind, value)))
            self._value_after(kind, value, line)
            return
        ordinal = 0
        kind, value, line = self._next()
        if kind == "]":
            return
        while True:
            if kind == "{":
                yield from self._route(ordinal, line)
            else:
                yield Issue(line, Phrase(ROUTE_NOT_OBJECT, found=_token_text(kind, value)))
                self._value_after(kind, value, line)
            ordinal += 1
            kind, value, line = self._expect(",]", Phrase(COMMA_OR_BRACKET))
            if kind == "]":
                return
            kind, value, line = self._next()

    def _route(self, ordinal: int, start: int) -> Iterator[Record]:
        record = RouteRecord(ordinal=ordinal, line=start)
        seen: dict[str, int] = {}
        kind, key, line = self._next()
        if kind == "}":
            yield record
            return
        while True:
            if kind != STRING:
                raise JsonSyntaxError(line, f"expected a key, found {_token_text(kind, key)}")
            self._expect(":", "':'")
            if key in seen:
                yield Issue(line, Phrase(KEY_TWICE, key=key, first=seen[key]))
            seen[key] = line
            if key in MAPPING_KEYS:
                yield from self._mappings(ordinal, MAPPING_KEYS[key], key)
            elif key in ROUTE_FIELDS:
                vkind, value, vline = self._next()
                record.fields[key] = (self._value_after(vkind, value, vline), vline)
            else:
                yield Issue(line, Phrase(UNKNOWN_ROUTE_KEY, key=key))
                self._value()
            kind, key, line = self._expect(",}", Phrase(COMMA_OR_BRACE))
            if kind == "}":
                break
            kind, key, line = self._next()
        yield record

    def _mappings(self, ordinal: int, mapping_kind: str, key: str) -> Iterator[Record]:
        kind, value, line = self._next()
        if kind != "[":
            yield Issue(line, Phrase(NOT_LIST, key=key, found=_token_text(kind, value)))
            self._value_after(kind, value, line)
            return
        kind, value, line = self._next()
        if kind == "]":
            return
        while True:
            if kind == STRING:
                yield MappingRecord(ordinal, mapping_kind, value, line)
            else:
                yield MappingRecord(
                    ordinal, mapping_kind, self._value_after(kind, value, line), line
                )
            kind, value, line = self._expect(",]", Phrase(COMMA_OR_BRACKET))
            if kind == "]":
                return
            kind, value, line = self._next()

    def _value(self, depth: int = 0) -> Any:
        return self._value_after(*self._next(), depth=depth)

    def _value_after(self, kind: str, value: Any, line: int, depth: int = 0) -> Any:
        """The value starting with the token just read (nested ones built in memory, at
        most MAX_NESTING deep: deeper is no route file, and would exhaust the stack)."""
        if kind in (STRING, NUMBER, LITERAL):
            return value
        if depth >= MAX_NESTING:
            raise JsonSyntaxError(line, Phrase(TOO_DEEP, levels=MAX_NESTING))
        if kind == "[":
            items: list[Any] = []
            kind, value, line = self._next()
            if kind == "]":
                return items
            while True:
                items.append(self._value_after(kind, value, line, depth + 1))
                kind, value, line = self._expect(",]", Phrase(COMMA_OR_BRACKET))
                if kind == "]":
                    return items
                kind, value, line = self._next()
        if kind == "{":
            obj: dict[str, Any] = {}
            kind, value, line = self._next()
            if kind == "}":
                return obj
            while True:
                if kind != STRING:
                    raise JsonSyntaxError(
                        line, Phrase(EXPECTED, what=Phrase(A_KEY), found=_token_text(kind, value))
                    )
                self._expect(":", "':'")
                obj[value] = self._value(depth + 1)
                kind, value, line = self._expect(",}", Phrase(COMMA_OR_BRACE))
                if kind == "}":
                    return obj
                kind, value, line = self._next()
        raise JsonSyntaxError(line, f"expected a value, found {_token_text(kind, value)}")


def _token_text(kind: str, value: Any) -> str:
    if kind == EOF:
        return Phrase(END_OF_FILE)
    if kind == STRING:
        return Phrase(A_STRING)
    if kind in (NUMBER, LITERAL):
        return (
            "null"
            if value is None
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
    return f"'{kind}'"


# --- CSV -------------------------------------------------------------------------------


def _delimiter(header_line: str) -> str:
    # Spreadsheets in locales with a decimal comma save "CSV" with semicolons.
    for candidate in (",", ";", "\t"):
        if candidate in header_line:
            return candidate
    return ","


def _canonical(column: str, value: str) -> str:
    """How two rows' spellings of one route field are compared: 08443 is 8443, UMS is ums."""
    if column == "ums_port" and value.isascii() and value.isdigit():
        return str(int(value))
    if column in ("target", "enabled"):
        return value.lower()
    return value


def read_csv(stream: TextIO, *, max_field_chars: int = 8 << 20) -> Iterator[Record]:
    """Records of a CSV file: one row per mapping, route columns repeated (or blank) per row.

    A route is the set of rows with the same ``display_name``; a route column left blank
    says nothing, and a route column given on several rows must have the same value on
    each. A row with blank ``kind`` and ``value`` declares the route without a mapping.
    ``max_field_chars`` bounds one cell: an inline PEM chain may be far longer than the
    ``csv`` module's default limit of 128 KiB.
    """
    if csv.field_size_limit() < max_field_chars:
        csv.field_size_limit(max_field_chars)
    header_line = stream.readline()
    if not header_line.strip():
        yield Issue(1, Phrase(CSV_EMPTY, columns=",".join(CSV_COLUMNS)))
        return
    delimiter = _delimiter(header_line)
    header = [name.strip().lower() for name in next(csv.reader([header_line], delimiter=delimiter))]
    problems = list(_header_problems(header))
    if problems:
        yield from problems
        return
    yield from _CsvRoutes(header).read(stream, delimiter)


def _header_problems(header: list[str]) -> Iterator[Issue]:
    for name in header:
        if name not in CSV_COLUMNS:
            yield Issue(1, Phrase(UNKNOWN_COLUMN, name=name, columns=",".join(CSV_COLUMNS)))
    for name in CSV_REQUIRED_COLUMNS:
        if name not in header:
            yield Issue(1, Phrase(COLUMN_MISSING, name=name))
    for name in sorted({name for name in header if header.count(name) > 1}):
        yield Issue(1, Phrase(COLUMN_TWICE, name=name))


class _CsvRoutes:
    """The rows of a CSV file (after its header) gathered into routes and mappings."""

    def __init__(self, header: list[str]) -> None:
        self.routes: dict[str, RouteRecord] = {}
        self.route_columns = [c for c in header if c in ROUTE_FIELDS and c != "display_name"]
        self.index = {name: header.index(name) for name in header}
        self.width = len(header)

    def read(self, stream: TextIO, delimiter: str) -> Iterator[Record]:
        """Mappings and problems as the rows come, then the routes (none after bad CSV)."""
        reader = csv.reader(stream, delimiter=delimiter)
        # reader.line_num counts physical lines read (a quoted PEM spans several), so a
        # record starts on the line after the previous record ended; the header was line 1.
        end = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield Issue(end + 1, Phrase(NOT_CSV, error=str(exc)))
                return
            # This reader started after the header line, so its line_num is one behind.
            line, end = end + 1, reader.line_num + 1
            yield from self._row(row, line)
        yield from self.routes.values()

    def _row(self, row: list[str], line: int) -> Iterator[Record]:
        if not row or not any(cell.strip() for cell in row):
            return
        if len(row) != self.width:
            yield Issue(line, Phrase(ROW_WIDTH, count=len(row), width=self.width))
            return
        name = row[self.index["display_name"]].strip()
        if not name:
            yield Issue(line, Phrase(NO_DISPLAY_NAME))
            return
        route = self.routes.get(name)
        if route is None:
            route = self.routes[name] = RouteRecord(ordinal=len(self.routes), line=line)
            route.fields["display_name"] = (name, line)
        yield from self._route_fields(route, row, line)
        kind = row[self.index["kind"]].strip().lower()
        value = row[self.index["value"]].strip()
        if not kind and not value:
            return
        if kind not in (USER, DOMAIN):
            yield Issue(line, Phrase(BAD_KIND, kind=kind))
        elif not value:
            yield Issue(line, Phrase(NO_VALUE[kind]))
        else:
            yield MappingRecord(route.ordinal, kind, value, line)

    def _route_fields(self, route: RouteRecord, row: list[str], line: int) -> Iterator[Issue]:
        """Record the route columns a row gives; one that differs from an earlier row's is
        a problem (a column left blank says nothing)."""
        for column in self.route_columns:
            value = row[self.index[column]].strip()
            if not value:
                continue
            known = route.fields.get(column)
            if known is None:
                route.fields[column] = (value, line)
            elif _canonical(column, known[0]) != _canonical(column, value):
                yield Issue(line, _differs(column, value, route, known))


def _differs(column: str, value: str, route: RouteRecord, known: tuple[str, int]) -> Phrase:
    """A route column that a row gives otherwise than an earlier row of the route."""
    name = route.fields["display_name"][0]
    if column == "certificate_chain":
        return Phrase(OTHER_CHAIN, route=name, line=known[1])
    return Phrase(
        OTHER_VALUE, column=column, value=value, route=name, before=known[0], line=known[1]
    )
