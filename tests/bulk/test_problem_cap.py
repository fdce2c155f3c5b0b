"""A file of many bad entries reports the first 1,000 and counts the rest (issue 11, item 3):
neither the report kept in memory nor the output grows with the number of problems."""

from __future__ import annotations

import pytest

from onboarding.bulk.importer import MAX_LISTED_PROBLEMS
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
