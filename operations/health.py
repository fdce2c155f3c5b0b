"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: dependencies up).

Both are unauthenticated JSON and cheap: ``/healthz`` touches nothing; ``/readyz`` runs
django-health-check's database (``SELECT 1``) and cache (set + get) checks, one storage
existence check (a single stat or HEAD, no write) and, until they are found applied,
the migration check, all concurrently, each bounded by its timeout. A failing check is
named in the answer without its details (they are logged): the endpoint is public.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import async_to_sync
from django.core.files.storage import storages
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

#: Seconds each readiness check may take (a probe must answer before its own timeout).
CHECK_TIMEOUT = datetime.timedelta(seconds=3)


@dataclasses.dataclass
class StorageReachable(HealthCheck):
    """The file storage answers: one existence query, nothing written.

    django-health-check's own storage check writes, reads and deletes a file on every
    probe (six S3 requests); asking whether a name exists proves the bucket is reachable
    with our credentials for one request.
    """

    alias: str = "default"
    timeout = CHECK_TIMEOUT

    def run(self) -> None:
        try:
            storages[self.alias].exists("readyz-probe")
        except Exception as exc:
            raise ServiceUnavailable(type(exc).__name__) from exc


#: Once a process has seen every migration applied, it need not look again: the code it
#: runs cannot gain migrations while it runs.
_migrations_applied = False


@dataclasses.dataclass
class MigrationsApplied(HealthCheck):
    """Every migration of the running code is applied (a new version waits for them)."""

    alias: str = "default"
    timeout = CHECK_TIMEOUT

    def run(self) -> None:
        global _migrations_applied
        if _migrations_applied:
            return
        connection = connections[self.alias]
        with connection.temporary_connection():
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise ServiceUnavailable(f"{len(plan)} migrations are not applied")
        _migrations_applied = True


class _Database(Database):
    timeout = CHECK_TIMEOUT


#: The name of each check in the answer.
READINESS_CHECKS: dict[str, type[HealthCheck]] = {
    "database": _Database,
    "cache": Cache,
    "storage": StorageReachable,
    "migrations": MigrationsApplied,
}


class ReadinessView(HealthCheckView):
    """JSON whatever the ``Accept`` header says: 200 when ready, 503 with what is not."""

    checks = tuple(READINESS_CHECKS.values())

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        checks = [
            _Database(),
            Cache(timeout=CHECK_TIMEOUT),
            StorageReachable(),
            MigrationsApplied(),
        ]
        with self.get_executor() as executor:
            results = await asyncio.gather(*(check.get_result(executor) for check in checks))
        states = {
            name: "ok" if result.error is None else "unavailable"
            for name, result in zip(READINESS_CHECKS, results, strict=True)
        }
        ready = all(state == "ok" for state in states.values())
        return JsonResponse(
            {"status": "ok" if ready else "unavailable", "checks": states},
            status=200 if ready else 503,
        )


_readyz = ReadinessView.as_view()


def readyz(request: HttpRequest) -> HttpResponse:
    """The readiness view, callable from synchronous middleware (the view is async).

    Under gunicorn this thread runs no event loop; where one already runs (an ASGI
    server, a test using one), the checks get a thread of their own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        response: HttpResponse = async_to_sync(_readyz)(request)
        return response
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(async_to_sync(_readyz), request).result()


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive and answering; nothing else is asked."""
    return JsonResponse({"status": "ok"})
