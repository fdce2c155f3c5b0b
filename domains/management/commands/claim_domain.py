"""``claim_domain SLUG DOMAIN [--operator-verified]`` (spec section 4)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from domains.models import DomainStatus
from domains.services import domain_claim, domain_verify_by_operator
from tenants.management.shared import AuditedCommand, one_line, tenant_or_error


class Command(AuditedCommand):
    help = (
        "Claim a company domain for a company account and print the DNS TXT record that "
        "proves it; with --operator-verified, vouch for it as the platform operator."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The company account's slug.")
        parser.add_argument("domain", help="The domain, such as example.com (IDN allowed).")
        parser.add_argument(
            "--operator-verified",
            action="store_true",
            help="Mark the claim verified now, on the operator's word (method 'operator').",
        )

    def handle(
        self, *args: Any, slug: str, domain: str, operator_verified: bool, **options: Any
    ) -> None:
        tenant = tenant_or_error(slug)
        try:
            claim, created = domain_claim(tenant=tenant, domain=domain)
            if operator_verified and claim.status != DomainStatus.VERIFIED:
                claim = domain_verify_by_operator(claim=claim, by="claim_domain")
        except ValidationError as exc:
            raise CommandError(one_line(exc)) from None
        verb = "Claimed" if created else "Already claimed"
        self.stdout.write(f"{verb} {claim.domain} for {tenant.slug}: {claim.status}.")
        self.stdout.write("Publish this DNS TXT record to prove it:")
        self.stdout.write(f"  name:  {claim.record_name}")
        self.stdout.write(f"  value: {claim.record_value}")
