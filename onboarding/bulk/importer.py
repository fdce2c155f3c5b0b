"""Import routes with their mapped users, domains and chains: check everything, then write.

The import runs in three phases inside one transaction:

1. **Read and check** the file as a stream. Every mapping goes through the model rules
   (:func:`onboarding.services.mapped_user_build` / ``mapped_domain_build``); every
   route through ``Route.full_clean``; every chain through
   :func:`certificates.validation.inspect_chain_bytes`. All problems are collected
   with their line, none stops the reading (except broken JSON syntax).
2. **Plan** against the database: which routes and mappings are created, changed,
   moved or removed, and which values another company account already maps (found
   per batch through the ``lower(...)`` unique indexes, never a query per row).
3. **Write**, only when there is no problem and it is not a dry run: routes and chains
   through the services the admin uses, mappings with batched ``bulk_create`` /
   ``update`` / ``delete``. Any failure rolls the whole import back, including chain
   files already put into storage (:func:`certificates.services.chain_files_atomic`).

Memory: the file is never held whole. What is kept is one entry per mapping key (the
normalised value, its route and line) for the file and for the company's current
mappings, about 200 bytes each, so 110,000 mappings need some 40 MB, and chain files
are read one at a time.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils import timezone

from certificates.services import chain_files_atomic
from certificates.validation import DEFAULT_MAX_BYTES, ChainReport, inspect_chain_bytes
from identity.models import IdentityProvider
from onboarding.bulk.progress import Progress
from onboarding.bulk.readers import (
    DOMAIN,
    USER,
    Issue,
    MappingRecord,
    RouteRecord,
    read_csv,
    read_json,
)
from onboarding.models import Route, Target
from onboarding.services import (
    DOMAIN_MAPPING,
    USER_MAPPING,
    MappingKind,
    chain_for_route,
    mapping_conflicts,
    mapping_validation_message,
    mappings_claim,
    route_create,
    route_set_chain,
    route_update,
)
from tenants.models import Tenant

FORMATS = ("json", "csv")
UNKNOWN_FORMAT = "The import file must be JSON (.json) or CSV (.csv); {name} is neither."
CHAIN_NOT_FOUND = '"{ref}" was not found (paths are relative to {base})'
CHAIN_OUTSIDE = (
    '"{ref}" is outside the directory of {name}: a chain path is relative to the import '
    "file and stays inside its directory (also through symbolic links)"
)
NOT_UTF8 = "the file is not UTF-8 text (save it as CSV UTF-8 or JSON in UTF-8)"
NOT_UTF8_LINE = "this line is not UTF-8 text (save the file as CSV UTF-8 or JSON in UTF-8)"
DUPLICATE_IN_FILE = '{label} "{value}" is also listed on line {first}{where}'
WRITE_FAILED = (
    "the database refused the import ({error}); possibly someone changed routes or "
    "mappings at the same time. Nothing was written; run the import again."
)
BATCH_SIZE = 2000
#: Keys per ``IN (...)`` query: below SQLite's historic 999-parameter limit.
LOOKUP_BATCH = 900
SAMPLE_SIZE = 10


class ChainNotFound(LookupError):
    pass


class ChainOutside(LookupError):
    """A chain path of a file on disk that leads out of the file's directory."""


# --- Where the file and its chains come from --------------------------------------------


@dataclass
class ImportSource:
    """An import file and how to find the chain files its rows name.

    ``name`` is what messages show (``routes.csv:17: ...``). Chain references are
    resolved by ``read_chain``: relative to the file's directory for a file on disk;
    among the uploaded chain files (by path, then by file name) for an upload, so an
    admin upload never reads the server's file system.
    """

    name: str
    format: str
    opener: Callable[[], IO[bytes]]
    size: int | None
    chain_reader: Callable[[str], tuple[bytes, str]]
    base_description: str

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> ImportSource:
        file = Path(path)
        base = file.resolve().parent

        def read_chain(ref: str) -> tuple[bytes, str]:
            # An import file may come from a customer: its paths must not make the
            # command read other files of the server (/etc/..., ../../, a symlink out).
            candidate = Path(ref)
            if candidate.is_absolute():
                raise ChainOutside(ref)
            candidate = (base / candidate).resolve()
            if not candidate.is_relative_to(base):
                raise ChainOutside(ref)
            if not candidate.is_file():
                raise ChainNotFound(ref)
            return _read_limited(candidate.open("rb")), candidate.name

        return cls(
            name=file.name,
            format=detect_format(file.name),
            opener=lambda: file.open("rb"),
            size=file.stat().st_size,
            chain_reader=read_chain,
            base_description=f"the directory of {file.name}",
        )

    @classmethod
    def from_bytes(
        cls, name: str, data: bytes, chain_files: Mapping[str, bytes] | None = None
    ) -> ImportSource:
        chains = dict(chain_files or {})
        by_basename = {_basename(k): v for k, v in chains.items()}

        def read_chain(ref: str) -> tuple[bytes, str]:
            found = chains.get(ref)
            if found is None:
                found = by_basename.get(_basename(ref))
            if found is None:
                raise ChainNotFound(ref)
            return found, _basename(ref)

        return cls(
            name=_basename(name),
            format=detect_format(name),
            opener=lambda: io.BytesIO(data),
            size=len(data),
            chain_reader=read_chain,
            base_description="the chain files uploaded with it",
        )


