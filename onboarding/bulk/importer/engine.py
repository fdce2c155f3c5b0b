"""The import's three phases, run in one transaction by :func:`import_routes`.

1. **Read and check** the file as a stream (:meth:`_Importer.read`): each mapping key
   through the model rules into the :class:`KeyStore`, each route through
   :class:`RouteChecker`.
2. **Plan** against the database (:meth:`_Importer.plan`): which mappings are
   created, moved or removed, and which values another company account already maps.
3. **Write** (:meth:`_Importer.write`), only when there is no problem and it is not a
   dry run.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils import timezone
from django.utils.translation import gettext_noop

from certificates.services import chain_files_atomic
from common.i18n import Phrase
from domains.services import domains_claim_for_mappings
from onboarding.bulk.importer.chains import longest_cell_chars
from onboarding.bulk.importer.fields import json_type, mapping_message
from onboarding.bulk.importer.keys import CREATE, MOVE, REMOVE, KeyStore
from onboarding.bulk.importer.report import ImportReport, MappingChanges
from onboarding.bulk.importer.routes import RouteChecker, RoutePlan
from onboarding.bulk.importer.source import ImportSource
from onboarding.bulk.progress import Progress
from onboarding.bulk.readers import (
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
    route_create,
    route_set_chain,
    route_update,
)
from tenants.models import Tenant

NOT_UTF8 = gettext_noop("the file is not UTF-8 text (save it as CSV UTF-8 or JSON in UTF-8)")
NOT_UTF8_LINE = gettext_noop(
    "this line is not UTF-8 text (save the file as CSV UTF-8 or JSON in UTF-8)"
)
DUPLICATE_IN_FILE = gettext_noop('{label} "{value}" is also listed on line {first}')
DUPLICATE_FOR_OTHER_ROUTE = gettext_noop(
    '{label} "{value}" is also listed on line {first} for another route'
)
WRITE_FAILED = gettext_noop(
    "the database refused the import ({error}); possibly someone changed routes or "
    "mappings at the same time. Nothing was written; run the import again."
)
MAPPING_NOT_TEXT = gettext_noop("{label} must be text, not {type}")
#: The stages of the progress bar (and of the job page).
READING = gettext_noop("Reading {name}")
CHECKING = {
    "user": gettext_noop("Checking mapped users"),
    "domain": gettext_noop("Checking mapped domains"),
}
WRITING = gettext_noop("Writing mappings")
TEMPLATES = (
    NOT_UTF8,
    NOT_UTF8_LINE,
    DUPLICATE_IN_FILE,
    DUPLICATE_FOR_OTHER_ROUTE,
    WRITE_FAILED,
    MAPPING_NOT_TEXT,
    READING,
    *CHECKING.values(),
    WRITING,
    *(kind.label for kind in (USER_MAPPING, DOMAIN_MAPPING)),
)
BATCH_SIZE = 2000
#: Keys per ``IN (...)`` query: below SQLite's historic 999-parameter limit.
LOOKUP_BATCH = 900

_KINDS: dict[str, MappingKind] = {kind.name: kind for kind in (USER_MAPPING, DOMAIN_MAPPING)}


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
        keys: KeyStore,
    ) -> None:
        self.tenant = tenant
        self.source = source
        self.by = by
        self.progress = progress
        self.keys = keys
        self.report = ImportReport(
            source=source.name, tenant=tenant.slug, dry_run=dry_run, prune=prune
        )
        self.records: list[RouteRecord] = []
        self.plans: dict[int, RoutePlan] = {}
        self._written = 0  # mappings written so far, for the progress

    def error(self, line: int, message: str) -> None:
        self.report.add_error(Issue(line, message))

    # Phase 1 -----------------------------------------------------------------------

    def read(self) -> None:
        raw = self.source.opener()
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", errors="strict")
        longest = longest_cell_chars()
        if self.source.format == "json":
            reader = functools.partial(read_json, max_token_chars=longest)
        else:
            reader = functools.partial(read_csv, max_field_chars=longest)
        self.progress.start(Phrase(READING, name=self.source.name), self.source.size)
        count = 0
        try:
            with text:
                for record in reader(text):
                    if isinstance(record, MappingRecord):
                        self._mapping(record)
                        count += 1
                        if count % 5000 == 0:
                            self.progress.update(raw.tell())
                    elif isinstance(record, RouteRecord):
                        self.records.append(record)
                    else:
                        self.report.add_error(record)
        except UnicodeDecodeError:
            line = _first_undecodable_line(self.source.opener)
            self.error(line, NOT_UTF8_LINE if line else NOT_UTF8)
        self.progress.finish()

    def _mapping(self, record: MappingRecord) -> None:
        kind = _KINDS[record.kind]
        value = record.value
        if not isinstance(value, str):
            self.error(
                record.line, Phrase(MAPPING_NOT_TEXT, label=kind.label, type=json_type(value))
            )
            return
        value = value.strip()
        try:
            key = getattr(kind.build(value), kind.field)
        except ValidationError as exc:
            reason = mapping_validation_message(exc)
            self.error(record.line, mapping_message(kind.name, kind.label, value, reason))
            return
        first = self.keys.add(kind.name, key, record.route, record.line)
        if first is not None:
            other = first[0] != record.route
            template = DUPLICATE_FOR_OTHER_ROUTE if other else DUPLICATE_IN_FILE
            self.error(record.line, Phrase(template, label=kind.label, value=value, first=first[1]))

    def check_routes(self) -> None:
        checker = RouteChecker(tenant=self.tenant, source=self.source, report=self.report)
        self.plans = checker.check(self.records)

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
            elif plan.changed_fields:
                self.report.routes_changed.append((plan.name, plan.changed_fields))
            else:
                self.report.routes_unchanged.append(plan.name)
        for kind in _KINDS.values():
            changes = self.report.users if kind.name == USER else self.report.domains
            self.progress.start(Phrase(CHECKING[kind.name]), self.keys.count(kind.name))
            self._plan_known(kind, changes, route_ids)
            self._plan_new(kind, changes)
            self._plan_not_in_file(kind, changes)
            self.progress.finish()

    def _plan_known(
        self, kind: MappingKind, changes: MappingChanges, route_ids: dict[int, int | None]
    ) -> None:
        """Values of the file the company maps already: unchanged, or moved to their route."""
        rows = (
            kind.model.objects.filter(route__tenant=self.tenant)
            .values_list(kind.field, "pk", "route_id")
            .iterator(chunk_size=5000)
        )
        self.keys.add_current(kind.name, rows)
        for value, ordinal, pk, route_id in self.keys.both(kind.name):
            target_id = route_ids.get(ordinal)
            if target_id is not None and route_id == target_id:
                changes.unchanged += 1
            else:
                changes.moved += 1
                changes.sample("moved", value)
                self.keys.plan(kind.name, MOVE, pk=pk, ordinal=ordinal)

    def _plan_new(self, kind: MappingKind, changes: MappingChanges) -> None:
        """Values the company does not map yet: may it map them (spec 2.1)?"""
        checked = 0
        for batch in self.keys.only_in_file(kind.name, LOOKUP_BATCH):
            values = [value for value, _ordinal, _line in batch]
            problems = mapping_conflicts(tenant=self.tenant, kind=kind, values=values)
            for value, ordinal, line in batch:
                if value in problems:
                    self.error(line, problems[value])
                else:
                    changes.created += 1
                    changes.sample("created", value)
                    self.keys.plan(kind.name, CREATE, key=value, ordinal=ordinal)
            checked += len(batch)
            self.progress.update(checked)

    def _plan_not_in_file(self, kind: MappingKind, changes: MappingChanges) -> None:
        """The company's values the file does not list: removed with --prune, else kept."""
        for value, pk in self.keys.only_in_company(kind.name):
            if self.report.prune:
                changes.removed += 1
                changes.sample("removed", value)
                self.keys.plan(kind.name, REMOVE, pk=pk)
            else:
                changes.kept += 1

    # Phase 3 -----------------------------------------------------------------------

    def write(self) -> None:
        routes: dict[int, Route] = {}
        for ordinal, plan in sorted(self.plans.items()):
            routes[ordinal] = self._write_route(plan)
        self.progress.start(Phrase(WRITING), sum(self.keys.planned(k) for k in _KINDS))
        self._written = 0
        for kind in _KINDS.values():
            manager: Any = kind.model.objects  # MappedUser or MappedDomain, used alike
            for pks in self.keys.removals(kind.name, LOOKUP_BATCH):
                manager.filter(pk__in=pks).delete()
                self._wrote(len(pks))
            for ordinal, pks in self.keys.moves(kind.name, LOOKUP_BATCH):
                manager.filter(pk__in=pks).update(route_id=routes[ordinal].pk)
                self._wrote(len(pks))
            self._create(kind, routes)
            # Claimed batch by batch, parents first: the same claims as all at once.
            for domains in self.keys.domains(kind.name, LOOKUP_BATCH):
                domains_claim_for_mappings(tenant=self.tenant, domains=domains)
        self.progress.finish()

    def _wrote(self, count: int) -> None:
        self._written += count
        self.progress.update(self._written)

    def _create(self, kind: MappingKind, routes: dict[int, Route]) -> None:
        now = timezone.now()
        manager: Any = kind.model.objects  # MappedUser or MappedDomain, used alike
        for batch in self.keys.creations(kind.name, BATCH_SIZE):
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
            self.keys.add_domains(kind.name, (kind.domain_of(v) for v, _o in batch))
            self._wrote(len(batch))

    def _write_route(self, plan: RoutePlan) -> Route:
        if plan.route is None:
            # A new route always has a chain here: the check refuses one without.
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
    with KeyStore() as keys:
        importer = _Importer(
            tenant=tenant,
            source=source,
            prune=prune,
            dry_run=dry_run,
            by=by,
            progress=progress or Progress(),
            keys=keys,
        )
        _run(importer)
    return importer.report


def _run(importer: _Importer) -> None:
    report = importer.report
    try:
        with chain_files_atomic():
            if not report.dry_run:
                # One import per company at a time: the plan must still hold when written.
                Tenant.objects.select_for_update().get(pk=importer.tenant.pk)
            importer.read()
            importer.check_routes()
            # Planning finds the values other companies map: worth reporting even when
            # other rows already failed, so one run names every problem.
            importer.plan()
            if report.errors or report.dry_run or not report.has_changes:
                return
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
        report.add_error(Issue(0, Phrase(WRITE_FAILED, error=detail.strip() or type(exc).__name__)))
