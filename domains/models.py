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
from django.utils.translation import gettext_lazy as _

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
    PENDING = "pending", _("Pending: publish the TXT record, then verify")
    VERIFIED = "verified", _("Verified")
    SUSPENDED = "suspended", _("Suspended: the TXT record disappeared")


class VerificationMethod(models.TextChoices):
    DNS = "dns", _("DNS TXT record")
    OPERATOR = "operator", _("Vouched for by the platform operator")


class CompanyDomain(models.Model):
    tenant = models.ForeignKey(
        Tenant, verbose_name=_("company account"), on_delete=models.CASCADE, related_name="domains"
    )
    domain = models.CharField(
        verbose_name=_("domain"),
        max_length=253,
        help_text=_(
            "A DNS name your company owns, such as example.com. Once verified, it covers "
            "its subdomains too."
        ),
    )
    status = models.CharField(
        verbose_name=_("status"),
        max_length=10,
        choices=DomainStatus.choices,
        default=DomainStatus.PENDING,
    )
    token = models.CharField(
        verbose_name=_("token"), max_length=64, default=new_token, editable=False
    )
    method = models.CharField(
        verbose_name=_("method"),
        max_length=10,
        choices=VerificationMethod.choices,
        blank=True,
        editable=False,
    )
    verified_at = models.DateTimeField(
        verbose_name=_("verified at"), null=True, blank=True, editable=False
    )
    #: The last time the proof was seen (DNS) or vouched for (operator).
    proof_seen_at = models.DateTimeField(
        verbose_name=_("proof seen at"), null=True, blank=True, editable=False
    )
    checked_at = models.DateTimeField(_("last checked"), null=True, blank=True, editable=False)
    detail = models.TextField(
        _("last check"),
        blank=True,
        editable=False,
        help_text=_("What DNS answered at the last check."),
    )
    evidence = models.TextField(
        verbose_name=_("evidence"),
        blank=True,
        editable=False,
        help_text=_("What proved the claim when it was verified."),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        verbose_name = _("company domain")
        verbose_name_plural = _("company domains")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "domain"],
                name="company_domain_unique_per_tenant",
                violation_error_message=_("This company account has already claimed this domain."),
            ),
            # One tenant at a time may hold a domain verified: the database's last word
            # when two verifications race (ancestors and subdomains are serialised by a
            # lock in ``domains.services``).
            models.UniqueConstraint(
                fields=["domain"],
                condition=models.Q(status="verified"),
                name="company_domain_one_verified",
                violation_error_message=_("This domain is verified by another company account."),
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
