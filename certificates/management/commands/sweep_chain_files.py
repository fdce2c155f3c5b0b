"""``sweep_chain_files [--delete] [--older-than MINUTES]``: chain files no chain names.

Dry run by default: lists the orphans (left by a killed import or upload) and deletes
nothing. With ``--delete`` they are removed from the storage. Files younger than
``--older-than`` minutes (default 60) are never listed: their upload may still be
committing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import CommandError, CommandParser

from certificates.selectors import orphan_chain_files
from tenants.management.shared import AuditedCommand


class Command(AuditedCommand):
    help = "List (or with --delete, remove) stored chain files that no certificate chain uses."

    def audit_wanted(self, options: dict[str, Any]) -> bool:
        return bool(options["delete"])  # a listing changes nothing

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--delete", action="store_true", help="Delete the orphans (default: only list them)."
        )
        parser.add_argument(
            "--older-than",
            type=int,
            default=60,
            metavar="MINUTES",
            help="Only files stored at least this many minutes ago (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        minutes: int = options["older_than"]
        if minutes < 0:
            raise CommandError("--older-than must be 0 or more minutes.")
        orphans = orphan_chain_files(older_than=dt.timedelta(minutes=minutes))
        delete: bool = options["delete"]
        for name in orphans:
            if delete:
                default_storage.delete(name)
            self.stdout.write(f"{'deleted' if delete else 'orphan'}: {name}")
        if delete:
            self.audit_counts["deleted"] = len(orphans)
            self.stdout.write(f"{len(orphans)} orphan chain file(s) deleted.")
        else:
            self.stdout.write(
                f"{len(orphans)} orphan chain file(s) found; nothing deleted (dry run). "
                "Run with --delete to remove them."
            )
