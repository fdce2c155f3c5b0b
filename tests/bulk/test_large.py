"""The benchmark's workload as a test: 100,000 users and 10,000 domains over 50 routes.

Slow (about half a minute), so kept out of the default run: ``pytest -m slow tests/bulk``.
"""

from __future__ import annotations

import resource

import pytest

from onboarding.bulk import ImportSource, import_routes
from onboarding.models import MappedDomain, MappedUser, Route
from tests.bulk.conftest import run_command

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ROUTES, USERS, DOMAINS = 50, 100_000, 10_000


def test_a_large_csv_imports_with_bounded_memory_and_then_changes_nothing(acme, corp_idp, workdir):
    path = workdir / "routes.csv"
    with path.open("w") as out:
        out.write("display_name,ums_hostname,identity_provider,kind,value,certificate_chain\n")
        for n in range(USERS):
            r = n % ROUTES
            out.write(
                f"UMS {r},ums{r}.example.com,Corp Entra,user,u{n}@c{n % 997}.example,chains/a.pem\n"
            )
        for n in range(DOMAINS):
            r = n % ROUTES
            out.write(f"UMS {r},ums{r}.example.com,Corp Entra,domain,b{n}.example,chains/a.pem\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = import_routes(tenant=acme, source=ImportSource.from_path(path))
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert report.applied, report.error_lines()[:5]
    assert Route.objects.filter(tenant=acme).count() == ROUTES
    assert MappedUser.objects.count() == USERS and MappedDomain.objects.count() == DOMAINS
    # Keys of 110,000 mappings, not the file or 110,000 model objects (see the docs).
    assert growth_mb < 200
    second = run_command("import_routes", "acme", str(path))
    assert "Nothing to change" in second.out


def test_an_error_in_the_last_row_of_a_large_file_writes_nothing(acme, corp_idp, workdir):
    path = workdir / "routes.csv"
    with path.open("w") as out:
        out.write("display_name,ums_hostname,identity_provider,kind,value,certificate_chain\n")
        for n in range(USERS):
            out.write(
                f"UMS {n % ROUTES},ums.example.com,Corp Entra,user,u{n}@c.example,chains/a.pem\n"
            )
        out.write("UMS 0,ums.example.com,Corp Entra,user,broken@,chains/a.pem\n")
    result = run_command("import_routes", "acme", str(path))
    assert result.failed
    assert f'routes.csv:{USERS + 2}: mapped user "broken@"' in result.err
    assert not Route.objects.exists() and not MappedUser.objects.exists()
