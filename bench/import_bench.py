"""Benchmark: route import rows/s against raw ``bulk_create`` of the same rows.

    .venv/bin/python bench/import_bench.py [--users 100000] [--domains 10000] [--routes 50]

Runs on a fresh SQLite file and, when DATABASE_URL points at PostgreSQL, also on a
fresh PostgreSQL test database (``test_<name>``, dropped afterwards). Each backend
runs in its own process (settings are read once per process). For each it times:

* baseline: ``bulk_create`` of the same MappedUser/MappedDomain rows (batches of
  2,000, routes already present, one transaction) — the floor for writing them;
* ``import_routes`` of the same data as CSV and as JSON into an empty company;
* a second import of the JSON file (nothing to change) and a ``--dry-run``;

and prints rows/s and the ratio import time / baseline time. Every timed run is
rolled back, so each starts from the same empty company.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class _Rollback(Exception):
    pass


def run_backend(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    work = Path(tempfile.mkdtemp(prefix="obs-bench-"))
    settings.MEDIA_ROOT = str(work / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(work / "media")},
        },
    }
    django.setup()
    from django.db import connection, transaction

    vendor = connection.vendor
    if vendor == "sqlite":
        # A file, as the embedded default uses, rather than the in-memory test database.
        connection.settings_dict["TEST"]["NAME"] = str(work / "bench.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        return _measure(args, work, vendor, transaction)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def _measure(args: argparse.Namespace, work: Path, vendor: str, transaction: Any) -> dict:
    from tests import factories

    tenant = factories.ActiveTenantFactory(slug="bench", name="Bench")
    idp = factories.IdentityProviderFactory(tenant=tenant, name="Corp IdP")
    users = [f"user{n}@customer{n % 997}.example" for n in range(args.users)]
    domains = [f"branch{n}.customer.example" for n in range(args.domains)]
    json_path, csv_path = _write_files(args, work, users, domains)
    results: dict = {"vendor": vendor, "rows": len(users) + len(domains), "routes": args.routes}

    def rolled_back(fn: Callable[[], None]) -> float:
        started = time.perf_counter()
        try:
            with transaction.atomic():
                fn()
                raise _Rollback
        except _Rollback:
            pass
        return time.perf_counter() - started

    # The first writes into a fresh database file pay for growing it; warm up once so
    # the baseline is not penalised for running first.
    for _ in range(2):
        rolled_back(lambda: _baseline(args, tenant, idp, users, domains, results))
    _timed_imports(tenant, json_path, csv_path, results, rolled_back, routes=args.routes)
    _traced_imports(tenant, json_path, csv_path, results, rolled_back)
    results["json_bytes"] = json_path.stat().st_size
    results["csv_bytes"] = csv_path.stat().st_size
    return results


def _write_files(
    args: argparse.Namespace, work: Path, users: list[str], domains: list[str]
) -> tuple[Path, Path]:
    """The same data as JSON (spec 4.1) and CSV, each route with its own chain file."""
    from tests import pki

    (work / "chains").mkdir()
    for r in range(args.routes):
        (work / "chains" / f"route{r}.pem").write_text(pki.pem_bundle(pki.chain(intermediates=1)))
    document = {
        "routes": [
            {
                "display_name": f"UMS {r:02d}",
                "ums_hostname": f"ums{r:02d}.example.com",
                "identity_provider": "Corp IdP",
                "certificate_chain": f"chains/route{r}.pem",
                "mapped_users": [u for n, u in enumerate(users) if n % args.routes == r],
                "mapped_domains": [d for n, d in enumerate(domains) if n % args.routes == r],
            }
            for r in range(args.routes)
        ]
    }
    json_path = work / "routes.json"
    json_path.write_text(json.dumps(document, indent=1))
    del document
    csv_path = work / "routes.csv"
    with csv_path.open("w") as out:
        out.write(
            "display_name,ums_hostname,ums_port,target,identity_provider,kind,value,certificate_chain\n"
        )
        for kind, values in (("user", users), ("domain", domains)):
            for n, value in enumerate(values):
                r = n % args.routes
                out.write(
                    f"UMS {r:02d},ums{r:02d}.example.com,8443,ums,Corp IdP,{kind},{value},chains/route{r}.pem\n"
                )
    return json_path, csv_path


def _baseline(
    args: argparse.Namespace,
    tenant: Any,
    idp: Any,
    users: list[str],
    domains: list[str],
    results: dict,
) -> None:
    """The routes exist (created untimed), then raw bulk_create of the rows."""
    from onboarding.models import MappedDomain, MappedUser
    from tests import factories

    routes = [
        factories.RouteFactory(tenant=tenant, display_name=f"UMS {r:02d}", identity_provider=idp)
        for r in range(args.routes)
    ]
    started = time.perf_counter()
    MappedUser.objects.bulk_create(
        (
            MappedUser(route=routes[n % args.routes], tenant=tenant, email=u)
            for n, u in enumerate(users)
        ),
        batch_size=2000,
    )
    MappedDomain.objects.bulk_create(
        (
            MappedDomain(route=routes[n % args.routes], tenant=tenant, domain=d)
            for n, d in enumerate(domains)
        ),
        batch_size=2000,
    )
    results["baseline_s"] = time.perf_counter() - started


def _timed_imports(
    tenant: Any,
    json_path: Path,
    csv_path: Path,
    results: dict,
    rolled_back: Callable[[Callable[[], None]], float],
    *,
    routes: int,
) -> None:
    from onboarding.bulk import ImportSource, import_routes
    from onboarding.models import Route

    def timed_import(path: Path, key: str, **options: Any) -> None:
        def run() -> None:
            started = time.perf_counter()
            report = import_routes(tenant=tenant, source=ImportSource.from_path(path), **options)
            results[key] = time.perf_counter() - started
            assert report.ok, report.error_lines()[:5]

        rolled_back(run)

    timed_import(csv_path, "import_csv_s")
    timed_import(json_path, "import_json_s")
    # Second import of the same file: commit the first, then time the no-op.
    import_routes(tenant=tenant, source=ImportSource.from_path(json_path))
    assert Route.objects.filter(tenant=tenant).count() == routes
    timed_import(json_path, "reimport_json_s")
    timed_import(csv_path, "dry_run_csv_s", dry_run=True)


def _traced_imports(
    tenant: Any,
    json_path: Path,
    csv_path: Path,
    results: dict,
    rolled_back: Callable[[Callable[[], None]], float],
) -> None:
    """The Python heap's peak during an import (tracemalloc slows it, so this pass is
    not timed). ru_maxrss would mostly show this script's own file building; see
    bench/import_memory.py for a whole process's peak."""
    from onboarding.bulk import ImportSource, import_routes
    from onboarding.models import Route

    for path, key in ((csv_path, "peak_heap_csv_mb"), (json_path, "peak_heap_json_mb")):
        Route.objects.filter(tenant=tenant).delete()

        def traced(path: Path = path, key: str = key) -> None:
            tracemalloc.start()
            report = import_routes(tenant=tenant, source=ImportSource.from_path(path))
            results[key] = round(tracemalloc.get_traced_memory()[1] / 1024 / 1024, 1)
            tracemalloc.stop()
            assert report.applied

        rolled_back(traced)


