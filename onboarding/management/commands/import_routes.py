from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser, OutputWrapper

from onboarding.bulk import ImportSource, StreamProgress, import_routes
from onboarding.import_jobs import report_counts
from tenants.management.shared import AuditedCommand, tenant_or_error


class RawOutput:
    """A management command's output stream without the newline Django adds per write
    (a progress bar redraws one line with carriage returns; CSV/JSON is written in pieces)."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self._wrapper = wrapper

    def write(self, text: str) -> int:
        self._wrapper.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self._wrapper.flush()

    def isatty(self) -> bool:
        return self._wrapper.isatty()


class Command(AuditedCommand):
    help = (
        "Import routes with their mapped users, mapped domains and certificate chains from a "
        "JSON or CSV file (see docs/import-format.md). All or nothing: every problem is "
        "reported with its line and then nothing is written (exit code 1)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The company account to import into.")
        parser.add_argument("file", help="A .json or .csv file; chain paths are relative to it.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check the file and show what would be created, changed and removed; write nothing.",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Remove the company's mapped users and domains that the file does not list.",
        )

    def audit_wanted(self, options: dict[str, Any]) -> bool:
        return not options["dry_run"]  # a dry run changes nothing

    def handle(
        self, *args: Any, slug: str, file: str, dry_run: bool, prune: bool, **options: Any
    ) -> None:
        tenant = tenant_or_error(slug)
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            source = ImportSource.from_path(path)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        report = import_routes(
            tenant=tenant,
            source=source,
            dry_run=dry_run,
            prune=prune,
            progress=StreamProgress(RawOutput(self.stderr)),  # type: ignore[arg-type]
        )
        self.audit_counts = report_counts(report)
        for line in report.warning_lines():
            self.stderr.write(line, style_func=self.style.WARNING)
        if report.errors:
            for line in report.error_lines():
                self.stderr.write(line)
            raise CommandError(report.summary_lines()[0])
        lines = report.summary_lines()
        style = self.style.SUCCESS if report.applied else (lambda text: text)
        self.stdout.write(style(lines[0]))
        for line in lines[1:]:
            self.stdout.write(line)
