from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from onboarding import conf
from onboarding.device_flow import device_authorizations_prune
from onboarding.events import events_prune
from tenants.management.shared import AuditedCommand


class Command(AuditedCommand):
    help = (
        "Delete onboarding events older than the retention period "
        "(ONBOARDING_EVENT_RETENTION_DAYS), and device authorizations expired over a day ago."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="DAYS",
            help="Delete events older than this many days (default: the retention setting).",
        )

    def handle(self, *args: Any, older_than: int | None, **options: Any) -> None:
        days = conf.event_retention_days() if older_than is None else older_than
        if days < 0:
            raise CommandError(f"--older-than must be 0 or more days, not {days}.")

        def progress(deleted: int) -> None:
            if options.get("verbosity", 1) >= 1:
                self.stderr.write(f"  {deleted} events deleted so far...")

        events = events_prune(older_than_days=days, progress=progress)
        authorizations = device_authorizations_prune()
        self.audit_counts = {"events": events, "device_authorizations": authorizations}
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {events} onboarding event(s) older than {days} day(s) and "
                f"{authorizations} expired device authorization(s)."
            )
        )
