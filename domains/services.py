"""Writes for company domains: claiming, verifying by DNS or by the operator, re-checking.

The rules of spec section 2.1 that are about claims live here; the routing rule that
uses them lives in ``onboarding.selectors.route_lookup``.

- A claim is per tenant; several tenants may hold *pending* claims on one domain.
- A claim becomes ``verified`` only when no other tenant holds that domain or a domain
  above it verified (one domain, one tenant). A domain below another tenant's may still
  be verified by the owner of the parent; the more specific claim then holds the names
  under it (``domains.selectors.holders``). The check and the change run under one
  lock, and a partial unique index is the last word.
- A verified DNS claim whose record is gone (or whose DNS answers SERVFAIL) stays
  verified for the grace period after the proof was last seen, then becomes
  ``suspended``. A look-up that could not be made (timeout, no resolver) is no evidence
  either way and changes nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from common.validators import normalize_domain
from domains import conf, dnsquery
from domains.models import CompanyDomain, DomainStatus, VerificationMethod
from domains.selectors import claims_covering, other_tenant_overlaps
from tenants.models import Tenant

#: Message constants the admin, the commands and the tests share. A claim's ``detail``
#: and ``evidence`` are written in the language active for whoever ran the check (the
#: admin's; English from ``verify_domains``) and shown as written: a record of that check.
DOMAIN_HELD_ELSEWHERE = gettext_noop(
    "The domain {domain} is verified by another company account; it can be verified here "
    "only after that claim lapses."
)
PROOF_FOUND = gettext_noop("Verified: {answer}")
PROOF_MISSING = gettext_noop("The TXT record {name} with the value {value} was not found. {answer}")
PROOF_GRACE = gettext_noop(
    "The domain stays verified until {until:%Y-%m-%d %H:%M} UTC; if the record is not "
    "back by then, it is suspended."
)
PROOF_INCONCLUSIVE = gettext_noop("{answer} The status is unchanged; it is checked again later.")
PROOF_SEEN = gettext_noop('TXT {name} = "{value}" seen on {when:%Y-%m-%d %H:%M} UTC.')
OPERATOR_VOUCHED = gettext_noop(
    "Vouched for by the platform operator ({by}) on {when:%Y-%m-%d %H:%M} UTC."
)
OPERATOR_NOT_CHECKED = gettext_noop("Verified by the platform operator; not checked in DNS.")

#: Serialises every change to ``verified`` on PostgreSQL (any constant would do).
_VERIFY_LOCK_KEY = 0x0B5D0A1


def _lock_verifications() -> None:
    # Two tenants verifying example.com and sub.example.com at once: neither sees the
    # other's uncommitted row, so the overlap check alone could let both through. On
    # SQLite the database's single writer serialises this already.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_VERIFY_LOCK_KEY])


@transaction.atomic
def domain_claim(*, tenant: Tenant, domain: str) -> tuple[CompanyDomain, bool]:
    """The tenant's claim on ``domain``: the existing one (same token) or a new pending one."""
    domain = normalize_domain(domain)
    existing = CompanyDomain.objects.filter(tenant=tenant, domain=domain).first()
    if existing is not None:
        return existing, False
    claim = CompanyDomain(tenant=tenant, domain=domain)
    claim.full_clean()
    try:
        with transaction.atomic():
            claim.save()
    except IntegrityError:
        # The same claim made at the same moment by another request.
        return CompanyDomain.objects.get(tenant=tenant, domain=domain), False
    return claim, True


def domains_claim_for_mappings(*, tenant: Tenant, domains: Iterable[str]) -> list[CompanyDomain]:
    """Claim (pending) each domain a new mapping is under that no claim of the tenant covers.

    Nothing to claim when verification is off (a single-company install).
    """
    if not conf.verification_enabled():
        return []
    wanted = set(domains)
    uncovered = wanted - claims_covering(tenant.pk, wanted)
    # Claim the widest new names only: example.com covers mail.example.com.
    roots = sorted(d for d in uncovered if not any(d.endswith("." + o) for o in uncovered))
    claims = []
    for domain in roots:
        claim, created = domain_claim(tenant=tenant, domain=domain)
        if created:
            claims.append(claim)
    return claims


