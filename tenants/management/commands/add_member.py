from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.management.shared import one_line, tenant_or_error
from tenants.models import Role
from tenants.services import membership_save


class Command(BaseCommand):
    help = "Add a member to a company account by e-mail, or change their role."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("slug")
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])

    def handle(self, *args, slug: str, email: str, role: str, **options) -> None:  # type: ignore[no-untyped-def]
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
