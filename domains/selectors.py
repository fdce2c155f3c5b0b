"""Reads about company domains: who holds an address's domain, which claims cover it.

"Holds" means: has the domain, or a domain it is under, ``verified``; when two tenants
have verified nested domains (``example.com`` and ``eu.example.com``), the more specific
claim holds the names under it. So a holder is a single tenant or none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext, gettext_noop

from domains import conf
from domains.models import CompanyDomain, DomainStatus

#: Look-ups are batched so an import of 100,000 mappings asks a few queries, not one each.
BATCH = 1000


def suffixes(domain: str) -> list[str]:
    """``"a.b.example.com"`` → the name itself and every domain it is under, longest first."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def verified_claims() -> QuerySet[CompanyDomain]:
    return CompanyDomain.objects.filter(status=DomainStatus.VERIFIED)


def _claims_covering(
    domains: Iterable[str], claims: QuerySet[CompanyDomain]
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Each of ``domains`` with its suffixes, and which of those names ``claims`` hold
    (name → tenant id), asked in batches."""
    wanted = {d: suffixes(d) for d in set(domains)}
    names = sorted({s for chain in wanted.values() for s in chain})
    found: dict[str, int] = {}
    for start in range(0, len(names), BATCH):
        found.update(
            claims.filter(domain__in=names[start : start + BATCH]).values_list(
                "domain", "tenant_id"
            )
        )
    return wanted, found


def holders(domains: Iterable[str]) -> dict[str, tuple[int, str]]:
    """For each of ``domains`` held by a tenant: (tenant id, the verified claim's domain).

    The most specific verified claim wins when one tenant has several (``b.example.com``
    and ``example.com``), so the page can show the domain that really matched.
    """
    wanted, found = _claims_covering(domains, verified_claims())
    result: dict[str, tuple[int, str]] = {}
    for domain, chain in wanted.items():
        claim = next((name for name in chain if name in found), None)
        if claim is not None:
            result[domain] = (found[claim], claim)
    return result


def holder(domain: str) -> tuple[int, str] | None:
    return holders([domain]).get(domain)


def verified_domain_for(tenant_id: int, domain: str) -> str | None:
    """The verified domain of ``tenant_id`` that covers ``domain`` (the most specific), if any."""
    held = holder(domain)
    if held is None or held[0] != tenant_id:
        return None
    return held[1]


def claims_covering(tenant_id: int, domains: Iterable[str]) -> set[str]:
    """Those of ``domains`` that a claim of the tenant (any status) equals or is above."""
    wanted, found = _claims_covering(domains, CompanyDomain.objects.filter(tenant_id=tenant_id))
    return {d for d, chain in wanted.items() if found.keys() & set(chain)}


def domains_for(tenant_ids: Iterable[int] | None = None) -> QuerySet[CompanyDomain]:
    claims = CompanyDomain.objects.select_related("tenant").order_by("tenant__slug", "domain")
    return claims if tenant_ids is None else claims.filter(tenant_id__in=list(tenant_ids))


def other_tenant_overlaps(claim: CompanyDomain) -> bool:
    """Whether another tenant holds ``claim``'s domain or a domain above it (verified).

    A domain *below* another tenant's does not stop this one: the more specific verified
    claim wins for its own names (as DNS delegates), so a subsidiary's verified
    ``eu.example.com`` never locks the owner of ``example.com`` out of its own domain.
    """
    return (
        verified_claims()
        .exclude(tenant_id=claim.tenant_id)
        .filter(domain__in=suffixes(claim.domain))
        .exists()
    )


@dataclass(frozen=True)
class Standing:
    """Whether a tenant's rows under a domain route, and what to do if not (for the admin)."""

    routes: bool
    message: str
    #: The tenant's own claim to act on (publish its record, verify it), if any.
    claim: CompanyDomain | None = None


STANDING_OFF = gettext_noop("Routes (domain verification is off on this installation).")
STANDING_VERIFIED = gettext_noop("Routes: {domain} is verified for this company account.")
STANDING_ELSEWHERE = gettext_noop(
    "Does not route: {domain} is verified by another company account. Remove this row, "
    "or ask the platform operator if the domain is yours."
)
STANDING_PENDING = gettext_noop(
    "Does not route yet: publish the TXT record for {domain}, then verify it."
)
STANDING_SUSPENDED = gettext_noop(
    "Does not route: {domain} was suspended because its TXT record disappeared. Publish it "
    "again, then verify it."
)
STANDING_UNCLAIMED = gettext_noop(
    "Does not route: claim {domain} under Company domains and verify it."
)


def standing(tenant_id: int, domain: str) -> Standing:
    """Why the tenant's mappings under ``domain`` route or do not (spec 2.1, for the admin)."""
    if not conf.verification_enabled():
        return Standing(True, gettext(STANDING_OFF))
    held = holder(domain)
    if held is not None:
        if held[0] == tenant_id:
            return Standing(True, gettext(STANDING_VERIFIED).format(domain=held[1]))
        return Standing(False, gettext(STANDING_ELSEWHERE).format(domain=held[1]))
    own = (
        CompanyDomain.objects.filter(tenant_id=tenant_id, domain__in=suffixes(domain))
        .order_by("-status")  # suspended before pending: the more telling one
        .first()
    )
    if own is None:
        return Standing(False, gettext(STANDING_UNCLAIMED).format(domain=domain))
    template = STANDING_SUSPENDED if own.status == DomainStatus.SUSPENDED else STANDING_PENDING
    return Standing(False, gettext(template).format(domain=own.domain), own)
