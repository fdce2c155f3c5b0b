"""Benchmark: peak resident memory of route imports of a file of the allowed size.

    .venv/bin/python bench/import_memory.py [--mb 50] [--layout full|short|json] [--kind user|domain]

Writes a valid import file of ``--mb`` megabytes (the default is the 50 MiB that the
admin's "Import routes" page accepts, ``ROUTE_IMPORT_MAX_BYTES``) and imports it with
``manage.py import_routes`` into a company account of a fresh SQLite database, each
import in a process of its own with ``DEBUG`` off, as in production. For each import it
prints the process's peak resident set size (``ru_maxrss``: Python, Django, the
database driver and the import together) and the time it took:

* ``first``: into the empty company account (every mapping created);
* ``again``: the same file once more (every mapping found in the database, unchanged);
* ``dry run``: the same with ``--dry-run``;
* ``startup``: ``manage.py check`` in the same settings, the process before any import.

Layouts: ``full`` repeats every route column on every row (as the export writes
them, about 77 bytes a row: some 680,000 mapped users in 50 MiB); ``short`` gives the
route columns on a route's first row only (about 36 bytes a row: some 1.45 million
mapped users); ``json`` is the JSON format with one value a line (some 2.15 million
mapped users, about as many as a file of this size can realistically hold).

``DEBUG`` stays off: with it, Django keeps the text of the last 9,000 queries, and an
import of this size sends hundreds of them with 2,000 rows each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.production import production_environment  # noqa: E402  (needs ROOT on the path)

ROUTES = 50
HEADER = "display_name,kind,value,ums_hostname,identity_provider,certificate_chain\n"


def _value(kind: str, n: int) -> str:
    return f"u{n}@c{n % 997}.example" if kind == "user" else f"b{n}.example"


def write_file(path: Path, *, size: int, layout: str, kind: str) -> int:
    """A valid import file of about ``size`` bytes; returns the number of mappings."""
    if layout == "json":
        return _write_json(path, size=size, kind=kind)
    written = len(HEADER)
    count = 0
    with path.open("w") as out:
        out.write(HEADER)
        for r in range(ROUTES):  # every route's first row names all its fields
            row = f"UMS {r:02d},,,ums{r:02d}.example.com,Corp IdP,chains/route.pem\n"
            out.write(row)
            written += len(row)
        while written < size:
            r = count % ROUTES
            value = _value(kind, count)
            if layout == "full":
                row = (
                    f"UMS {r:02d},{kind},{value},ums{r:02d}.example.com,Corp IdP,chains/route.pem\n"
                )
            else:
                row = f"UMS {r:02d},{kind},{value},,,\n"
            out.write(row)
            written += len(row)
            count += 1
    return count


def _write_json(path: Path, *, size: int, kind: str) -> int:
    """The JSON format (spec 4.1): each route with an equal share of the values."""
    count = 0
    with path.open("w") as out:
        written = out.write('{"routes": [\n')
        for r in range(ROUTES):
            written += out.write(
                f'{{"display_name": "UMS {r:02d}", "ums_hostname": "ums{r:02d}.example.com", '
                '"identity_provider": "Corp IdP", "certificate_chain": "chains/route.pem", '
                f'"mapped_{kind}s": [\n'
            )
            separator = ""
            while written < size * (r + 1) // ROUTES - 10:
                written += out.write(f'{separator}"{_value(kind, count)}"')
                separator = ",\n"
                count += 1
            written += out.write("]}" + (",\n" if r < ROUTES - 1 else "\n"))
        out.write("]}\n")
    return count


def setup(work: Path) -> None:
    """Runs in its own process: migrate the database, create the company and its IdP."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from tests import factories, pki

    tenant = factories.ActiveTenantFactory(slug="bench", name="Bench")
    factories.IdentityProviderFactory(tenant=tenant, name="Corp IdP")
    (work / "chains").mkdir(exist_ok=True)
    (work / "chains" / "route.pem").write_text(pki.pem_bundle(pki.chain(intermediates=1)))


def run(environment: dict[str, str], *args: str) -> dict[str, float]:
    """Run ``manage.py args`` in a process of its own: its peak RSS (MiB) and seconds."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-c", _MEASURED, *args],
        env=environment,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    seconds = time.monotonic() - started
    lines = [line for line in completed.stdout.splitlines() if line.startswith("MAXRSS ")]
    if completed.returncode or not lines:
        sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-3000:])
        raise SystemExit(f"manage.py {' '.join(args)} failed")
    return {"rss_mib": int(lines[-1].split()[1]) / 1024, "seconds": seconds}


# manage.py in a child, printing the child's own peak RSS at the end (also on failure,
# so a refused import is still reported as such by the caller).
_MEASURED = """
import resource, sys
from django.core.management import execute_from_command_line
try:
    execute_from_command_line(["manage.py", *sys.argv[1:]])
finally:
    sys.stdout.flush()
    print(f"MAXRSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50, help="file size in MiB (default 50)")
    parser.add_argument("--layout", choices=("full", "short", "json"), default="full")
    parser.add_argument("--kind", choices=("user", "domain"), default="user")
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup(Path(args.setup))
        return
    work = Path(tempfile.mkdtemp(prefix="obs-import-memory-"))
    try:
        environment = _environment(work)
        subprocess.run(
            [sys.executable, __file__, "--setup", str(work)], env=environment, cwd=ROOT, check=True
        )
        path = work / ("routes.json" if args.layout == "json" else "routes.csv")
        size = int(args.mb * 1024 * 1024)
        mappings = write_file(path, size=size, layout=args.layout, kind=args.kind)
        results = _measure(environment, path, mappings, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print(results)


def _environment(work: Path) -> dict[str, str]:
    """Production-like settings (DEBUG off) on a SQLite file and storage in ``work``."""
    environment = production_environment(
        work,
        DJANGO_SETTINGS_MODULE="config.settings",
        BASE_URL="https://obs.example.com",
        DATABASE_URL=f"sqlite:///{work / 'bench.sqlite3'}",
        PYTHONPATH=str(ROOT),
    )
    for name in ("REDIS_URL", "CACHE_URL"):
        environment.pop(name, None)
    return environment


def _measure(
    environment: dict[str, str], path: Path, mappings: int, args: argparse.Namespace
) -> dict[str, Any]:
    results = {
        "file_mib": path.stat().st_size / 1024 / 1024,
        "mappings": mappings,
        "layout": args.layout,
        "kind": args.kind,
        "startup": run(environment, "check"),
        "first": run(environment, "import_routes", "bench", str(path)),
        "again": run(environment, "import_routes", "bench", str(path)),
        "dry run": run(environment, "import_routes", "bench", str(path), "--dry-run"),
    }
    return results


def _print(results: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(results))
    print(
        f"\n{results['file_mib']:.1f} MiB file ({results['layout']} layout), "
        f"{results['mappings']:,} mapped {results['kind']}s, {ROUTES} routes; "
        "peak RSS of the process:"
    )
    for key in ("startup", "first", "again", "dry run"):
        print(f"  {key:<8} {results[key]['rss_mib']:6.0f} MiB  {results[key]['seconds']:7.1f} s")


if __name__ == "__main__":
    main()
