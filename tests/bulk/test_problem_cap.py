"""A file of many bad entries reports the first 1,000 and counts the rest (issue 11, item 3):
neither the report kept in memory nor the output grows with the number of problems."""

from __future__ import annotations

import json

import pytest

from onboarding.bulk import ImportSource, import_routes
from onboarding.bulk.importer import MAX_LISTED_PROBLEMS
from onboarding.bulk.importer.report import MAX_QUOTED_CHARS
from onboarding.import_jobs import report_to_json
from tests.bulk.conftest import run_command, write_json
from tests.bulk.test_hostile_files import route

pytestmark = pytest.mark.django_db

BAD_ENTRIES = 3 * MAX_LISTED_PROBLEMS


def test_many_bad_entries_report_the_first_thousand_and_count_the_rest(acme, corp_idp, workdir):
    path = write_json(
        workdir, [route(mapped_users=[f"not-an-address-{i}" for i in range(BAD_ENTRIES)])]
    )
    result = run_command("import_routes", "acme", str(path))
    assert result.failed
    listed = [line for line in result.err.splitlines() if line.startswith("routes.json:")]
    assert len(listed) == MAX_LISTED_PROBLEMS
    assert '"not-an-address-0"' in listed[0]  # the first ones, in file order
    assert f"... and {BAD_ENTRIES - MAX_LISTED_PROBLEMS} more problem(s), not listed." in result.err
    assert f"{BAD_ENTRIES} problem(s) in routes.json" in result.err


def test_a_few_problems_are_all_listed_without_a_count(acme, corp_idp, workdir):
    path = write_json(workdir, [route(mapped_users=["not-an-address"])])
    result = run_command("import_routes", "acme", str(path))
    assert "more problem(s)" not in result.err
    assert "1 problem(s) in routes.json" in result.err


def test_a_long_value_is_quoted_briefly_however_many_lines_quote_it(acme, corp_idp):
    # Each row that gives the route another hostname quotes the first row's: a 1 MB cell
    # quoted on 200 lines would keep (and store, and show) 200 MB.
    long_name = "u" * 1_000_000
    header = "display_name,ums_hostname,ums_port,identity_provider,target,kind,value"
    rows = [f"Berlin UMS,{long_name}.example,8443,Corp Entra,ums,user,first@acme.example"]
    rows += [
        f"Berlin UMS,other{i}.example,8443,Corp Entra,ums,user,u{i}@acme.example"
        for i in range(200)
    ]
    source = ImportSource.from_bytes("routes.csv", "\n".join([header, *rows]).encode())

    report = import_routes(tenant=acme, source=source, dry_run=True)

    lines = report.error_lines()
    assert len(lines) >= 200
    assert all(len(line) < 4 * MAX_QUOTED_CHARS for line in lines)  # a few quoted values
    assert "u" * MAX_QUOTED_CHARS + "…" in lines[0]
    assert len(json.dumps(report_to_json(report))) < 200 * 4 * MAX_QUOTED_CHARS
