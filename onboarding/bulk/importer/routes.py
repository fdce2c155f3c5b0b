"""Checking the routes of an import file: each route record becomes a plan or problems.

A route of the file is checked in three steps, each reporting its problems with the
line of the field: its name (given, once in the file, which existing route it is),
its values (file values coerced to the model's types, the identity provider found),
and the route as it would be (the model's own rules, then the certificate chain).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_noop

from certificates.validation import ChainReport
from common.i18n import Phrase
from identity.models import IdentityProvider
from onboarding.bulk.importer.chains import inspect
from onboarding.bulk.importer.fields import DETAIL, TEXT_FIELDS, TYPED_FIELDS, json_type, shown
from onboarding.bulk.importer.report import ImportReport
from onboarding.bulk.importer.source import (
    CHAIN_NOT_FOUND,
    CHAIN_OUTSIDE,
    ChainNotFound,
    ChainOutside,
    ImportSource,
)
from onboarding.bulk.readers import Issue, RouteRecord
from onboarding.models import Route
from tenants.models import Tenant

NEEDS_IDP = gettext_noop('route "{name}" is new and needs an identity provider')
NEEDS_HOSTNAME = gettext_noop('route "{name}" is new and needs a UMS hostname')
NEEDS_CHAIN = gettext_noop('route "{name}" is new and needs a certificate chain')
NOT_TEXT = gettext_noop("must be text, not {type}")
NOT_EXPECTED = gettext_noop("{value} is not {expected}")
QUOTED = gettext_noop("{value} is text; write {written}, unquoted")
NOT_AN_IDP = gettext_noop("{value} is not an identity provider of this company account")
ROUTE_REFUSED = gettext_noop('route "{name}": {problem}')
NOT_VALID = gettext_noop('"{value}" is not valid: {problem}')
CURRENT_CHAIN = gettext_noop(
    'the current certificate chain of route "{name}" is not valid for target {target}: {problems}'
)
NOT_A_CHAIN = gettext_noop("must be a file path or PEM text")
INLINE_PEM = gettext_noop("(inline PEM)")
CHAIN_REFUSED = gettext_noop("{chain} is refused: {problem}")
TEMPLATES = (
    NEEDS_IDP,
    NEEDS_HOSTNAME,
    NEEDS_CHAIN,
    NOT_TEXT,
    NOT_EXPECTED,
    QUOTED,
    NOT_AN_IDP,
    ROUTE_REFUSED,
    NOT_VALID,
    CURRENT_CHAIN,
    NOT_A_CHAIN,
    INLINE_PEM,
    CHAIN_REFUSED,
)


@dataclass
class RoutePlan:
    """What the import does to one route of the file; ``ok`` is False when it cannot."""

    record: RouteRecord
    name: str
    route: Route | None  # the existing route, or None for a new one
    values: dict[str, Any] = field(default_factory=dict)  # new route: all; existing: changes
    chain: tuple[bytes, str] | None = None  # data and file name, when the chain changes
    ok: bool = True

    @property
    def changed_fields(self) -> list[str]:
        """The fields of an existing route the import changes, for the report."""
        return sorted(self.values) + (["certificate_chain"] if self.chain else [])


class RouteChecker:
    """Checks the route records of one file against the company's routes and IdPs."""

    def __init__(self, *, tenant: Tenant, source: ImportSource, report: ImportReport) -> None:
        self.tenant = tenant
        self.source = source
        self.report = report
        self.existing = {
            r.display_name: r
            for r in Route.objects.filter(tenant=tenant).select_related(
                "certificate_chain", "identity_provider"
            )
        }
        self.idps = {p.name: p for p in IdentityProvider.objects.filter(tenant=tenant)}
        self._names: dict[str, int] = {}  # route name → line it is defined on
        self._reports: dict[tuple[str, str], ChainReport] = {}  # chain verdicts, see chains.inspect

    def check(self, records: Iterable[RouteRecord]) -> dict[int, RoutePlan]:
        """A plan per route ordinal, in file order; problems go to the report."""
        plans = {}
        for record in sorted(records, key=lambda r: r.ordinal):
            plans[record.ordinal] = self._plan(record)
        in_file = {p.name for p in plans.values()}
        self.report.routes_not_in_file = sorted(set(self.existing) - in_file)
        return plans

    def _plan(self, record: RouteRecord) -> RoutePlan:
        plan = self._named(record)
        if not plan.ok:
            return plan
        values = self._values(plan)
        candidate = self._judged(plan, values)
        self._chain_plan(plan, candidate.target)
        if plan.route is None:
            plan.values = values
        else:
            plan.values = {k: v for k, v in values.items() if getattr(plan.route, k) != v}
            plan.values.pop("display_name", None)
        return plan

    def _error(self, line: int, message: str) -> None:
        self.report.add_error(Issue(line, message))

    def _bad(self, plan: RoutePlan, key: str, message: str) -> None:
        """A problem with one field, reported on the line the field was read on."""
        record = plan.record
        self._error(
            record.fields.get(key, (None, record.line))[1],
            Phrase(DETAIL, subject=key, detail=message),
        )
        plan.ok = False

    # 1. The name --------------------------------------------------------------------

    def _named(self, record: RouteRecord) -> RoutePlan:
        """The plan for the route the record names (``ok`` False if the name is wrong)."""
        plan = RoutePlan(record=record, name="", route=None, ok=False)
        raw_name, name_line = record.fields.get("display_name", (None, record.line))
        if not isinstance(raw_name, str) or not raw_name.strip():
            self._error(name_line, "display_name: every route needs a display name")
            return plan
        if "\x00" in raw_name:
            # PostgreSQL cannot even compare such text: checking the name would fail.
            self._error(name_line, "display_name: must not contain a NUL character (\\u0000)")
            return plan
        name = raw_name.strip()
        if name in self._names:
            self._error(
                record.line, f'route "{name}" is already defined on line {self._names[name]}'
            )
            return plan
        self._names[name] = record.line
        plan.name, plan.route, plan.ok = name, self.existing.get(name), True
        return plan

    # 2. The values ------------------------------------------------------------------

    def _values(self, plan: RoutePlan) -> dict[str, Any]:
        """The file's values as the model wants them. A field the file leaves out keeps
        the route's current value, or for a new route takes the model default."""
        fields, new = plan.record.fields, plan.route is None
        values: dict[str, Any] = {"display_name": plan.name}
        for key in (k for k in TEXT_FIELDS if k in fields):
            text = self._text(plan, key)
            if text is not None:
                values[key] = text
        for key, parse, expected, written in (t for t in TYPED_FIELDS if t[0] in fields):
            parsed = self._typed(plan, key, parse, expected, written)
            if parsed is not None:
                values[key] = parsed
        if "identity_provider" in fields:
            idp = self._identity_provider(plan)
            if idp is not None:
                values["identity_provider"] = idp
        elif new:
            self._bad(
                plan,
                "identity_provider",
                Phrase(NEEDS_IDP, name=plan.name),
            )
        if new and "ums_hostname" not in fields:
            self._bad(plan, "ums_hostname", Phrase(NEEDS_HOSTNAME, name=plan.name))
        return values

    def _text(self, plan: RoutePlan, key: str) -> str | None:
        value = plan.record.fields[key][0]
        if not isinstance(value, str):
            self._bad(plan, key, Phrase(NOT_TEXT, type=json_type(value)))
            return None
        return value.strip().lower() if key == "target" else value.strip()

    def _typed(
        self, plan: RoutePlan, key: str, parse: Callable[[Any], Any], expected: str, written: str
    ) -> Any:
        raw = plan.record.fields[key][0]
        parsed = parse(raw)
        if parsed is None:
            self._bad(plan, key, Phrase(NOT_EXPECTED, value=shown(raw), expected=expected))
            return None
        # CSV cells are text; in JSON the port is a number and the flag true/false.
        if self.source.format == "json" and isinstance(raw, str):
            self._bad(plan, key, Phrase(QUOTED, value=shown(raw), written=written))
            return None
        return parsed

    def _identity_provider(self, plan: RoutePlan) -> IdentityProvider | None:
        idp_name = plan.record.fields["identity_provider"][0]
        idp = self.idps.get(idp_name.strip()) if isinstance(idp_name, str) else None
        if idp is None:
            self._bad(
                plan,
                "identity_provider",
                Phrase(NOT_AN_IDP, value=shown(idp_name)),
            )
        return idp

    # 3. The route as it would be ----------------------------------------------------

    def _judged(self, plan: RoutePlan, values: dict[str, Any]) -> Route:
        """The route with ``values``, checked by the model's own rules."""
        route = plan.route
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
                self._model_error(plan, key, messages)
        return candidate

    def _model_error(self, plan: RoutePlan, key: str, messages: list[str]) -> None:
        fields = plan.record.fields
        if key == "certificate_chain" and "certificate_chain" in fields:
            # About the current chain (say, a server certificate for a route turning
            # ICG), which the file replaces; the new one is checked by _chain_plan.
            return
        if key in ("__all__", "tenant"):
            self._error(
                plan.record.line, Phrase(ROUTE_REFUSED, name=plan.name, problem=" ".join(messages))
            )
            plan.ok = False
            return
        value = fields.get(key, (None, 0))[0]
        text = " ".join(messages)
        if value is not None and key not in ("display_name", "identity_provider"):
            text = Phrase(NOT_VALID, value=value, problem=text)
        self._bad(plan, key, text)

    def _chain_plan(self, plan: RoutePlan, target: str) -> None:
        """The chain: given (path or inline PEM), or kept for an existing route."""
        route = plan.route
        if "certificate_chain" in plan.record.fields:
            plan.chain = self._chain(plan, target)
        elif route is None:
            self._bad(
                plan,
                "certificate_chain",
                Phrase(NEEDS_CHAIN, name=plan.name),
            )
        elif target != route.target:
            report = inspect(route.certificate_chain.pem.encode(), target, self._reports)
            if not report.accepted:
                self._bad(
                    plan,
                    "target",
                    Phrase(
                        CURRENT_CHAIN,
                        name=plan.name,
                        target=target,
                        problems=" ".join(p.message for p in report.errors),
                    ),
                )

    def _chain(self, plan: RoutePlan, target: str) -> tuple[bytes, str] | None:
        """The new chain's data and file name; None if it is refused or does not change."""
        ref, line = plan.record.fields["certificate_chain"]
        if not isinstance(ref, str) or not ref.strip():
            self._bad(plan, "certificate_chain", Phrase(NOT_A_CHAIN))
            return None
        ref = ref.strip()
        found = self._chain_bytes(plan, ref)
        if found is None:
            return None
        report = inspect(found[0], target, self._reports)
        shown_ref = Phrase(INLINE_PEM) if "-----BEGIN" in ref else f'"{ref}"'
        for problem in report.errors:
            refused = Phrase(CHAIN_REFUSED, chain=shown_ref, problem=problem.message)
            self._bad(plan, "certificate_chain", refused)
        for problem in report.warnings:
            self.report.add_warning(Issue(line, _chain_warning(shown_ref, problem.message)))
        if not report.accepted:
            return None
        if plan.route is not None and plan.route.certificate_chain.pem == report.pem:
            return None  # same certificates: nothing changes
        return found

    def _chain_bytes(self, plan: RoutePlan, ref: str) -> tuple[bytes, str] | None:
        """The chain a reference gives: inline PEM, or a file found through the source."""
        if "-----BEGIN" in ref:
            return ref.encode(), "chain.pem"
        try:
            return self.source.chain_reader(ref)
        except ChainOutside:
            message = Phrase(CHAIN_OUTSIDE, ref=ref, name=self.source.name)
        except (ChainNotFound, OSError, ValueError):
            message = Phrase(CHAIN_NOT_FOUND, ref=ref, base=self.source.base_description)
        self._bad(plan, "certificate_chain", message)
        return None


def _copy(route: Route) -> Route:
    """An unsaved copy of ``route`` to try new values on without touching the original."""
    clone = Route(**{f.attname: getattr(route, f.attname) for f in Route._meta.concrete_fields})
    clone._state.adding = False
    clone._state.db = route._state.db
    return clone


def _chain_warning(shown_ref: str, problem: str) -> Phrase:
    """``certificate_chain: "ref": problem``: a chain accepted with a warning."""
    return Phrase(
        DETAIL,
        subject="certificate_chain",
        detail=Phrase(DETAIL, subject=shown_ref, detail=problem),
    )
