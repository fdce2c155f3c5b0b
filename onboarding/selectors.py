"""Reads of the onboarding app: routing (the one rule every path uses) and device codes."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections
from django.utils import timezone

from certificates.models import Certificate, CertificateChain
from common.postgresql import prepared
from common.validators import email_domain, normalize_email
from domains.conf import verification_enabled
from domains.models import DomainStatus
from domains.selectors import suffixes, verified_domain_for
from onboarding.models import (
    DeviceAuthorization,
    DeviceAuthorizationState,
    Route,
)
from tenants.models import Tenant

_TENANT_FIELD = Route._meta.get_field("tenant")
_CHAIN_FIELD = Route._meta.get_field("certificate_chain")

#: RFC 8628 section 6.1: no vowels (no words), no look-alikes; 20^8 ≈ 2^34.6 codes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8

# Why routing failed, as the short codes kept in onboarding events.
REASON_INVALID_EMAIL = "invalid_email"
REASON_NOT_MAPPED = "not_mapped"
REASON_ROUTE_DISABLED = "route_disabled"
REASON_TENANT_NOT_ACTIVATED = "tenant_not_activated"
REASON_DOMAIN_UNVERIFIED = "domain_unverified"


def chain_fingerprints(chain: CertificateChain) -> list[str]:
    """The SHA-256 fingerprints of a chain's certificates, root first.

    A chain's certificates never change (a new upload is a new chain), so each process
    keeps them after the first read, keyed by the chain and a digest of its PEM (which
    the route's query loaded anyway): a device answer then costs no query for them.
    """
    digest = hashlib.sha256(chain.pem.encode()).hexdigest()
    return list(_fingerprints(chain.pk, digest))


@functools.lru_cache(maxsize=4096)
def _fingerprints(chain_id: int, pem_digest: str) -> tuple[str, ...]:
    return tuple(
        Certificate.objects.filter(chain_id=chain_id)
        .order_by("position")
        .values_list("sha256", flat=True)
    )


@dataclass(frozen=True)
class RouteLookup:
    """The outcome of routing one e-mail address.

    ``route`` is the answer (None when the address cannot be onboarded); ``matched`` is
    the route a mapping of the company entitled to the address points at, even when
    unusable, so a failure can be recorded for that company; ``reason`` is a ``REASON_*``
    code when ``route`` is None; ``domain`` is the verified company domain that let the
    route serve the address; ``holder_id`` the company holding the address's domain.
    """

    route: Route | None
    matched: Route | None = None
    reason: str = ""
    domain: str = ""
    holder_id: int | None = None

    @property
    def event_tenant_id(self) -> int | None:
        """Whose onboarding events a failure belongs in: never a company without a right."""
        return self.matched.tenant_id if self.matched is not None else self.holder_id


# Every route an account maps the address or its domain to, in one statement, with what
# routing decides on: whether a user mapping matched, whether the tenant is activated,
# and (the same for every row) which company holds the address's domain and through
# which verified domain: the most specific verified claim covering it, as DNS delegates.
# Written as SQL because this is the hot path of every device request: building the
# same statement through the ORM cost several times what the database takes to run it.
# Mappings are matched through their unique lower(...) indexes, and routes by primary key
# (a UNION, not "IN ... OR IN ...", which PostgreSQL answers with a scan of every route);
# standard SQL, the same on SQLite and PostgreSQL. On PostgreSQL it is prepared once per
# connection (common.postgresql.prepared): planning it cost more than running it. It names
# the model's columns (not r.*): a column a newer release's migration added is not read.
_CANDIDATES_SQL = """
SELECT {route_columns},
       EXISTS (SELECT 1 FROM onboarding_mappeduser u
               WHERE u.route_id = r.id AND lower(u.email) = %s) AS matched_by_user,
       EXISTS (SELECT 1 FROM tenants_activation a
               WHERE a.tenant_id = r.tenant_id) AS tenant_activated,
       (SELECT c.tenant_id FROM domains_companydomain c
        WHERE c.status = %s AND c.domain IN ({suffixes})
        ORDER BY length(c.domain) DESC LIMIT 1) AS holder_id,
       (SELECT c.domain FROM domains_companydomain c
        WHERE c.status = %s AND c.domain IN ({suffixes})
        ORDER BY length(c.domain) DESC LIMIT 1) AS holder_domain,
       t.slug AS tenant_slug, t.name AS tenant_name, ch.pem AS chain_pem
FROM onboarding_route r
JOIN tenants_tenant t ON t.id = r.tenant_id
JOIN certificates_certificatechain ch ON ch.id = r.certificate_chain_id
WHERE r.id IN (SELECT route_id FROM onboarding_mappeduser WHERE lower(email) = %s
               UNION
               SELECT route_id FROM onboarding_mappeddomain WHERE lower(domain) = %s)
ORDER BY r.id
"""


def _candidates(email: str, domain: str) -> list[Route]:
    """Every route an account maps ``email`` or its domain to (a handful at most).

    Each comes with its tenant (slug and name) and its chain (the PEM) attached, as the
    answer and the events need them; anything else of theirs, and the identity
    provider, load when first used.
    """
    names = suffixes(domain)
    verified = DomainStatus.VERIFIED.value
    params = [email, verified, *names, verified, *names, email, domain]
    connection = connections[Route.objects.db]
    columns, rows = prepared.execute(connection, _candidates_sql(len(names)), params)
    if not rows:
        return []
    reader = _row_reader(connection.alias, columns)
    return [reader(row, connection) for row in rows]


#: The route's columns a device answer or an event needs: not its timestamps, which stay
#: deferred (loaded if ever read), so the device path does not parse two datetimes.
_ROUTE_FIELDS = tuple(
    f for f in Route._meta.concrete_fields if f.attname not in ("created_at", "updated_at")
)


@functools.lru_cache(maxsize=16)
def _candidates_sql(suffix_count: int) -> str:
    """_CANDIDATES_SQL for an address domain with ``suffix_count`` suffixes."""
    route_columns = ", ".join(f"r.{f.column}" for f in _ROUTE_FIELDS)
    placeholders = ", ".join(["%s"] * suffix_count)
    return _CANDIDATES_SQL.format(route_columns=route_columns, suffixes=placeholders)


@functools.lru_cache(maxsize=8)
def _row_reader(alias: str, columns: tuple[str, ...]) -> Any:
    """What ``Route.objects.raw`` does with each row of _CANDIDATES_SQL, worked out once per
    statement shape: the route's columns through their fields' converters (SQLite's
    0/1 booleans, text datetimes) into ``Route.from_db``, the extra columns as
    attributes, the tenant and chain attached. (raw() worked this out for every row of
    every request, more than running the statement cost.)"""
    connection = connections[alias]
    fields = {f.column: f for f in _ROUTE_FIELDS}
    position = {name: i for i, name in enumerate(columns)}
    # In the model's field order, which from_db goes by (the table's may differ).
    route_fields = [f for f in _ROUTE_FIELDS if str(f.column) in position]
    route_positions = [position[str(f.column)] for f in route_fields]
    expressions = [f.get_col(Route._meta.db_table) for f in route_fields]
    converters = [
        connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
        for field, expression in zip(route_fields, expressions, strict=True)
    ]
    attnames = [f.attname for f in route_fields]
    extra = {name: i for i, name in enumerate(columns) if name not in fields}

    def read(row: tuple[Any, ...], connection: Any) -> Route:
        values = []
        for at, expression, field_converters in zip(
            route_positions, expressions, converters, strict=True
        ):
            value = row[at]
            for converter in field_converters:
                value = converter(value, expression, connection)
            values.append(value)
        route = Route.from_db(alias, attnames, values)
        attributes: Any = route  # the statement's extra columns, as raw() set them
        for name, at in extra.items():
            setattr(attributes, name, row[at])
        attributes.matched_by_user = bool(attributes.matched_by_user)
        attributes.tenant_activated = bool(attributes.tenant_activated)
        tenant = _partial(
            Tenant, id=route.tenant_id, slug=attributes.tenant_slug, name=attributes.tenant_name
        )
        chain = _partial(CertificateChain, id=route.certificate_chain_id, pem=attributes.chain_pem)
        _TENANT_FIELD.set_cached_value(route, tenant)
        _CHAIN_FIELD.set_cached_value(route, chain)
        return route

    return read


def _partial(model: type[Any], **values: Any) -> Any:
    """An instance with only ``values`` loaded (the rest load when first used).

    ``from_db`` takes the values in the model's field order, whatever order they are
    named in: this puts them in that order, so a reordered model cannot swap them.
    """
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(Route.objects.db, names, [values[name] for name in names])


def _best(routes: list[Route]) -> Route:
    """A user mapping wins over a domain mapping (then the oldest row, to be stable)."""
    return next((r for r in routes if r.matched_by_user), routes[0])  # type: ignore[attr-defined]  # a column of _CANDIDATES_SQL


def _entitled(candidates: list[Route], domain: str) -> RouteLookup | Route:
    """The route of the company entitled to the address, or why there is none."""
    if not verification_enabled():
        # A single-company install: should rows of several companies exist (left from
        # "dns" mode), none is trusted over another.
        if len({r.tenant_id for r in candidates}) > 1:
            return RouteLookup(None, reason=REASON_DOMAIN_UNVERIFIED)
        return _best(candidates)
    holder: int | None = candidates[0].holder_id  # type: ignore[attr-defined]  # a column of _CANDIDATES_SQL
    if holder is None:
        return RouteLookup(None, matched=_best(candidates), reason=REASON_DOMAIN_UNVERIFIED)
    mine = [r for r in candidates if r.tenant_id == holder]
    if not mine:
        # Only other companies' rows, under a domain the holder has not mapped here.
        return RouteLookup(None, reason=REASON_NOT_MAPPED, holder_id=holder)
    return _best(mine)


def route_lookup(email: object) -> RouteLookup:
    """Route ``email`` (spec 2 and 2.1).

    Only rows of the company that holds the address's domain (has it, or a domain it is
    under, verified; the most specific claim wins) can route it; other companies' rows
    for the address are skipped, and if only those exist the answer is
    ``domain_unverified`` (recorded for the company whose row it was, when no company
    holds the domain) or ``not_mapped`` (recorded for the holder). Among the holder's rows
    a user mapping wins over a domain mapping, even when its route is disabled: an admin
    who disables a user's route means "do not onboard this user", not "send them wherever
    their domain goes". The route must be enabled and its tenant activated. With
    ``DOMAIN_VERIFICATION=off`` every row counts as verified for its own tenant.
    """
    if not isinstance(email, str):
        return RouteLookup(None, reason=REASON_INVALID_EMAIL)
    try:
        email = normalize_email(email)
    except ValidationError:
        return RouteLookup(None, reason=REASON_INVALID_EMAIL)
    domain = email_domain(email)
    candidates = _candidates(email, domain)
    if not candidates:
        return RouteLookup(None, reason=REASON_NOT_MAPPED)
    entitled = _entitled(candidates, domain)
    if isinstance(entitled, RouteLookup):
        return entitled
    route = entitled
    matched_domain = route.holder_domain or ""  # type: ignore[attr-defined]  # a column of _CANDIDATES_SQL
    if not route.enabled:
        return RouteLookup(None, matched=route, reason=REASON_ROUTE_DISABLED)
    if not route.tenant_activated:  # type: ignore[attr-defined]  # a column of _CANDIDATES_SQL
        return RouteLookup(None, matched=route, reason=REASON_TENANT_NOT_ACTIVATED)
    return RouteLookup(route, matched=route, domain=matched_domain)


def route_for_email(email: object) -> Route | None:
    """The enabled route of an activated tenant that ``email`` is mapped to, or None."""
    return route_lookup(email).route


def normalize_user_code(value: object) -> str | None:
    """``"bcdf-ghjk"``, ``"BCDF GHJK"`` → ``"BCDFGHJK"``; None if it cannot be a user code."""
    if not isinstance(value, str) or len(value) > 32:
        return None
    code = "".join(ch for ch in value.upper() if ch not in "- \t")
    if len(code) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in code):
        return None
    return code


def hash_secret(value: str) -> str:
    """SHA-256 (hex) of a high-entropy secret (device code, OIDC state)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def pending_authorization_for_user_code(user_code: object) -> DeviceAuthorization | None:
    """The pending, unexpired device authorization that the user typed the code of."""
    code = normalize_user_code(user_code)
    if code is None:
        return None
    return (
        DeviceAuthorization.objects.select_related("tenant")
        .filter(
            user_code=code,
            state=DeviceAuthorizationState.PENDING,
            expires_at__gt=timezone.now(),
        )
        .first()
    )


def authorization_for_device_code(device_code: str) -> DeviceAuthorization | None:
    # The IdP comes along: an approved code's answer names it (the assertion's issuer).
    return (
        DeviceAuthorization.objects.select_related("oidc_identity_provider")
        .filter(device_code_hash=hash_secret(device_code))
        .first()
    )


def authorization_for_state(state: str) -> DeviceAuthorization | None:
    return (
        DeviceAuthorization.objects.select_related("tenant", "oidc_identity_provider")
        .filter(oidc_state_hash=hash_secret(state))
        .first()
    )


def company_domain_for(authorization: DeviceAuthorization) -> str:
    """The company domain that lets the authorization's tenant serve its address.

    Shown on the confirmation page beside the company name (which only the operator
    sets), so a user sees whose proven domain their device is being routed under.
    """
    if not verification_enabled():
        return ""  # nothing was verified: the page shows no domain rather than a claim
    return verified_domain_for(authorization.tenant_id, email_domain(authorization.email)) or ""
