"""``check_certificates [--days N]``: chains whose certificates expire soon, for cron.

Exit status 1 when anything expires within N days (or has expired), so a cron job or
monitoring check can alert on it; 0 when all is well.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from certificates import conf
from certificates.selectors import certificates_expiring_within


class Command(BaseCommand):
    help = "List certificate chains with certificates expiring within N days; exit 1 if any."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=conf.expiry_warning_days(),
            help="Look this many days ahead (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days: int = options["days"]
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        now = timezone.now()
        # ``chain.routes`` is the reverse accessor of the onboarding app's Route; read
        # through the ORM so this app never imports onboarding.
        certificates = certificates_expiring_within(days, now=now).prefetch_related("chain__routes")
        rows: list[tuple[str, str, str, str, str]] = []
        for cert in certificates:
            chain = cert.chain
            routes = sorted(route.display_name for route in chain.routes.all()) or ["(no route)"]
            state = "EXPIRED" if cert.not_after < now else f"in {(cert.not_after - now).days} days"
            for route in routes:
                rows.append(
                    (
                        chain.tenant.slug,
                        route,
                        f"{chain.name}: {cert.subject}",
                        cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        state,
                    )
                )
        if not rows:
            self.stdout.write(f"No certificate of a current chain expires within {days} days.")
            return
        header = ("TENANT", "ROUTE", "CERTIFICATE", "NOT AFTER", "")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            self.stdout.write(
                "  ".join(
                    col.ljust(widths[i]) if i < 4 else col for i, col in enumerate(row)
                ).rstrip()
            )
        self.stderr.write(
            f"{len(rows)} certificate(s) of current chains expire within {days} days or have expired."
        )
        sys.exit(1)