def detect_format(name: str) -> str:
    extension = os.path.splitext(name)[1].lower().lstrip(".")
    if extension not in FORMATS:
        raise ValueError(UNKNOWN_FORMAT.format(name=_basename(name)))
    return extension


def _basename(name: str) -> str:
    return os.path.basename(name.replace("\\", "/"))


def _chain_max_bytes() -> int:
    return int(getattr(settings, "CERTIFICATE_CHAIN_MAX_BYTES", DEFAULT_MAX_BYTES))


def _read_limited(handle: IO[bytes]) -> bytes:
    # One byte over the limit is enough for the validation to say "too large".
    limit = _chain_max_bytes()
    with handle:
        return handle.read(limit + 1)


# --- The report -------------------------------------------------------------------------


@dataclass
class MappingChanges:
    """What an import does to one kind of mapping (users or domains)."""

    label: str
    created: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    kept: int = 0  # in the database, not in the file, left alone without --prune
    samples: dict[str, list[str]] = field(
        default_factory=lambda: {"created": [], "moved": [], "removed": []}
    )

    def sample(self, what: str, value: str) -> None:
        if len(self.samples[what]) < SAMPLE_SIZE:
            self.samples[what].append(value)

    @property
    def changes(self) -> int:
        return self.created + self.moved + self.removed


#: Problems reported one by one; past this many they are only counted ("N more"), so a
#: file of ten million bad entries costs neither memory nor ten million lines.
MAX_LISTED_PROBLEMS = 1000
MORE_PROBLEMS = "... and {count} more problem(s), not listed."


