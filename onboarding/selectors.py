"""Reads of the onboarding app: routing (the one rule every path uses) and device codes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Lower
from django.utils import timezone

from certificates.models import Certificate
from common.validators import email_domain, normalize_email
from onboarding.models import (
    DeviceAuthorization,
    DeviceAuthorizationState,
    MappedDomain,
    MappedUser,
    Route,
)
from tenants.models import Activation

#: RFC 8628 section 6.1: no vowels (no words), no look-alikes; 20^8 ≈ 2^34.6 codes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8

# Why routing failed, as the short codes kept in onboarding events.
REASON_INVALID_EMAIL = "invalid_email"
REASON_NOT_MAPPED = "not_mapped"
REASON_ROUTE_DISABLED = "route_disabled"
REASON_TENANT_NOT_ACTIVATED = "tenant_not_activated"


def _routes_with_answer_data() -> QuerySet[Route]:
    # Everything the device's answer and the pages need, in the route's own query: the
    # tenant, the IdP and the chain (its normalised ``pem``). The fingerprints are read
    # by ``chain_fingerprints`` only when an answer is actually given.
    return Route.objects.select_related("tenant", "identity_provider", "certificate_chain")


def chain_fingerprints(chain_id: int) -> list[str]:
    """The SHA-256 fingerprints of a chain's certificates, root first."""
    return list(
        Certificate.objects.filter(chain_id=chain_id)
        .order_by("position")
        .values_list("sha256", flat=True)
    )


@dataclass(frozen=True)
class RouteLookup:
    """The outcome of routing one e-mail address.

    ``route`` is the answer (None when the address cannot be onboarded); ``matched`` is
    the route its mapping points at even when unusable, so a failure can be recorded
    for the right company; ``reason`` is a ``REASON_*`` code when ``route`` is None.
    """

    route: Route | None
    matched: Route | None = None
    reason: str = ""


def route_lookup(email: object) -> RouteLookup:
    """Route ``email``: a user mapping wins over a domain mapping.

    A user mapping wins even when its route is disabled: an admin who disables a user's
    route means "do not onboard this user", not "send them wherever their domain goes".
    The route must be enabled and its tenant activated.

    One query whatever the table sizes (both mappings are looked up through their unique
    ``lower(...)`` indexes in subqueries).
    """
    if not isinstance(email, str):
        return RouteLookup(None, reason=REASON_INVALID_EMAIL)
    try:
        email = normalize_email(email)
    except ValidationError:
        return RouteLookup(None, reason=REASON_INVALID_EMAIL)
    domain = email_domain(email)
    # Filtering on Lower(...) makes the planner use the unique expression indexes of the
    # constraints (the stored values are lower-case already, so the result is the same).
    users = MappedUser.objects.alias(key=Lower("email")).filter(key=email).order_by()
    domains = MappedDomain.objects.alias(key=Lower("domain")).filter(key=domain).order_by()
    # ``pk = (scalar subquery) OR pk = (scalar subquery)``: each subquery is evaluated
    # once through its unique index, then the routes are fetched by primary key.
    candidates = list(
        _routes_with_answer_data()
        .filter(
            Q(pk=Subquery(users.values("route_id")[:1]))
            | Q(pk=Subquery(domains.values("route_id")[:1]))
        )
        .annotate(
            matched_by_user=Exists(users.filter(route_id=OuterRef("pk"))),
            tenant_activated=Exists(Activation.objects.filter(tenant_id=OuterRef("tenant_id"))),
        )
        .order_by()
    )
    if not candidates:
        return RouteLookup(None, reason=REASON_NOT_MAPPED)
    route = next((r for r in candidates if r.matched_by_user), candidates[0])  # type: ignore[attr-defined]
    if not route.enabled:
        return RouteLookup(None, matched=route, reason=REASON_ROUTE_DISABLED)
    if not route.tenant_activated:  # type: ignore[attr-defined]
        return RouteLookup(None, matched=route, reason=REASON_TENANT_NOT_ACTIVATED)
    return RouteLookup(route, matched=route)


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
    return DeviceAuthorization.objects.filter(device_code_hash=hash_secret(device_code)).first()


def authorization_for_state(state: str) -> DeviceAuthorization | None:
    return (
        DeviceAuthorization.objects.select_related("tenant", "oidc_identity_provider")
        .filter(oidc_state_hash=hash_secret(state))
        .first()
    )
