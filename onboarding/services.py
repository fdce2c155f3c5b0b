"""Writes for routes and their mappings, shared by the admin, the route import and the API.

Every function is keyword-only, runs in a transaction and validates with the model's
own rules (``full_clean``: field validators, ``clean()``, constraints) before saving,
so each entry point accepts and refuses the same values with the same words.

The bulk import validates 100,000 mappings without a query per row: it calls
:func:`mapped_user_build` / :func:`mapped_domain_build` (the field and ``clean()``
rules, no database) and checks uniqueness for whole batches at once, leaving the last
word to the database constraints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_noop

from certificates.models import CertificateChain
from certificates.services import chain_check_upload, chain_create, chain_replace
from common.i18n import Phrase
from common.validators import email_domain
from domains import conf as domains_conf
from domains.selectors import holders
from domains.services import domains_claim_for_mappings
from identity.models import IdentityProvider
from onboarding.models import DEFAULT_UMS_PORT, MappedDomain, MappedUser, Route, Target
from tenants.models import Tenant

#: Fields of a route that :func:`route_update` may change (never ``tenant``: a route
#: does not move between company accounts). ``certificate_chain`` is a chain already
#: stored (the admin's choice); an uploaded file goes through :func:`route_set_chain`.
ROUTE_UPDATE_FIELDS = frozenset(
    {
        "display_name",
        "ums_hostname",
        "ums_port",
        "target",
        "identity_provider",
        "certificate_chain",
        "enabled",
    }
)
ROUTE_UPDATE_UNKNOWN_FIELD = "A route has no changeable field {field!r}."


@transaction.atomic
def route_create(
    *,
    tenant: Tenant,
    display_name: str,
    ums_hostname: str,
    identity_provider: IdentityProvider,
    certificate_chain: CertificateChain,
    ums_port: int = DEFAULT_UMS_PORT,
    target: str = Target.UMS,
    enabled: bool = True,
) -> Route:
    route = Route(
        tenant=tenant,
        display_name=display_name,
        ums_hostname=ums_hostname,
        ums_port=ums_port,
        target=target,
        identity_provider=identity_provider,
        certificate_chain=certificate_chain,
        enabled=enabled,
    )
    route.full_clean()
    route.save()
    return route


@transaction.atomic
def route_update(*, route: Route, data: Mapping[str, Any]) -> list[str]:
    """Apply ``data`` (field name → new value) to ``route``; return the changed field names.

    Saves only when something changed, and then only those fields, so an import that
    repeats the current values touches nothing (not even ``updated_at``).
    """
    changed: list[str] = []
    for field, value in data.items():
        if field not in ROUTE_UPDATE_FIELDS:
            raise ValueError(ROUTE_UPDATE_UNKNOWN_FIELD.format(field=field))
        if getattr(route, field) != value:
            setattr(route, field, value)
            changed.append(field)
    if changed:
        route.full_clean()
        route.save(update_fields=[*changed, "updated_at"])
    return changed


@transaction.atomic
def routes_set_enabled(*, routes: QuerySet[Route], enabled: bool) -> int:
    """Enable or disable ``routes``; return how many of them are now in that state.

    Only the routes that change are written (with ``updated_at``), as in
    :func:`route_update`. No other rule is checked: taking a route out of service, or
    back, must work even while something else about it needs fixing.
    """
    selected = list(routes.values_list("pk", flat=True))
    Route.objects.filter(pk__in=selected).exclude(enabled=enabled).update(
        enabled=enabled, updated_at=timezone.now()
    )
    return len(selected)


def _accepted_pem(*, data: bytes, target: str) -> str:
    """The normalised (root-first) PEM of ``data``, or ChainRejected. Parses nothing itself."""
    return chain_check_upload(data, target=target).accepted_report().pem


@transaction.atomic
def chain_for_route(
    *,
    tenant: Tenant,
    data: bytes,
    filename: str,
    name: str,
    target: str = Target.UMS,
    uploaded_by: Any = None,
) -> CertificateChain:
    """A current chain of ``tenant`` with the certificates of ``data``: reused or uploaded.

    Reusing an identical current chain keeps an import idempotent and lets routes that
    pin the same CA share one chain (as they did before an export) instead of storing
    the same file again for every route.
    """
    pem = _accepted_pem(data=data, target=target)
    existing = (
        CertificateChain.objects.filter(tenant=tenant, replaced_at__isnull=True, pem=pem)
        .order_by("pk")
        .first()
    )
    if existing is not None:
        return existing
    return chain_create(
        tenant=tenant,
        name=name[:200],
        data=data,
        filename=filename,
        uploaded_by=uploaded_by,
        target=target,
    )


@transaction.atomic
def route_set_chain(
    *,
    route: Route,
    data: bytes,
    filename: str,
    by: Any = None,
) -> tuple[CertificateChain, bool]:
    """Point ``route`` at a chain with the certificates of ``data``; return (chain, changed).

    Same certificates as now (compared as normalised PEM, so order, line endings or
    PEM vs DER do not count as a change): nothing happens. Otherwise, when the route is
    the only user of its chain, the chain is replaced (the old one stays as history);
    when other routes share it, replacing it would leave them pinned to a replaced
    chain, so this route gets a chain of its own and the shared one stays current.
    """
    route = Route.objects.select_for_update().select_related("certificate_chain").get(pk=route.pk)
    pem = _accepted_pem(data=data, target=route.target)
    current = route.certificate_chain
    if current.pem == pem:
        return current, False
    shared = Route.objects.filter(certificate_chain=current).exclude(pk=route.pk).exists()
    if shared or current.replaced_at is not None:
        new = chain_for_route(
            tenant=route.tenant,
            data=data,
            filename=filename,
            name=route.display_name,
            target=route.target,
            uploaded_by=by,
        )
    else:
        new = chain_replace(
            route_chain=current, data=data, filename=filename, replaced_by=by, target=route.target
        )
    route.certificate_chain = new
    route.full_clean()
    route.save(update_fields=["certificate_chain", "updated_at"])
    return new, True


def mapped_user_build(*, route: Route | None, email: str) -> MappedUser:
    """A validated, unsaved mapped user (e-mail normalised); the uniqueness check is left out.

    ``route`` may be None while the route is yet to be created (the import checks rows
    before it writes anything).
    """
    user = MappedUser(route=route, email=email)  # clean() takes the route's tenant
    user.clean_fields(exclude=["route", "tenant"])
    user.clean()
    return user


def mapped_domain_build(*, route: Route | None, domain: str) -> MappedDomain:
    """A validated, unsaved mapped domain (A-label, lower case); uniqueness left out."""
    mapped = MappedDomain(route=route, domain=domain)  # clean() takes the route's tenant
    mapped.clean_fields(exclude=["route", "tenant"])
    mapped.clean()
    return mapped


# --- Who may map what (spec 2.1) -----------------------------------------------------

#: Phrases (common.i18n): English here and in the import, the reader's language in the admin.
MAPPING_DOMAIN_HELD = gettext_noop(
    '{label} "{value}" is under {domain}, which another company account has verified as '
    "its own; only that account can route it"
)
MAPPING_TAKEN = gettext_noop(
    '{label} "{value}" is already mapped by another company account; if its domain is '
    "yours, claim and verify the domain under Company domains, then map it here"
)
#: Keys per ``IN (...)`` query: below SQLite's historic 999-parameter limit.
_BATCH = 900


@dataclass(frozen=True)
class MappingKind:
    """Mapped users or mapped domains, for the code that treats both alike."""

    name: str
    label: str
    model: type[MappedUser] | type[MappedDomain]
    field: str
    domain_of: Callable[[str], str]
    #: A validated, unsaved row for a value, before its route exists (the import).
    build: Callable[[str], MappedUser | MappedDomain]


USER_MAPPING = MappingKind(
    "user",
    Phrase(gettext_noop("mapped user")),
    MappedUser,
    "email",
    email_domain,
    lambda value: mapped_user_build(route=None, email=value),
)
DOMAIN_MAPPING = MappingKind(
    "domain",
    Phrase(gettext_noop("mapped domain")),
    MappedDomain,
    "domain",
    lambda value: value,
    lambda value: mapped_domain_build(route=None, domain=value),
)


def _mapped(
    rows: QuerySet[Any], kind: MappingKind, values: Iterable[str]
) -> Iterator[tuple[str, str]]:
    """(value, route name) of those ``rows`` that map one of ``values``, asked in batches.

    Filtered on lower(...), so the look-up uses the unique expression index.
    """
    wanted = list(values)
    for start in range(0, len(wanted), _BATCH):
        yield from (
            rows.annotate(_key=Lower(kind.field))
            .filter(_key__in=wanted[start : start + _BATCH])
            .values_list("_key", "route__display_name")
        )


def mapping_conflicts(
    *, tenant: Tenant, kind: MappingKind, values: Iterable[str]
) -> dict[str, str]:
    """Which of ``values`` (normalised) ``tenant`` may not map, each with the reason.

    The one rule for the admin, the import and the services: no account may map under a
    domain another account has verified; otherwise an address or domain is mapped by
    one account at a time (first come, first served), except that the account that
    verified its domain may always map it, because only its rows route there. The
    messages name no other account. Batched, so an import asks a few queries in all.
    """
    domain_of = {value: kind.domain_of(value) for value in values}
    held = holders(domain_of.values()) if domains_conf.verification_enabled() else {}
    problems: dict[str, str] = {}
    first_come: list[str] = []
    for value, domain in domain_of.items():
        holder = held.get(domain)
        if holder is None:
            first_come.append(value)
        elif holder[0] != tenant.pk:
            problems[value] = Phrase(
                MAPPING_DOMAIN_HELD, label=kind.label, value=value, domain=holder[1]
            )
    elsewhere = kind.model.objects.exclude(tenant=tenant)
    for value, _route in _mapped(elsewhere, kind, first_come):
        problems[value] = Phrase(MAPPING_TAKEN, label=kind.label, value=value)
    return problems


MAPPING_TAKEN_HERE = gettext_noop(
    '{label} "{value}" is already mapped to the route "{route}" of this company account: '
    "remove it there first"
)


def mapping_taken_here(
    *, tenant: Tenant, kind: MappingKind, values: Iterable[str], excluding: Iterable[int] = ()
) -> dict[str, str]:
    """Which of ``values`` the tenant maps already (rows ``excluding`` aside), with the message."""
    here = kind.model.objects.filter(tenant=tenant).exclude(pk__in=list(excluding))
    return {
        value: Phrase(MAPPING_TAKEN_HERE, label=kind.label, value=value, route=route)
        for value, route in _mapped(here, kind, values)
    }


def mappings_claim(*, tenant: Tenant, kind: MappingKind, values: Iterable[str]) -> None:
    """Claim (pending) the domains of new mappings that no claim of the tenant covers yet."""
    domains_claim_for_mappings(tenant=tenant, domains={kind.domain_of(v) for v in values})


def _mapping_add(*, route: Route, kind: MappingKind, mapping: MappedUser | MappedDomain) -> None:
    value = getattr(mapping, kind.field)
    problem = mapping_conflicts(tenant=route.tenant, kind=kind, values=[value]).get(value)
    if problem:
        raise ValidationError({kind.field: problem})
    mapping.validate_constraints()
    mapping.save()
    mappings_claim(tenant=route.tenant, kind=kind, values=[value])


@transaction.atomic
def mapped_user_add(*, route: Route, email: str) -> MappedUser:
    user = mapped_user_build(route=route, email=email)
    _mapping_add(route=route, kind=USER_MAPPING, mapping=user)
    return user


@transaction.atomic
def mapped_domain_add(*, route: Route, domain: str) -> MappedDomain:
    mapped = mapped_domain_build(route=route, domain=domain)
    _mapping_add(route=route, kind=DOMAIN_MAPPING, mapping=mapped)
    return mapped


def mapping_validation_message(exc: ValidationError) -> str:
    """One line from a ValidationError raised by the build functions above."""
    if hasattr(exc, "error_dict"):
        return " ".join(m for messages in exc.message_dict.values() for m in messages)
    return " ".join(exc.messages)
