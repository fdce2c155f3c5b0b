"""All or nothing: a failure anywhere, even while writing, leaves the company untouched."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from certificates.models import CertificateChain
from onboarding.bulk import ImportSource, Progress, import_routes
from onboarding.bulk.importer import BATCH_SIZE
from onboarding.models import MappedUser, Route
from tests import factories
from tests.bulk.conftest import run_command, write_json

pytestmark = pytest.mark.django_db


def route(users, **extra):
    return {
        "display_name": "Berlin UMS",
        "ums_hostname": "ums01.example.com",
        "identity_provider": "Corp Entra",
        "certificate_chain": "chains/a.pem",
        "mapped_users": users,
        **extra,
    }


def stored_chain_files() -> list[str]:
    if not default_storage.exists("chains/acme"):
        return []
    return default_storage.listdir("chains/acme")[1]


def test_an_error_on_the_last_row_leaves_the_database_untouched(acme, corp_idp, workdir):
    existing = factories.RouteFactory(tenant=acme, display_name="Old", identity_provider=corp_idp)
    factories.MappedUserFactory(route=existing, email="keep@example.com")
    users = [f"user{n}@example.com" for n in range(3 * BATCH_SIZE)] + ["last@"]
    result = run_command(
        "import_routes", "acme", str(write_json(workdir, [route(users)])), "--prune"
    )
    assert result.failed
    assert [line for line in result.err.splitlines() if line.startswith("routes.json:")] == [
        f'routes.json:{len(users) + 8}: mapped user "last@" is not a valid e-mail address: '
        "The e-mail address has no domain after the '@'."
    ]
    assert list(Route.objects.values_list("display_name", flat=True)) == ["Old"]
    assert list(MappedUser.objects.values_list("email", flat=True)) == ["keep@example.com"]
    assert CertificateChain.objects.count() == 1


class _Interloper(Progress):
    """While the import writes, another route of the company maps one of its e-mails.

    (Another company mapping it is no refusal: two companies' rows for one address may
    coexist, and routing takes the one whose company verified the domain.)
    """

    def __init__(self, tenant, email: str) -> None:
        self.tenant, self.email, self.stage, self.done_once = tenant, email, "", False

    def start(self, stage: str, total: int | None = None) -> None:
        self.stage = stage

    def update(self, done: int) -> None:
        if self.stage == "Writing mappings" and done >= BATCH_SIZE and not self.done_once:
            self.done_once = True
            factories.MappedUserFactory(
                route=factories.RouteFactory(tenant=self.tenant), email=self.email
            )


def test_a_database_refusal_while_writing_rolls_everything_back(acme, corp_idp, workdir):
    users = [f"user{n}@example.com" for n in range(2 * BATCH_SIZE + 10)]
    path = write_json(workdir, [route(users, mapped_domains=["example.com"])])
    report = import_routes(
        tenant=acme,
        source=ImportSource.from_path(path),
        progress=_Interloper(acme, users[-1]),
    )
    assert not report.applied
    assert report.error_lines()[0].startswith("routes.json: the database refused the import")
    assert not Route.objects.filter(tenant=acme).exists()
    assert not MappedUser.objects.filter(route__tenant=acme).exists()
    assert not CertificateChain.objects.filter(tenant=acme).exists()
    # The chain file stored before the failure was removed from storage again.
    assert stored_chain_files() == []


def test_a_refused_import_stores_no_chain_file(acme, corp_idp, workdir):
    path = write_json(workdir, [route(["bad@"])])
    assert run_command("import_routes", "acme", str(path)).failed
    assert stored_chain_files() == []
