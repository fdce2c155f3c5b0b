"""``inspect_chain FILE [--target ums|icg] [--json]``: judge a chain file as an upload would.

Stores nothing. Exit status: 0 when an upload would be accepted, 1 when it would be
refused, 2 when the file cannot be read (so scripts can tell the cases apart).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from certificates.validation import TARGETS, ChainReport, Problem, inspect_chain_bytes


class Command(BaseCommand):
    help = "Validate a certificate chain file exactly as an upload would; stores nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", help="PEM, DER or PKCS#7 (.p7b) file; '-' reads standard input."
        )
        parser.add_argument(
            "--target", choices=TARGETS, default="ums", help="Route target (default ums)."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the report as JSON (spec 4.2)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: str = options["file"]
        try:
            if path == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as fh:
                    data = fh.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}", returncode=2) from None

        report = inspect_chain_bytes(data, target=options["target"])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
        else:
            self._print(report, path, options["target"])
        if not report.accepted:
            sys.exit(1)

    def _print(self, report: ChainReport, path: str, target: str) -> None:
        out = self.stdout
        for position, cert in enumerate(report.certificates):
            role = "root" if cert.self_signed else ("CA" if cert.is_ca else "end certificate")
            out.write(f"[{position}] {cert.subject}  ({role}, block {cert.block})")
            out.write(f"    issuer:      {cert.issuer}")
            out.write(f"    serial:      {cert.serial}")
            out.write(
                f"    valid:       {cert.not_before:%Y-%m-%d %H:%M:%S}Z .. {cert.not_after:%Y-%m-%d %H:%M:%S}Z"
            )
            out.write(f"    key:         {cert.key}")
            out.write(f"    SHA-256:     {cert.sha256}")
        for problem in report.errors:
            out.write(self.style.ERROR(f"error   {_line(problem)}"))
        for problem in report.warnings:
            out.write(self.style.WARNING(f"warning {_line(problem)}"))
        verdict = "accepted" if report.accepted else "refused"
        summary = (
            f"{path}: {verdict} for a {target.upper()} route "
            f"({len(report.certificates)} certificates, {len(report.errors)} errors, "
            f"{len(report.warnings)} warnings)"
        )
        out.write(self.style.SUCCESS(summary) if report.accepted else self.style.ERROR(summary))


def _line(problem: Problem) -> str:
    return f"[{problem.code}] {problem.message}"