@dataclass
class ImportReport:
    source: str
    tenant: str
    dry_run: bool
    prune: bool
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    routes_created: list[str] = field(default_factory=list)
    routes_changed: list[tuple[str, list[str]]] = field(default_factory=list)
    routes_unchanged: list[str] = field(default_factory=list)
    routes_not_in_file: list[str] = field(default_factory=list)
    users: MappingChanges = field(default_factory=lambda: MappingChanges("mapped users"))
    domains: MappingChanges = field(default_factory=lambda: MappingChanges("mapped domains"))
    applied: bool = False
    #: Problems found beyond the MAX_LISTED_PROBLEMS kept in ``errors``.
    errors_not_listed: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, issue: Issue) -> None:
        if len(self.errors) < MAX_LISTED_PROBLEMS:
            self.errors.append(issue)
        else:
            self.errors_not_listed += 1

    @property
    def has_changes(self) -> bool:
        return bool(
            self.routes_created or self.routes_changed or self.users.changes or self.domains.changes
        )

    def _where(self, issue: Issue) -> str:
        return f"{self.source}:{issue.line}" if issue.line else self.source

    def error_lines(self) -> list[str]:
        """``file:line: message``, ordered by line (then how many more were found)."""
        lines = [
            f"{self._where(i)}: {i.message}" for i in sorted(self.errors, key=lambda i: i.line)
        ]
        if self.errors_not_listed:
            lines.append(MORE_PROBLEMS.format(count=self.errors_not_listed))
        return lines

    def warning_lines(self) -> list[str]:
        return [
            f"{self._where(i)}: warning: {i.message}"
            for i in sorted(self.warnings, key=lambda i: i.line)
        ]

    def summary_lines(self) -> list[str]:
        """What was (or, in a dry run, would be) done, for the command and the admin."""
        if self.errors:
            return [
                f"{len(self.errors) + self.errors_not_listed} problem(s) in {self.source}; "
                f"nothing was written to {self.tenant}."
            ]
        lines: list[str] = []
        if not self.has_changes:
            lines.append(f"Nothing to change: {self.tenant} already matches {self.source}.")
        else:
            if self.dry_run:
                lines.append(f"Dry run: importing {self.source} into {self.tenant} would change:")
            else:
                lines.append(f"Imported {self.source} into {self.tenant}:")
            lines.append(
                f"  routes: {len(self.routes_created)} created, "
                f"{len(self.routes_changed)} changed, {len(self.routes_unchanged)} unchanged"
            )
            for name in self.routes_created[:SAMPLE_SIZE]:
                lines.append(f"    + {name}")
            for name, fields in self.routes_changed[:SAMPLE_SIZE]:
                lines.append(f"    ~ {name}: {', '.join(fields)}")
            for changes in (self.users, self.domains):
                lines.append(
                    f"  {changes.label}: {changes.created} created, {changes.moved} moved to "
                    f"another route, {changes.removed} removed, {changes.unchanged} unchanged"
                )
                for what, mark in (("created", "+"), ("moved", "~"), ("removed", "-")):
                    for value in changes.samples[what]:
                        lines.append(f"    {mark} {value}")
        kept = self.users.kept + self.domains.kept
        if self.prune:
            lines.append("Removal is on (--prune): mappings not in the file are removed.")
        elif kept:
            lines.append(
                f"Removal is off: {self.users.kept} mapped user(s) and {self.domains.kept} mapped "
                "domain(s) not in the file are kept (--prune removes them)."
            )
        else:
            lines.append("Removal is off (--prune removes mappings the file no longer lists).")
        if self.routes_not_in_file:
            lines.append(
                f"{len(self.routes_not_in_file)} route(s) not in the file are kept: "
                + ", ".join(self.routes_not_in_file[:SAMPLE_SIZE])
                + (" ..." if len(self.routes_not_in_file) > SAMPLE_SIZE else "")
            )
        return lines


# --- Checking -------------------------------------------------------------------------


_KINDS: dict[str, MappingKind] = {kind.name: kind for kind in (USER_MAPPING, DOMAIN_MAPPING)}


@dataclass
class _RoutePlan:
    record: RouteRecord
    name: str
    route: Route | None  # the existing route, or None for a new one
    values: dict[str, Any] = field(default_factory=dict)  # new route: all; existing: changes
    chain: tuple[bytes, str] | None = None  # data and file name, when the chain changes
    ok: bool = True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text"


_INVALID_PREFIXES = {
    USER: "'{value}' is not a valid e-mail address.",
    DOMAIN: "'{value}' is not a valid domain: ",
}
_INVALID_TEXT = {USER: "is not a valid e-mail address", DOMAIN: "is not a valid domain"}


def _mapping_message(kind: str, label: str, value: str, reason: str) -> str:
    # The validators' messages may start by repeating the value; say it once.
    prefix = _INVALID_PREFIXES[kind].format(value=value)
    if reason.startswith(prefix):
        reason = reason[len(prefix) :].strip()
    text = f'{label} "{value}" {_INVALID_TEXT[kind]}'
    return f"{text}: {reason}" if reason else text


