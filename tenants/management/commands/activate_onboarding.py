from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from tenants.management.shared import AuditedCommand, one_line, tenant_or_error
from tenants.services import onboarding_activate


class Command(AuditedCommand):
    help = (
        "Activate IGEL OS Onboarding for a company account (once), on behalf of one of its admins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--by",
            required=True,
            metavar="EMAIL",
            help="E-mail of a member with the super_admin or obs_admin role.",
        )

    def handle(self, *args: Any, slug: str, by: str, **options: Any) -> None:
        tenant = tenant_or_error(slug)
        try:
            activation, created = onboarding_activate(tenant=tenant, by_email=by)
        except ValidationError as exc:
            raise CommandError(one_line(exc)) from None
        if created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"IGEL OS Onboarding activated for {tenant.slug} by {activation.activated_by_email}."
                )
            )
        else:
            self.stdout.write(
                f"IGEL OS Onboarding is already active for {tenant.slug} "
                f"(activated by {activation.activated_by_email} on {activation.activated_at:%Y-%m-%d %H:%M} UTC)."
            )
