from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from onboarding.bulk import EXPORT_FORMATS, ChainFiles, export_routes
from onboarding.management.commands.import_routes import RawOutput
from tenants.management.shared import AuditedCommand, tenant_or_error


class Command(AuditedCommand):
    help = (
        "Export a company account's routes, mapped users, mapped domains and certificate "
        "chains in the format import_routes reads back. Without --output the file goes to "
        "standard output with chains inline; with --output DIR it is written as "
        "DIR/routes.<format> with the chains as files in DIR/chains/."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The company account to export.")
        parser.add_argument("--format", choices=EXPORT_FORMATS, default="json", dest="fmt")
        parser.add_argument("--output", metavar="DIR", help="Directory to write the export to.")

    def handle(self, *args: Any, slug: str, fmt: str, output: str | None, **options: Any) -> None:
        tenant = tenant_or_error(slug)
        if output is None:
            summary = export_routes(tenant=tenant, fmt=fmt, out=RawOutput(self.stdout))  # type: ignore[arg-type]
            self.audit_counts = asdict(summary)
            # Standard output carries the export itself; the summary goes beside it.
            self.stderr.write(summary.line(tenant))
            return
        directory = Path(output)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            target = directory / f"routes.{fmt}"
            chains = ChainFiles(directory)
            with target.open("w", encoding="utf-8", newline="") as out:
                summary = export_routes(tenant=tenant, fmt=fmt, out=out, chain_ref=chains)
        except OSError as exc:
            raise CommandError(
                f"Cannot write the export to {output}: {exc.strerror or exc}"
            ) from None
        self.audit_counts = asdict(summary)
        self.stdout.write(self.style.SUCCESS(f"{summary.line(tenant)} Written to {target}."))
