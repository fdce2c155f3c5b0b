from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from tenants import invitations
from tenants.management.shared import AuditedCommand, one_line, tenant_or_error
from tenants.models import Role
from tenants.services import membership_save


class Command(AuditedCommand):
    help = "Add a member to a company account by e-mail, or change their role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument(
            "--send-invite",
            action="store_true",
            help="Print a one-time set-password link for the member (and e-mail it when "
            "EMAIL_URL is configured). Any earlier link stops working.",
        )

    def handle(
        self,
        *args: Any,
        slug: str,
        email: str,
        role: str,
        send_invite: bool = False,
        **options: Any,
    ) -> None:
        tenant = tenant_or_error(slug)
        try:
            membership, created = membership_save(tenant=tenant, email=email, role=role)
        except ValidationError as exc:
            raise CommandError(one_line(exc)) from None
        verb = "Added" if created else "Updated"
        linked = (
            "linked to an existing account"
            if membership.user_id
            else "invited; linked when they first sign in"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {membership.email} as {membership.role} of {tenant.slug} ({linked})."
            )
        )
        if not send_invite:
            return
        if membership.user_id:
            self.stdout.write(invitations.ALREADY_LINKED)
            return
        issued = invitations.invitation_send(membership=membership)
        sent = f" (e-mailed to {membership.email})" if issued.emailed else ""
        self.stdout.write(
            f"Set-password link{sent}, valid once until"
            f" {issued.invitation.expires_at:%Y-%m-%d %H:%M} UTC:\n{issued.url}"
        )
