"""Export routes in the format the import reads back (spec 4.1 JSON, or the CSV form).

Written as a stream, one route and one mapping at a time, so exporting 100,000
mappings needs no more memory than exporting ten. Chains are written inline (PEM in
the file) or, given a :class:`ChainFiles`, as files next to the export that the file
names by relative path, each chain once however many routes share it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from django.db.models import QuerySet
from django.utils.text import slugify

from certificates.models import CertificateChain
from onboarding.bulk.readers import CSV_COLUMNS, DOMAIN, USER
from onboarding.models import MappedDomain, MappedUser, Route
from tenants.models import Tenant

EXPORT_FORMATS = ("json", "csv")
CHAIN_DIR = "chains"


@dataclass
class ExportSummary:
    routes: int = 0
    users: int = 0
    domains: int = 0
    chains: int = 0

    def line(self, tenant: Tenant) -> str:
        return (
            f"Exported {self.routes} route(s), {self.users} mapped user(s), "
            f"{self.domains} mapped domain(s) and {self.chains} certificate chain(s) of {tenant.slug}."
        )


class ChainFiles:
    """Writes each chain once as ``<directory>/chains/<name>.pem``; returns its relative path."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._paths: dict[int, str] = {}
        self._used: set[str] = set()

    def __call__(self, chain: CertificateChain) -> str:
        if chain.pk in self._paths:
            return self._paths[chain.pk]
        stem = slugify(chain.name) or "chain"
        name, n = f"{stem}.pem", 1
        while name in self._used:
            n += 1
            name = f"{stem}-{n}.pem"
        self._used.add(name)
        folder = self.directory / CHAIN_DIR
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(chain.pem, encoding="ascii")
        self._paths[chain.pk] = path = f"{CHAIN_DIR}/{name}"
        return path

    @property
    def count(self) -> int:
        return len(self._paths)


def _inline(chain: CertificateChain) -> str:
    return chain.pem


def _routes(tenant: Tenant, routes: QuerySet[Route] | None) -> QuerySet[Route]:
    base = routes if routes is not None else Route.objects.all()
    return (
        base.filter(tenant=tenant)
        .select_related("identity_provider", "certificate_chain")
        .order_by("display_name")
    )


def _values(route: Route, kind: str) -> Iterator[str]:
    model, name = (MappedUser, "email") if kind == USER else (MappedDomain, "domain")
    query = model.objects.filter(route=route).order_by(name).values_list(name, flat=True)
    yield from query.iterator(chunk_size=5000)


def export_routes(
    *,
    tenant: Tenant,
    fmt: str,
    out: TextIO,
    routes: QuerySet[Route] | None = None,
    chain_ref: Callable[[CertificateChain], str] | None = None,
) -> ExportSummary:
    """Write ``tenant``'s routes (all, or those of ``routes``) to ``out`` as ``fmt``.

    ``chain_ref`` turns a chain into what the file says for it; default: the PEM itself.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; use json or csv.")
    ref = chain_ref or _inline
    summary = ExportSummary()
    chains: set[int] = set()
    writer = _write_json if fmt == "json" else _write_csv
    for route in writer(_routes(tenant, routes), out, ref, summary):
        chains.add(route.certificate_chain_id)
    summary.chains = len(chains)
    return summary


def _write_json(
    routes: QuerySet[Route],
    out: TextIO,
    ref: Callable[[CertificateChain], str],
    summary: ExportSummary,
) -> Iterator[Route]:
    def dump(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    out.write('{"routes": [')
    for index, route in enumerate(routes.iterator(chunk_size=100)):
        out.write(",\n" if index else "\n")
        head = {
            "display_name": route.display_name,
            "ums_hostname": route.ums_hostname,
            "ums_port": route.ums_port,
            "target": route.target,
            "identity_provider": route.identity_provider.name,
            "enabled": route.enabled,
            "certificate_chain": ref(route.certificate_chain),
        }
        out.write("  {" + ", ".join(f"{dump(k)}: {dump(v)}" for k, v in head.items()))
        # One address per line: diffs stay readable and import errors point at a line.
        for key, kind in (("mapped_users", USER), ("mapped_domains", DOMAIN)):
            out.write(f",\n   {dump(key)}: [")
            count = 0
            for value in _values(route, kind):
                out.write(",\n    " if count else "\n    ")
                out.write(dump(value))
                count += 1
            out.write("\n   ]" if count else "]")
            if kind == USER:
                summary.users += count
            else:
                summary.domains += count
        out.write("}")
        summary.routes += 1
        yield route
    out.write("\n]}\n" if summary.routes else "]}\n")


def _write_csv(
    routes: QuerySet[Route],
    out: TextIO,
    ref: Callable[[CertificateChain], str],
    summary: ExportSummary,
) -> Iterator[Route]:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for route in routes.iterator(chunk_size=100):
        chain = ref(route.certificate_chain)
        # A path is short and repeated on every row (handy when filtering a
        # spreadsheet); inline PEM text goes on the route's first row only.
        later_chain = chain if "-----BEGIN" not in chain else ""
        head = [route.display_name, route.ums_hostname, str(route.ums_port), route.target]
        head.append(route.identity_provider.name)
        enabled = "true" if route.enabled else "false"
        rows = 0
        for kind in (USER, DOMAIN):
            for value in _values(route, kind):
                writer.writerow([*head, kind, value, later_chain if rows else chain, enabled])
                rows += 1
                if kind == USER:
                    summary.users += 1
                else:
                    summary.domains += 1
        if not rows:  # no mappings: one row declares the route
            writer.writerow([*head, "", "", chain, enabled])
        summary.routes += 1
        yield route