class _Importer:
    def __init__(
        self,
        *,
        tenant: Tenant,
        source: ImportSource,
        prune: bool,
        dry_run: bool,
        by: Any,
        progress: Progress,
    ) -> None:
        self.tenant = tenant
        self.source = source
        self.by = by
        self.progress = progress
        self.report = ImportReport(
            source=source.name, tenant=tenant.slug, dry_run=dry_run, prune=prune
        )
        self.records: list[RouteRecord] = []
        # normalised value → (route ordinal, line), per kind, in file order.
        self.in_file: dict[str, dict[str, tuple[int, int]]] = {USER: {}, DOMAIN: {}}
        self.plans: dict[int, _RoutePlan] = {}
        # Filled by the planning phase for the write phase.
        self.to_create: dict[str, list[tuple[str, int]]] = {USER: [], DOMAIN: []}
        self.to_move: dict[str, list[tuple[int, int]]] = {USER: [], DOMAIN: []}
        self.to_remove: dict[str, list[int]] = {USER: [], DOMAIN: []}

    def error(self, line: int, message: str) -> None:
        self.report.add_error(Issue(line, message))

    # Phase 1 -----------------------------------------------------------------------

    def read(self) -> None:
        raw = self.source.opener()
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", errors="strict")
        # The longest token or cell: an inline chain as PEM text (DER grows by 4/3).
        longest = max(16 << 20, 4 * _chain_max_bytes())
        if self.source.format == "json":
            reader = functools.partial(read_json, max_token_chars=longest)
        else:
            reader = functools.partial(read_csv, max_field_chars=longest)
        self.progress.start(f"Reading {self.source.name}", self.source.size)
        count = 0
        try:
            with text:
                for record in reader(text):
                    if type(record) is MappingRecord:
                        self._mapping(record)
                        count += 1
                        if count % 5000 == 0:
                            self.progress.update(raw.tell())
                    elif type(record) is RouteRecord:
                        self.records.append(record)
                    else:
                        self.report.add_error(record)  # type: ignore[arg-type]
        except UnicodeDecodeError:
            line = _first_undecodable_line(self.source.opener)
            self.error(line, NOT_UTF8_LINE if line else NOT_UTF8)
        self.progress.finish()

    def _mapping(self, record: MappingRecord) -> None:
        kind = _KINDS[record.kind]
        value = record.value
        if not isinstance(value, str):
            self.error(record.line, f"{kind.label} must be text, not {_json_type(value)}")
            return
        value = value.strip()
        try:
            key = getattr(kind.build(value), kind.field)
        except ValidationError as exc:
            self.error(
                record.line,
                _mapping_message(kind.name, kind.label, value, mapping_validation_message(exc)),
            )
            return
        seen = self.in_file[kind.name]
        first = seen.get(key)
        if first is not None:
            where = " for another route" if first[0] != record.route else ""
            self.error(
                record.line,
                DUPLICATE_IN_FILE.format(
                    label=kind.label, value=value, first=first[1], where=where
                ),
            )
            return
        seen[key] = (record.route, record.line)

    def check_routes(self) -> None:
        existing = {
            r.display_name: r
            for r in Route.objects.filter(tenant=self.tenant).select_related(
                "certificate_chain", "identity_provider"
            )
        }
        idps = {p.name: p for p in IdentityProvider.objects.filter(tenant=self.tenant)}
        names: dict[str, int] = {}
        reports: dict[tuple[str, str], ChainReport] = {}
        for record in sorted(self.records, key=lambda r: r.ordinal):
            plan = self._route_plan(record, existing, idps, names, reports)
            self.plans[record.ordinal] = plan
        in_file = {p.name for p in self.plans.values()}
        self.report.routes_not_in_file = sorted(set(existing) - in_file)

    def _route_plan(
        self,
        record: RouteRecord,
        existing: dict[str, Route],
        idps: dict[str, IdentityProvider],
        names: dict[str, int],
        reports: dict[tuple[str, str], ChainReport],
    ) -> _RoutePlan:
        fields = record.fields
        raw_name, name_line = fields.get("display_name", (None, record.line))
        plan = _RoutePlan(record=record, name="", route=None)
        if not isinstance(raw_name, str) or not raw_name.strip():
            self.error(name_line, "display_name: every route needs a display name")
            plan.ok = False
            return plan
        if "\x00" in raw_name:
            # PostgreSQL cannot even compare such text: checking the name would fail.
            self.error(name_line, "display_name: must not contain a NUL character (\\u0000)")
            plan.ok = False
            return plan
        plan.name = name = raw_name.strip()
        if name in names:
            self.error(record.line, f'route "{name}" is already defined on line {names[name]}')
            plan.ok = False
            return plan
        names[name] = record.line
        route = plan.route = existing.get(name)
        line_of = {key: line for key, (_value, line) in fields.items()}

        def bad(key: str, message: str) -> None:
            self.error(line_of.get(key, record.line), f"{key}: {message}")
            plan.ok = False

        # Values as the model wants them. A field the file leaves out keeps the
        # route's current value, or for a new route takes the model default.
        values: dict[str, Any] = {"display_name": name}
        for key in ("ums_hostname", "target"):
            if key in fields:
                value = fields[key][0]
                if isinstance(value, str):
                    values[key] = value.strip().lower() if key == "target" else value.strip()
                else:
                    bad(key, f"must be text, not {_json_type(value)}")
        # CSV cells are text; in JSON the port is a number and the flag true/false.
        strict = self.source.format == "json"
        for key, parse, expected, written in _TYPED_FIELDS:
            if key not in fields:
                continue
            raw = fields[key][0]
            parsed = parse(raw)
            if parsed is None:
                bad(key, f"{_shown(raw)} is not {expected}")
            elif strict and isinstance(raw, str):
                bad(key, f"{_shown(raw)} is text; write {written}, unquoted")
            else:
                values[key] = parsed
        if "identity_provider" in fields:
            idp_name = fields["identity_provider"][0]
            idp = idps.get(idp_name.strip()) if isinstance(idp_name, str) else None
            if idp is None:
                bad(
                    "identity_provider",
                    f"{_shown(idp_name)} is not an identity provider of this company account",
                )
            else:
                values["identity_provider"] = idp
        elif route is None:
            bad("identity_provider", f'route "{name}" is new and needs an identity provider')
        if route is None and "ums_hostname" not in fields:
            bad("ums_hostname", f'route "{name}" is new and needs a UMS hostname')

        # The route as it would be, checked by the model's own rules.
        candidate = Route(tenant=self.tenant) if route is None else _copy(route)
        for key, value in values.items():
            setattr(candidate, key, value)
        exclude = ["certificate_chain"] if route is None else []
        if "identity_provider" not in values and route is None:
            exclude.append("identity_provider")
        try:
            candidate.full_clean(exclude=exclude)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                if key == "certificate_chain" and "certificate_chain" in fields:
                    # About the current chain (say, a server certificate for a route
                    # turning ICG), which the file replaces; the new one is checked below.
                    continue
                if key in ("__all__", "tenant"):
                    self.error(record.line, f'route "{name}": ' + " ".join(messages))
                    plan.ok = False
                    continue
                shown = fields.get(key, (None, 0))[0]
                text = " ".join(messages)
                if shown is not None and key not in ("display_name", "identity_provider"):
                    text = f'"{shown}" is not valid: {text}'
                bad(key, text)

        # The chain: given (path or inline PEM), or kept for an existing route.
        target = candidate.target
        if "certificate_chain" in fields:
            plan.chain = self._chain(fields["certificate_chain"], target, route, reports, bad)
        elif route is None:
            bad("certificate_chain", f'route "{name}" is new and needs a certificate chain')
        elif route is not None and target != route.target:
            report = _inspect(route.certificate_chain.pem.encode(), target, reports)
            if not report.accepted:
                bad(
                    "target",
                    f'the current certificate chain of route "{name}" is not valid for '
                    f"target {target}: " + " ".join(p.message for p in report.errors),
                )

        if route is None:
            plan.values = values
        else:
            plan.values = {k: v for k, v in values.items() if getattr(route, k) != v}
            plan.values.pop("display_name", None)
        return plan

    def _chain(
        self,
        given: tuple[Any, int],
        target: str,
        route: Route | None,
        reports: dict[tuple[str, str], ChainReport],
        bad: Callable[[str, str], None],
    ) -> tuple[bytes, str] | None:
        ref, line = given
        if not isinstance(ref, str) or not ref.strip():
            bad("certificate_chain", "must be a file path or PEM text")
            return None
        ref = ref.strip()
        inline = "-----BEGIN" in ref
        shown = "(inline PEM)" if inline else f'"{ref}"'
        if inline:
            data, filename = ref.encode(), "chain.pem"
        else:
            try:
                data, filename = self.source.chain_reader(ref)
            except ChainOutside:
                bad("certificate_chain", CHAIN_OUTSIDE.format(ref=ref, name=self.source.name))
                return None
            except (ChainNotFound, OSError, ValueError):
                bad(
                    "certificate_chain",
                    CHAIN_NOT_FOUND.format(ref=ref, base=self.source.base_description),
                )
                return None
        report = _inspect(data, target, reports)
        for problem in report.errors:
            bad("certificate_chain", f"{shown} is refused: {problem.message}")
        for problem in report.warnings:
            self.report.warnings.append(
                Issue(line, f"certificate_chain: {shown}: {problem.message}")
            )
        if not report.accepted:
            return None
        if route is not None and route.certificate_chain.pem == report.pem:
            return None  # same certificates: nothing changes
        return data, filename

    # Phase 2 -----------------------------------------------------------------------

    def plan(self) -> None:
        route_ids = {
            ordinal: (plan.route.pk if plan.route is not None else None)
            for ordinal, plan in self.plans.items()
        }
        for plan in self.plans.values():
            if not plan.ok:
                continue
            if plan.route is None:
                self.report.routes_created.append(plan.name)
            else:
                changed = sorted(plan.values) + (["certificate_chain"] if plan.chain else [])
                if changed:
                    self.report.routes_changed.append((plan.name, changed))
                else:
                    self.report.routes_unchanged.append(plan.name)
        for kind in _KINDS.values():
            self._plan_kind(kind, route_ids)

    def _plan_kind(self, kind: MappingKind, route_ids: dict[int, int | None]) -> None:
        changes = self.report.users if kind.name == USER else self.report.domains
        in_file = self.in_file[kind.name]
        self.progress.start(f"Checking {kind.label}s", len(in_file))
        current: dict[str, tuple[int, int]] = {}
        rows = (
            kind.model.objects.filter(route__tenant=self.tenant)
            .values_list(kind.field, "pk", "route_id")
            .iterator(chunk_size=5000)
        )
        for value, pk, route_id in rows:
            current[value] = (pk, route_id)
        outside: list[str] = []
        for value, (ordinal, _line) in in_file.items():
            mine = current.get(value)
            if mine is None:
                outside.append(value)
                continue
            target_id = route_ids.get(ordinal)
            if target_id is not None and mine[1] == target_id:
                changes.unchanged += 1
            else:
                changes.moved += 1
                changes.sample("moved", value)
                self.to_move[kind.name].append((mine[0], ordinal))
        # Values the company does not map yet: may it map them (spec 2.1)?
        problems: dict[str, str] = {}
        for start in range(0, len(outside), LOOKUP_BATCH):
            batch = outside[start : start + LOOKUP_BATCH]
            problems.update(mapping_conflicts(tenant=self.tenant, kind=kind, values=batch))
            self.progress.update(start + len(batch))
        for value in outside:
            ordinal, line = in_file[value]
            if value in problems:
                self.error(line, problems[value])
            else:
                changes.created += 1
                changes.sample("created", value)
                self.to_create[kind.name].append((value, ordinal))
        for value, (pk, _route_id) in current.items():
            if value in in_file:
                continue
            if self.report.prune:
                changes.removed += 1
                changes.sample("removed", value)
                self.to_remove[kind.name].append(pk)
            else:
                changes.kept += 1
        self.progress.finish()

    # Phase 3 -----------------------------------------------------------------------

    def write(self) -> None:
        routes: dict[int, Route] = {}
        for ordinal, plan in sorted(self.plans.items()):
            routes[ordinal] = self._write_route(plan)
        total = sum(
            len(self.to_create[k]) + len(self.to_move[k]) + len(self.to_remove[k]) for k in _KINDS
        )
        self.progress.start("Writing mappings", total)
        done = 0
        now = timezone.now()
        for kind in _KINDS.values():
            manager: Any = kind.model.objects  # MappedUser or MappedDomain, used alike
            removals = self.to_remove[kind.name]
            for start in range(0, len(removals), LOOKUP_BATCH):
                manager.filter(pk__in=removals[start : start + LOOKUP_BATCH]).delete()
                done += len(removals[start : start + LOOKUP_BATCH])
                self.progress.update(done)
            by_route: dict[int, list[int]] = {}
            for pk, ordinal in self.to_move[kind.name]:
                by_route.setdefault(routes[ordinal].pk, []).append(pk)
            for route_id, pks in by_route.items():
                for start in range(0, len(pks), LOOKUP_BATCH):
                    manager.filter(pk__in=pks[start : start + LOOKUP_BATCH]).update(
                        route_id=route_id
                    )
                    done += len(pks[start : start + LOOKUP_BATCH])
                    self.progress.update(done)
            creations = self.to_create[kind.name]
            for start in range(0, len(creations), BATCH_SIZE):
                batch = creations[start : start + BATCH_SIZE]
                # Values were checked by the model rules in phase 1; the database
                # constraints still guard against a concurrent writer.
                manager.bulk_create(
                    [
                        kind.model(
                            **{
                                "route_id": routes[o].pk,
                                "tenant_id": self.tenant.pk,
                                kind.field: v,
                                "created_at": now,
                            }
                        )
                        for v, o in batch
                    ]
                )
                done += len(batch)
                self.progress.update(done)
            mappings_claim(tenant=self.tenant, kind=kind, values=[v for v, _o in creations])
        self.progress.finish()

    def _write_route(self, plan: _RoutePlan) -> Route:
        if plan.route is None:
            data, filename = plan.chain  # type: ignore[misc]
            chain = chain_for_route(
                tenant=self.tenant,
                data=data,
                filename=filename,
                name=plan.name,
                target=plan.values.get("target", Target.UMS),
                uploaded_by=self.by,
            )
            return route_create(tenant=self.tenant, certificate_chain=chain, **plan.values)
        route = plan.route
        # A route turning ICG may not keep a chain with the server certificate even for
        # a moment: then the new chain goes first (an ICG chain suits a UMS as well).
        chain_first = plan.values.get("target") == Target.ICG
        if plan.values and not chain_first:
            route_update(route=route, data=plan.values)
        if plan.chain is not None:
            data, filename = plan.chain
            route.certificate_chain, _changed = route_set_chain(
                route=route, data=data, filename=filename, by=self.by
            )
        if plan.values and chain_first:
            route_update(route=route, data=plan.values)
        return route


