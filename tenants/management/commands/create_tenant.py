from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from tenants.management.shared import AuditedCommand, one_line
from tenants.services import tenant_create


class Command(AuditedCommand):
    help = "Create a company account (tenant)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Short unique name: letters, digits, '-' and '_'.")
        parser.add_argument("--name", required=True, help="The company's display name.")

    def handle(self, *args: Any, slug: str, name: str, **options: Any) -> None:
        try:
            tenant = tenant_create(slug=slug, name=name)
        except ValidationError as exc:
            raise CommandError(one_line(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Created company account {tenant.slug!r} ({tenant.name}).")
        )