def report(results: dict) -> None:
    rows, base = results["rows"], results["baseline_s"]
    print(f"\n{results['vendor']}: {rows:,} rows ({results['routes']} routes)")
    print(f"  baseline bulk_create   {base:7.2f} s  {rows / base:10,.0f} rows/s")
    for key, label in (
        ("import_csv_s", "import_routes CSV"),
        ("import_json_s", "import_routes JSON"),
        ("reimport_json_s", "re-import (no change)"),
        ("dry_run_csv_s", "dry run CSV"),
    ):
        seconds = results[key]
        print(
            f"  {label:<22} {seconds:7.2f} s  {rows / seconds:10,.0f} rows/s  "
            f"ratio {seconds / base:5.2f}x baseline"
        )
    print(
        f"  peak Python heap of an import: CSV {results['peak_heap_csv_mb']} MB, "
        f"JSON {results['peak_heap_json_mb']} MB (files: CSV {results['csv_bytes'] / 1e6:.1f} MB, "
        f"JSON {results['json_bytes'] / 1e6:.1f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--routes", type=int, default=50)
    parser.add_argument("--backend-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend_only:
        print("RESULT " + json.dumps(run_backend(args)))
        return
    database_url = os.environ.get("DATABASE_URL", "")
    runs = [
        (
            "sqlite",
            {
                **os.environ,
                "DATABASE_URL": "sqlite:///"
                + str(Path(tempfile.gettempdir()) / "obs-bench-unused.sqlite3"),
            },
        )
    ]
    if database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        runs.append(("postgresql", dict(os.environ)))
    else:
        print("DATABASE_URL does not point at PostgreSQL: measuring SQLite only.")
    argv = [
        f"--users={args.users}",
        f"--domains={args.domains}",
        f"--routes={args.routes}",
        "--backend-only",
    ]
    for _name, environment in runs:
        completed = subprocess.run(
            [sys.executable, __file__, *argv],
            env=environment,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
        if completed.returncode or not lines:
            sys.stderr.write(completed.stdout + completed.stderr)
            raise SystemExit(completed.returncode or 1)
        report(json.loads(lines[-1][len("RESULT ") :]))


if __name__ == "__main__":
    main()