def _first_undecodable_line(opener: Callable[[], IO[bytes]]) -> int:
    """The number of the first line that is not UTF-8 (0 if none is found).

    UTF-8 never uses the byte of "\\n" inside a character, so each line decodes alone.
    """
    with opener() as raw:
        for number, line in enumerate(raw, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _copy(route: Route) -> Route:
    """An unsaved copy of ``route`` to try new values on without touching the original."""
    clone = Route(**{f.attname: getattr(route, f.attname) for f in Route._meta.concrete_fields})
    clone._state.adding = False
    clone._state.db = route._state.db
    return clone


def _inspect(data: bytes, target: str, cache: dict[tuple[str, str], ChainReport]) -> ChainReport:
    # Many routes often name the same chain file; judge each content once per target.
    key = (hashlib.sha256(data).hexdigest(), target)
    if key not in cache:
        cache[key] = inspect_chain_bytes(data, target=target if target in ("ums", "icg") else "ums")
    return cache[key]


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    # isdigit() alone also accepts "²" or "①", which int() refuses.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _shown(value: Any) -> str:
    """A value as the file wrote it: "8443x" for text, true / null / 1.5 for JSON values."""
    if isinstance(value, str):
        return f'"{value}"'
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return _json_type(value)


_TRUE = frozenset({"true", "yes", "1", "on", "y"})
_FALSE = frozenset({"false", "no", "0", "off", "n"})


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


#: Route fields that are not text: (field, parser, what it must be, how to write it in JSON).
_TYPED_FIELDS: tuple[tuple[str, Callable[[Any], Any], str, str], ...] = (
    ("ums_port", _as_int, "a whole number", "the port as a number"),
    ("enabled", _as_bool, "true or false", "true or false"),
)


# --- Entry point ------------------------------------------------------------------------


class _Rollback(Exception):
    pass


def import_routes(
    *,
    tenant: Tenant,
    source: ImportSource,
    dry_run: bool = False,
    prune: bool = False,
    by: Any = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Check ``source`` and, unless there is any problem or it is a dry run, apply it.

    All or nothing: the returned report lists every problem (``report.errors``, each
    with its line) and then nothing was written; or the changes (``applied``). ``by``
    is the staff user to record as uploader of new chains (None for a command).
    """
    importer = _Importer(
        tenant=tenant,
        source=source,
        prune=prune,
        dry_run=dry_run,
        by=by,
        progress=progress or Progress(),
    )
    report = importer.report
    try:
        with chain_files_atomic():
            if not dry_run:
                # One import per company at a time: the plan must still hold when written.
                Tenant.objects.select_for_update().get(pk=tenant.pk)
            importer.read()
            importer.check_routes()
            # Planning finds the values other companies map: worth reporting even when
            # other rows already failed, so one run names every problem.
            importer.plan()
            if report.errors or dry_run or not report.has_changes:
                return report
            importer.write()
            report.applied = True
            if report.errors:
                raise _Rollback
    except _Rollback:
        report.applied = False
    except (ValidationError, DatabaseError) as exc:
        # A concurrent change can still trip a service check or a constraint after
        # the plan was made; the transaction is rolled back as a whole.
        report.applied = False
        detail = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        report.add_error(Issue(0, WRITE_FAILED.format(error=detail.strip() or type(exc).__name__)))
    return report
