"""``verify_domains [SLUG] [--json]`` (spec section 4): run it from cron, e.g. hourly."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from domains.selectors import domains_for
from domains.services import CheckResult, domains_check
from tenants.management.shared import tenant_or_error


def _row(result: CheckResult) -> dict[str, Any]:
    claim = result.claim
    return {
        "tenant": claim.tenant.slug,
        "domain": claim.domain,
        "status": claim.status,
        "record_name": claim.record_name,
        "record_value": claim.record_value,
        "checked_at": claim.checked_at.isoformat().replace("+00:00", "Z")
        if claim.checked_at
        else None,
        "detail": claim.detail,
    }


class Command(BaseCommand):
    help = (
        "Check every pending domain claim and re-check every verified one (of one company "
        "account or all). Exit status 1 only when a DNS look-up could not be made at all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", nargs="?", help="Only this company account.")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print JSON for scripts."
        )

    def handle(self, *args: Any, slug: str | None, as_json: bool, **options: Any) -> None:
        tenant_ids = [tenant_or_error(slug).pk] if slug else None
        results = domains_check(domains_for(tenant_ids))
        if as_json:
            self._print_json(results)
        else:
            self._print_text(results)
        # SERVFAIL is an answer (the domain's DNS is broken, told in its detail); a
        # timeout or no usable resolver means we could not ask at all.
        failed = [r for r in results if r.inconclusive]
        if failed:
            names = ", ".join(r.claim.domain for r in failed[:5])
            raise CommandError(
                f"{len(failed)} DNS look-up(s) could not be made ({names}); "
                "their status is unchanged. Check DOMAIN_VERIFICATION_NAMESERVERS and the network."
            )

    def _print_json(self, results: list[CheckResult]) -> None:
        self.stdout.write(json.dumps({"domains": [_row(r) for r in results]}, indent=2))

    def _print_text(self, results: list[CheckResult]) -> None:
        if not results:
            self.stdout.write("No domain claims to check.")
        for result in results:
            row = _row(result)
            self.stdout.write(f"{row['tenant']} {row['domain']}: {row['status']}")
            self.stdout.write(f'  record: {row["record_name"]} TXT "{row["record_value"]}"')
            self.stdout.write(f"  {row['detail']}")
