"""``probe_route ROUTE``: connect to a route's UMS/ICG over TLS and check the chain it presents.

ROUTE is a route id or display name (``--tenant SLUG`` narrows a name used by several
company accounts). Exit status 0 when the server is reachable, chains to the uploaded
roots and matches the hostname; 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from certificates.probe import DEFAULT_TIMEOUT, probe_chain
from onboarding.models import Route


class Command(BaseCommand):
    help = (
        "Open TLS to a route's UMS/ICG and verify the presented chain against its uploaded roots."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("route", help="Route id or display name.")
        parser.add_argument("--tenant", help="Company account slug, when the name is not unique.")
        parser.add_argument(
            "--timeout", type=float, default=DEFAULT_TIMEOUT, help="Seconds (default 5)."
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        route = self._route(options["route"], options.get("tenant"))
        if options["timeout"] <= 0:
            raise CommandError("--timeout must be more than 0.")
        report = probe_chain(
            route.certificate_chain, route.ums_hostname, route.ums_port, timeout=options["timeout"]
        )
        if options["json"]:
            self.stdout.write(
                json.dumps({"route": route.pk, **report.as_json(), "ok": report.ok}, indent=2)
            )
        else:
            self.stdout.write(f'Route {route.pk} "{route.display_name}" of {route.tenant.slug}:')
            for line in report.lines():
                self.stdout.write(line)
        if not report.ok:
            sys.exit(1)

    def _route(self, value: str, tenant: str | None) -> Route:
        routes = Route.objects.select_related("tenant", "certificate_chain")
        if tenant:
            routes = routes.filter(tenant__slug=tenant)
        if value.isdigit():
            try:
                return routes.get(pk=int(value))
            except Route.DoesNotExist:
                pass
        matches = list(routes.filter(display_name=value)) or list(
            routes.filter(display_name__iexact=value)
        )
        if not matches:
            raise CommandError(f"No route {value!r}" + (f" in {tenant}." if tenant else "."))
        if len(matches) > 1:
            choices = ", ".join(f"{r.pk} ({r.tenant.slug})" for r in matches)
            raise CommandError(
                f"The name {value!r} is used by several routes; give the route id instead: {choices}."
            )
        return matches[0]
