"""Reads of the onboarding app: routing (the one rule every path uses) and device codes."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Length, Lower
from django.utils import timezone

from certificates.models import Certificate, CertificateChain
from common.validators import email_domain, normalize_email
from domains.conf import verification_enabled
from domains.selectors import suffixes, verified_claims, verified_domain_for
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
REASON_DOMAIN_UNVERIFIED = "domain_unverified"


def _routes_with_answer_data() -> QuerySet[Route]:
    # Everything the device's answer and the pages need, in the route's own query: the
    # tenant, the IdP and the chain (its normalised ``pem``). The fingerprints are read
    # by ``chain_fingerprints`` only when an answer is actually given.
    return Route.objects.select_related("tenant", "identity_provider", "certificate_chain")


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


def _candidates(email: str, domain: str) -> list[Route]:
    """Every route an account maps ``email`` or its domain to (a handful at most).

    One query whatever the table sizes: the mappings are found through their
    ``lower(...)`` indexes, and each route is annotated with whether a user mapping
    matched and whether its tenant is activated, and (the same for every row) which
    company holds the address's domain and through which verified domain: the most
    specific verified claim covering it, as DNS delegates.
    """
    users = MappedUser.objects.alias(key=Lower("email")).filter(key=email).order_by()
    domains = MappedDomain.objects.alias(key=Lower("domain")).filter(key=domain).order_by()
    held = verified_claims().filter(domain__in=suffixes(domain)).order_by(Length("domain").desc())
    return list(
        _routes_with_answer_data()
        .filter(Q(pk__in=users.values("route_id")) | Q(pk__in=domains.values("route_id")))
        .annotate(
            matched_by_user=Exists(users.filter(route_id=OuterRef("pk"))),
            tenant_activated=Exists(Activation.objects.filter(tenant_id=OuterRef("tenant_id"))),
            holder_id=Subquery(held.values("tenant_id")[:1]),
            holder_domain=Subquery(held.values("domain")[:1]),
        )
        .order_by("pk")
    )


def _best(routes: list[Route]) -> Route:
    """A user mapping wins over a domain mapping (then the oldest row, to be stable)."""
    return next((r for r in routes if r.matched_by_user), routes[0])  # type: ignore[attr-defined]


def _entitled(candidates: list[Route], domain: str) -> RouteLookup | Route:
    """The route of the company entitled to the address, or why there is none."""
    if not verification_enabled():
        # A single-company install: should rows of several companies exist (left from
        # "dns" mode), none is trusted over another.
        if len({r.tenant_id for r in candidates}) > 1:
            return RouteLookup(None, reason=REASON_DOMAIN_UNVERIFIED)
        return _best(candidates)
    holder: int | None = candidates[0].holder_id  # type: ignore[attr-defined]
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
    matched_domain = route.holder_domain or ""  # type: ignore[attr-defined]
    if not route.enabled:
        return RouteLookup(None, matched=route, reason=REASON_ROUTE_DISABLED)
    if not route.tenant_activated:  # type: ignore[attr-defined]
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
    return DeviceAuthorization.objects.filter(device_code_hash=hash_secret(device_code)).first()


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
