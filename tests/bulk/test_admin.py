"""The admin's "Import routes" page (check, then apply) and the export actions."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from common.storage import stored_names
from onboarding.import_jobs import JOB_FOLDER, NOT_APPLICABLE
from onboarding.models import ImportJob, MappedUser, Route
from tests import factories

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/onboarding/route/import/"
LIST_URL = "/admin/onboarding/route/"


def routes_file(chain_pem: str, users: list[str], name: str = "routes.json") -> SimpleUploadedFile:
    document = {
        "routes": [
            {
                "display_name": "Berlin UMS",
                "ums_hostname": "ums01.example.com",
                "identity_provider": "Corp Entra",
                "certificate_chain": "chains/berlin.pem",
                "mapped_users": users,
            }
        ]
    }
    return SimpleUploadedFile(name, json.dumps(document, indent=1).encode())


def upload(client, tenant, chain_pem, users, **extra):
    return client.post(
        IMPORT_URL,
        {
            "tenant": tenant.pk,
            "file": routes_file(chain_pem, users),
            "chain_files": [SimpleUploadedFile("berlin.pem", chain_pem.encode())],
            **extra,
        },
    )


def run_jobs() -> None:
    call_command("run_jobs", "--once", stdout=StringIO())


def checked(client, tenant, chain_pem, users, **extra):
    """Upload the file, let the import worker check it, and open the job's page."""
    queued = upload(client, tenant, chain_pem, users, **extra)
    assert queued.status_code == 302 and queued["Location"].startswith(IMPORT_URL)
    run_jobs()
    return client.get(queued["Location"])


def test_the_route_list_links_to_the_import_page(client, bob, acme):
    client.force_login(bob)
    assert reverse("admin:onboarding_route_import") == IMPORT_URL
    assert IMPORT_URL in client.get(LIST_URL).content.decode()


def test_an_obs_admin_checks_then_applies_an_import(client, bob, acme, corp_idp, chain_a):
    client.force_login(bob)
    page = checked(client, acme, chain_a, ["alice@example.com"])
    body = page.content.decode()
    assert page.status_code == 200
    assert "Importing routes.json would change acme as follows" in body
    # A table of changes with counts, in the admin's words (not the command's text).
    assert (
        'class="import-report' in body
        and '<th class="text-left font-medium">Mapped users</th>' in body
    )
    assert (
        "--prune" not in body
        and "export_routes" not in body
        and "docs/import-format.md" not in body
    )
    assert not Route.objects.exists()  # nothing written yet
    job_url = page.request["PATH_INFO"]
    apply_url = f"{job_url}apply/"
    applied = client.post(apply_url)
    assert applied.status_code == 302 and applied["Location"] == job_url
    assert not Route.objects.exists()  # queued for the worker, not written in the request
    run_jobs()
    route = Route.objects.get()
    assert route.certificate_chain.uploaded_by == bob
    assert list(MappedUser.objects.values_list("email", flat=True)) == ["alice@example.com"]
    done = client.get(job_url).content.decode()
    assert "Import applied" in done and f'href="{LIST_URL}"' in done
    # Applied once: a second Apply is refused.
    again = client.post(apply_url, follow=True)
    assert NOT_APPLICABLE in again.content.decode()
    run_jobs()
    assert Route.objects.count() == 1


def test_a_file_with_errors_shows_every_line_and_offers_no_apply(
    client, bob, acme, corp_idp, chain_a
):
    client.force_login(bob)
    page = checked(client, acme, chain_a, ["ok@example.com", "bad@", "ok@example.com"])
    body = page.content.decode()
    assert "routes.json:10: mapped user &quot;bad@&quot; is not a valid e-mail address" in body
    assert "routes.json:11: mapped user &quot;ok@example.com&quot; is also listed on line 9" in body
    assert not page.context["may_apply"] and 'id="import-apply"' not in body
    assert not Route.objects.exists()


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Two of the certificate chain files are named berlin.pem."),
        ("de", "Zwei der Dateien der Zertifikatsketten heißen berlin.pem."),
    ],
)
def test_two_chain_files_of_one_name_are_refused_and_nothing_is_stored(
    client, bob, acme, corp_idp, chain_a, chain_b, language, message
):
    # The routes file names each chain by its file name: which of the two would a route
    # get? Refused on the form, before anything is stored or queued.
    client.force_login(bob)
    page = client.post(
        IMPORT_URL,
        {
            "tenant": acme.pk,
            "file": routes_file(chain_a, ["alice@example.com"]),
            "chain_files": [
                SimpleUploadedFile("berlin.pem", chain_a.encode()),
                SimpleUploadedFile("berlin.pem", chain_b.encode()),
            ],
        },
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert page.status_code == 200
    assert message in page.content.decode()
    assert not ImportJob.objects.exists()
    assert not list(stored_names(default_storage, JOB_FOLDER))


def test_another_users_import_is_not_applied(client, bob, alice, acme, corp_idp, chain_a):
    client.force_login(bob)
    job_url = checked(client, acme, chain_a, ["alice@example.com"]).request["PATH_INFO"]
    client.force_login(alice)
    refused = client.post(f"{job_url}apply/", follow=True)
    assert "Only bob, who uploaded this file, can apply it." in refused.content.decode()
    run_jobs()
    assert not Route.objects.exists()


def test_members_cannot_import_into_another_company(client, mallory, acme, corp_idp, chain_a):
    client.force_login(mallory)
    page = upload(client, acme, chain_a, ["alice@example.com"])
    assert page.status_code == 200
    assert "Select a valid choice" in page.content.decode()
    assert "Globex" in page.content.decode() and "Acme Corp" not in page.content.decode()
    assert not Route.objects.exists()


def test_an_account_admin_has_no_import_page(client, carol):
    client.force_login(carol)
    assert client.get(IMPORT_URL).status_code in (302, 403)


def test_the_export_action_downloads_the_selected_routes(client, bob, acme, corp_idp):
    route = factories.RouteFactory(
        tenant=acme, display_name="Berlin UMS", identity_provider=corp_idp
    )
    factories.MappedUserFactory(route=route, email="alice@example.com")
    factories.RouteFactory(tenant=acme, display_name="Not selected", identity_provider=corp_idp)
    client.force_login(bob)
    response = client.post(
        LIST_URL, {"action": "export_routes_json", "_selected_action": [route.pk]}
    )
    assert response["Content-Disposition"] == 'attachment; filename="acme-routes.json"'
    document = json.loads(response.content)
    assert [r["display_name"] for r in document["routes"]] == ["Berlin UMS"]
    assert document["routes"][0]["mapped_users"] == ["alice@example.com"]
    csv_response = client.post(
        LIST_URL, {"action": "export_routes_csv", "_selected_action": [route.pk]}
    )
    assert csv_response.content.decode().startswith("display_name,ums_hostname,")


def test_the_export_action_never_includes_another_companys_route(client, mallory, acme, globex):
    theirs = factories.RouteFactory(tenant=acme, display_name="Acme Secret")
    client.force_login(mallory)
    response = client.post(
        LIST_URL, {"action": "export_routes_json", "_selected_action": [theirs.pk]}
    )
    assert b"Acme Secret" not in response.content


def test_the_export_action_refuses_a_selection_across_companies(client, operator, acme, globex):
    ours = factories.RouteFactory(tenant=acme)
    theirs = factories.RouteFactory(tenant=globex)
    client.force_login(operator)
    response = client.post(
        LIST_URL,
        {"action": "export_routes_json", "_selected_action": [ours.pk, theirs.pk]},
        follow=True,
    )
    assert "Select routes of one company account to export." in response.content.decode()