@transaction.atomic
def _mark_verified(
    claim: CompanyDomain, *, method: str, evidence: str, detail: str, now: datetime.datetime
) -> tuple[CompanyDomain, bool]:
    """Make the claim verified, unless another tenant holds an overlapping domain."""
    _lock_verifications()
    claim = CompanyDomain.objects.select_for_update().get(pk=claim.pk)
    if claim.status != DomainStatus.VERIFIED and other_tenant_overlaps(claim):
        claim.checked_at = now
        claim.detail = gettext(DOMAIN_HELD_ELSEWHERE).format(domain=claim.domain)
        claim.save(update_fields=["checked_at", "detail"])
        return claim, False
    if claim.status != DomainStatus.VERIFIED or claim.method != method:
        claim.verified_at = now
        claim.method = method
        claim.evidence = evidence
    claim.status = DomainStatus.VERIFIED
    claim.proof_seen_at = now
    claim.checked_at = now
    claim.detail = detail
    claim.save()
    return claim, True


def domain_verify_by_operator(*, claim: CompanyDomain, by: str) -> CompanyDomain:
    """The operator vouches for the claim: verified at once, unless another tenant holds it."""
    now = timezone.now()
    text = gettext(OPERATOR_VOUCHED).format(by=by or gettext("command line"), when=now)
    claim, verified = _mark_verified(
        claim, method=VerificationMethod.OPERATOR, evidence=text, detail=text, now=now
    )
    if not verified:
        raise ValidationError(claim.detail, code="held_elsewhere")
    return claim


@dataclass(frozen=True)
class CheckResult:
    claim: CompanyDomain
    answer: dnsquery.TxtAnswer | None

    @property
    def inconclusive(self) -> bool:
        """The look-up could not be made (timeout, no resolver): nothing was learnt."""
        return self.answer is not None and self.answer.unreachable


def _record(claim: CompanyDomain, now: datetime.datetime, **fields: object) -> None:
    for name, value in fields.items():
        setattr(claim, name, value)
    claim.checked_at = now
    CompanyDomain.objects.filter(pk=claim.pk).update(checked_at=now, **fields)


def domain_check(*, claim: CompanyDomain) -> CheckResult:
    """Look the claim's TXT record up and move its status as the answer says.

    DNS is asked before any transaction is opened, so a slow resolver holds no lock.
    """
    now = timezone.now()
    if claim.method == VerificationMethod.OPERATOR and claim.status == DomainStatus.VERIFIED:
        _record(claim, now, detail=gettext(OPERATOR_NOT_CHECKED))
        return CheckResult(claim, None)
    answer = dnsquery.lookup_txt(claim.record_name)
    if answer.kind == dnsquery.FOUND and claim.record_value in answer.records:
        evidence = gettext(PROOF_SEEN).format(
            name=claim.record_name, value=claim.record_value, when=now
        )
        claim, _verified = _mark_verified(
            claim,
            method=VerificationMethod.DNS,
            evidence=evidence,
            detail=gettext(PROOF_FOUND).format(answer=answer.describe()),
            now=now,
        )
        return CheckResult(claim, answer)
    if answer.unreachable:
        # We could not ask: nothing is learnt about the domain. (A SERVFAIL is the
        # domain's own DNS failing, and counts as a missing record: a lame zone must not
        # keep a domain verified, and others locked out, for ever.)
        _record(claim, now, detail=gettext(PROOF_INCONCLUSIVE).format(answer=answer.describe()))
        return CheckResult(claim, answer)
    detail = gettext(PROOF_MISSING).format(
        name=claim.record_name, value=claim.record_value, answer=answer.describe()
    )
    if claim.status == DomainStatus.VERIFIED:
        until = (claim.proof_seen_at or now) + conf.grace_period()
        if now >= until:
            # Only if nothing changed since the claim was read (DNS may have taken a
            # while): an operator's vouch or a fresh proof in between must stand.
            suspended = CompanyDomain.objects.filter(
                pk=claim.pk,
                status=DomainStatus.VERIFIED,
                method=claim.method,
                proof_seen_at=claim.proof_seen_at,
            ).update(status=DomainStatus.SUSPENDED, detail=detail, checked_at=now)
            claim.refresh_from_db()
            if not suspended:
                return CheckResult(claim, answer)
        else:
            _record(claim, now, detail=f"{detail} {gettext(PROOF_GRACE).format(until=until)}")
    else:
        _record(claim, now, detail=detail)
    return CheckResult(claim, answer)


def domains_check(claims: Iterable[CompanyDomain]) -> list[CheckResult]:
    """Check each claim (pending, verified and suspended alike); for ``verify_domains``."""
    return [domain_check(claim=claim) for claim in claims]
