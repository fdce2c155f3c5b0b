"""Company domains: the DNS names a company account has proven it owns (spec section 2.1).

Any company's identity provider can assert any e-mail address, so a mapping row alone
never lets a tenant route an address: the address's domain must equal or be under a
domain *that tenant* has verified. This model is that proof.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from common.validators import normalize_domain
from tenants.models import Tenant

#: The TXT record that proves a claim: ``_obs-challenge.<domain>``.
RECORD_PREFIX = "_obs-challenge."
#: Its value: ``obs-domain-verification=<token>`` (the strings of one record joined).
VALUE_PREFIX = "obs-domain-verification="


def new_token() -> str:
    """192 random bits, URL-safe (the contract asks for at least 128)."""
    return secrets.token_urlsafe(24)


class DomainStatus(models.TextChoices):
    PENDING = "pending", "Pending: publish the TXT record, then verify"
    VERIFIED = "verified", "Verified"
    SUSPENDED = "suspended", "Suspended: the TXT record disappeared"


class VerificationMethod(models.TextChoices):
    DNS = "dns", "DNS TXT record"
    OPERATOR = "operator", "Vouched for by the platform operator"


class CompanyDomain(models.Model):
    tenant = models.ForeignKey(
        Tenant, verbose_name="company account", on_delete=models.CASCADE, related_name="domains"
    )
    domain = models.CharField(
        max_length=253,
        help_text=(
            "A DNS name your company owns, such as example.com. Once verified, it covers "
            "its subdomains too."
        ),
    )
    status = models.CharField(
        max_length=10, choices=DomainStatus.choices, default=DomainStatus.PENDING
    )
    token = models.CharField(max_length=64, default=new_token, editable=False)
    method = models.CharField(
        max_length=10, choices=VerificationMethod.choices, blank=True, editable=False
    )
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: The last time the proof was seen (DNS) or vouched for (operator).
    proof_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    checked_at = models.DateTimeField("last checked", null=True, blank=True, editable=False)
    detail = models.TextField(
        "last check", blank=True, editable=False, help_text="What DNS answered at the last check."
    )
    evidence = models.TextField(
        blank=True, editable=False, help_text="What proved the claim when it was verified."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        verbose_name = "company domain"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "domain"],
                name="company_domain_unique_per_tenant",
                violation_error_message="This company account has already claimed this domain.",
            ),
            # One tenant at a time may hold a domain verified: the database's last word
            # when two verifications race (ancestors and subdomains are serialised by a
            # lock in ``domains.services``).
            models.UniqueConstraint(
                fields=["domain"],
                condition=models.Q(status="verified"),
                name="company_domain_one_verified",
                violation_error_message="This domain is verified by another company account.",
            ),
            models.CheckConstraint(
                condition=models.Q(domain=Lower("domain")), name="company_domain_lowercase"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in DomainStatus]),
                name="company_domain_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.domain

    def clean(self) -> None:
        try:
            self.domain = normalize_domain(self.domain)
        except ValidationError as exc:
            raise ValidationError({"domain": exc.messages}) from None

    @property
    def record_name(self) -> str:
        return f"{RECORD_PREFIX}{self.domain}"

    @property
    def record_value(self) -> str:
        return f"{VALUE_PREFIX}{self.token}"
