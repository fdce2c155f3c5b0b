"""An import's report, progress and outcome are German for a German admin (issue 14).

The worker stores them in English (the command and the stored rows keep that text); the
job page and the audit log recognise the stored text by its templates and say it in
their reader's language.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from onboarding.bulk import ImportReport, ImportSource, import_routes
from onboarding.import_jobs import job_ended, report_to_json
from onboarding.job_runner import FAILED_PROBLEMS
from onboarding.models import ImportJob, ImportJobState
from tenants.models import AuditEntry, AuditOutcome
from tests.i18n.conftest import admin_pages_in_both, untranslated

pytestmark = pytest.mark.django_db

HEADER = "display_name,ums_hostname,ums_port,identity_provider,target,kind,value"
#: A file with a problem on nearly every line: types, names, mappings, duplicates.
BAD_CSV = "\n".join(
    [
        HEADER,
        "Berlin UMS,ums.acme.example,8443x,Nobody IdP,ums,user,alice@acme.example",
        "Berlin UMS,,,,,user,alice@acme.example",
        "Berlin UMS,,,,,user,not-an-address",
        "Berlin UMS,,,,,group,x",
        "Hamburg UMS,ums2.acme.example,8443,,ums,domain,",
        "",
    ]
)
#: Names in the file, the same in both languages.
DATA = {"routes.csv", "Berlin UMS", "Hamburg UMS", "alice@acme.example", "not-an-address"}


def _job(acme: Any, bob: Any, **fields: Any) -> ImportJob:
    return ImportJob.objects.create(
        tenant=acme, created_by=bob, file_name="routes.csv", format="csv", **fields
    )


def _arguments(job: ImportJob) -> str:
    """The audit entry's arguments as the log shows them: keys and values, for operators."""
    return f"file=routes.csv, format=csv, job={job.pk}, phase=check, prune=False, uploaded_by=bob"


def _checked(acme: Any, name: str, content: bytes) -> ImportReport:
    """What the worker's check of the file ``name`` finds."""
    return import_routes(tenant=acme, source=ImportSource.from_bytes(name, content), dry_run=True)


def _failed_job_pages(
    client: Any, bob: Any, acme: Any, report: ImportReport, stored: dict[str, Any] | None = None
) -> tuple[ImportJob, list[str]]:
    """A job that failed with ``report`` (stored as ``stored``, if given), and its page in
    English and German."""
    job = _job(
        acme,
        bob,
        state=ImportJobState.FAILED,
        report=report_to_json(report) if stored is None else stored,
        message=FAILED_PROBLEMS.format(count=len(report.errors), file=report.source),
    )
    path = reverse("admin:onboarding_route_import_job", args=[job.pk])
    return job, admin_pages_in_both(client, bob, path)


def test_the_problems_of_an_import_are_listed_in_german(client, bob, acme):
    report = _checked(acme, "routes.csv", BAD_CSV.encode())
    assert len(report.errors) >= 5

    job, pages = _failed_job_pages(client, bob, acme, report)

    # English exactly as the command prints it; German through the same templates.
    for line in report.error_lines():
        assert line.replace('"', "&quot;") in pages[0]
    assert "routes.csv:2: ums_port: &quot;8443x&quot; ist nicht eine ganze Zahl" in pages[1]
    assert "ist kein Identitätsanbieter dieses Firmenkontos" in pages[1]
    assert "zugeordneter Benutzer „alice@acme.example“ steht auch in Zeile 2" in pages[1]
    assert "kind: „group“ ist weder „user“ noch „domain“" in pages[1]
    # A validator's own sentence inside a line, and the template around it.
    assert "„not-an-address“ ist keine gültige E-Mail-Adresse: Geben Sie" in pages[1]
    assert untranslated(pages, DATA | {_arguments(job)}) == []


def test_a_refused_chain_inside_a_problem_line_is_german_too(client, bob, acme):
    # The chain's own reason is a sentence of the certificates app inside the importer's
    # line: stored with the line's structure, it is said in German whole.
    routes = [
        {
            "display_name": "Berlin UMS",
            "ums_hostname": "ums.acme.example",
            "identity_provider": "Nobody IdP",
            "certificate_chain": "-----BEGIN CERTIFICATE-----\nMIIB\n",
        }
    ]
    report = _checked(acme, "routes.json", json.dumps({"routes": routes}).encode())

    _, pages = _failed_job_pages(client, bob, acme, report)

    refused = "has no matching END line; the file is damaged or cut off."
    assert refused in pages[0]
    assert refused not in pages[1]
    assert (
        "hat aber keine passende END-Zeile; die Datei ist beschädigt oder abgeschnitten"
        in (pages[1])
    )


def test_a_json_object_in_a_routes_file_is_shown_as_text_never_used_as_a_template(
    client, bob, acme
):
    crafted = {"template": "{x.__class__} {x:>90000000}", "values": {"x": "a"}}
    routes = [{"display_name": "Berlin UMS", "ums_hostname": crafted, "ums_port": crafted}]
    report = _checked(acme, "routes.json", json.dumps({"routes": routes}).encode())
    stored = report_to_json(report)
    assert "{'template'" in json.dumps(stored["error_phrases"])  # stored as its text

    _, pages = _failed_job_pages(client, bob, acme, report, stored)

    assert "&lt;class" not in pages[0] + pages[1]
    assert "{&#x27;template&#x27;: &#x27;{x.__class__}" in pages[0]


def test_a_report_stored_before_its_lines_had_their_structure_is_still_german(client, bob, acme):
    report = _checked(acme, "routes.csv", BAD_CSV.encode())
    stored = report_to_json(report)
    del stored["error_phrases"], stored["warning_phrases"]  # as an older release kept it

    _, pages = _failed_job_pages(client, bob, acme, report, stored)

    assert "ist kein Identitätsanbieter dieses Firmenkontos" in pages[1]


def test_a_running_import_says_its_stage_in_german(client, bob, acme):
    job = _job(
        acme,
        bob,
        state=ImportJobState.RUNNING,
        progress_stage="Reading routes.csv",
        progress_done=25,
        progress_total=100,
    )
    path = reverse("admin:onboarding_route_import_job", args=[job.pk])

    pages = admin_pages_in_both(client, bob, path)
    status = client.get(path + "status/", HTTP_ACCEPT_LANGUAGE="de").json()

    assert "Reading routes.csv: 25%" in pages[0]
    assert "routes.csv wird gelesen: 25%" in pages[1]
    assert status["stage"] == "routes.csv wird gelesen"
    assert untranslated(pages, DATA | {_arguments(job)}) == []


def test_the_audit_log_says_how_an_import_ended_in_german(client, bob, acme):
    job = _job(
        acme,
        bob,
        state=ImportJobState.FAILED,
        message=FAILED_PROBLEMS.format(count=3, file="routes.csv"),
    )
    job_ended(job, outcome=AuditOutcome.FAILED)
    entry = AuditEntry.objects.get(action="admin_import")
    assert entry.message == "3 problem(s) in routes.csv; nothing was written."

    pages = admin_pages_in_both(
        client, bob, reverse("admin:tenants_auditentry_change", args=[entry.pk])
    )

    assert "3 problem(s) in routes.csv; nothing was written." in pages[0]
    assert "3 problem(s) in routes.csv; nothing was written." not in pages[1]
    assert untranslated(pages, DATA | {_arguments(job)}) == []
