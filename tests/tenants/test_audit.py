"""The audit log: operator commands and admin imports say who did what, with what result."""

from __future__ import annotations

import getpass
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tenants.audit import HIDDEN, audit_record, os_actor, safe_arguments
from tenants.models import AuditEntry, AuditOutcome
from tests import factories, pki

pytestmark = pytest.mark.django_db

AUDIT_URL = "/admin/tenants/auditentry/"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_command_leaves_an_entry_with_who_what_and_outcome(monkeypatch):
    monkeypatch.delenv("SUDO_USER", raising=False)
    run("create_tenant", "initech", "--name", "Initech")
    entry = AuditEntry.objects.get()
    assert entry.action == "create_tenant" and entry.outcome == AuditOutcome.SUCCEEDED
    assert entry.actor == f"os:{getpass.getuser()}" and entry.user is None
    assert entry.arguments == {"slug": "initech", "name": "Initech"}
    assert entry.tenant.slug == "initech" and entry.tenant_slug == "initech"


def test_a_command_run_through_sudo_names_the_person(monkeypatch):
    monkeypatch.setenv("SUDO_USER", "alice-admin")
    assert os_actor() == f"os:{getpass.getuser()} (sudo by alice-admin)"


def test_a_failed_command_is_audited_with_its_error(acme):
    with pytest.raises(CommandError):
        run("create_tenant", "acme", "--name", "Again")
    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditOutcome.FAILED and "already exists" in entry.message
    assert entry.tenant == acme


def test_member_domain_and_activation_commands_are_audited(acme):
    run("add_member", "acme", "dave@acme.example", "--role", "obs_admin")
    run("claim_domain", "acme", "acme.example")
    run("activate_onboarding", "acme", "--by", "dave@acme.example")
    entries = AuditEntry.objects.order_by("pk")
    assert [e.action for e in entries] == ["add_member", "claim_domain", "activate_onboarding"]
    assert entries[0].arguments == {
        "slug": "acme",
        "email": "dave@acme.example",
        "role": "obs_admin",
        "send_invite": False,
    }
    assert {e.tenant for e in entries} == {acme}


def test_an_import_is_audited_with_its_counts_but_a_dry_run_is_not(acme, tmp_path):
    factories.IdentityProviderFactory(tenant=acme, name="Corp Entra")
    (tmp_path / "chain.pem").write_text(pki.pem_bundle(pki.chain(intermediates=1)))
    document = {
        "routes": [
            {
                "display_name": "Berlin UMS",
                "ums_hostname": "ums.example.com",
                "identity_provider": "Corp Entra",
                "certificate_chain": "chain.pem",
                "mapped_users": ["a@example.com", "b@example.com"],
            }
        ]
    }
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(document))
    run("import_routes", "acme", str(path), "--dry-run")
    assert not AuditEntry.objects.exists()
    run("import_routes", "acme", str(path))
    entry = AuditEntry.objects.get()
    assert entry.action == "import_routes" and entry.outcome == AuditOutcome.SUCCEEDED
    assert entry.counts["routes_created"] == 1 and entry.counts["users_created"] == 2
    assert entry.arguments["file"] == str(path) and entry.arguments["prune"] is False


def test_an_export_is_audited_with_what_left_the_system(acme):
    factories.MappedUserFactory(route=factories.RouteFactory(tenant=acme))
    call_command("export_routes", "acme", stdout=StringIO(), stderr=StringIO())
    entry = AuditEntry.objects.get(action="export_routes")
    assert entry.counts == {"routes": 1, "users": 1, "domains": 0, "chains": 1}


def test_secrets_never_reach_the_audit_log():
    arguments = safe_arguments(
        {
            "slug": "acme",
            "client_secret_env": "ACME_SECRET",
            "password": "hunter2",
            "signing_key": "",
            "verbosity": 1,
            "stdout": object(),
        },
        hidden=frozenset({"slug"}),
    )
    assert arguments == {
        "slug": HIDDEN,
        "client_secret_env": HIDDEN,
        "password": HIDDEN,
        "signing_key": "",
    }


def _entries(acme, globex) -> tuple[AuditEntry, AuditEntry, AuditEntry]:
    def entry(tenant, action):
        return audit_record(
            action=action, actor="os:root", outcome=AuditOutcome.SUCCEEDED, tenant=tenant
        )

    return (
        entry(acme, "claim_domain"),
        entry(globex, "add_member"),
        entry(None, "prune_onboarding_events"),
    )


def test_staff_read_only_their_companys_entries(client, bob, carol, acme, globex):
    ours, theirs, platform = _entries(acme, globex)
    for persona in (bob, carol):
        client.force_login(persona)
        listing = client.get(AUDIT_URL)
        assert list(listing.context["cl"].queryset) == [ours]
        assert "Globex" not in listing.content.decode()
        assert client.get(f"{AUDIT_URL}{theirs.pk}/change/").status_code == 404
        assert client.get(f"{AUDIT_URL}{platform.pk}/change/").status_code == 404


def test_the_operator_reads_every_entry(client, operator, acme, globex):
    entries = _entries(acme, globex)
    client.force_login(operator)
    listing = client.get(AUDIT_URL)
    assert set(listing.context["cl"].queryset) == set(entries)


def test_audit_entries_cannot_be_changed_or_deleted(client, operator, bob, acme, globex):
    ours, _theirs, _platform = _entries(acme, globex)
    for persona in (bob, operator):
        client.force_login(persona)
        page = client.get(f"{AUDIT_URL}{ours.pk}/change/")
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert client.post(f"{AUDIT_URL}{ours.pk}/change/", {"action": "x"}).status_code == 403
        assert client.post(f"{AUDIT_URL}{ours.pk}/delete/", {"post": "yes"}).status_code == 403
        assert client.get(f"{AUDIT_URL}add/").status_code == 403
    assert AuditEntry.objects.get(pk=ours.pk).action == "claim_domain"


def test_configure_idp_is_audited_without_its_secret(acme, monkeypatch):
    monkeypatch.setenv("ACME_IDP_SECRET", "s3cret-value")
    run(
        "configure_idp",
        "acme",
        "Corp OIDC",
        "--kind",
        "oidc",
        "--client-id",
        "app-1",
        "--issuer",
        "https://login.acme.example",
        "--client-secret-env",
        "ACME_IDP_SECRET",
    )
    entry = AuditEntry.objects.get(action="configure_idp")
    assert entry.tenant == acme and entry.outcome == AuditOutcome.SUCCEEDED
    assert "s3cret-value" not in json.dumps(entry.arguments)
    assert entry.arguments["client_secret_env"] == HIDDEN


def test_sweeping_chain_files_is_audited_only_when_it_deletes(acme):
    run("sweep_chain_files")
    assert not AuditEntry.objects.filter(action="sweep_chain_files").exists()
    run("sweep_chain_files", "--delete")
    entry = AuditEntry.objects.get(action="sweep_chain_files")
    assert entry.outcome == AuditOutcome.SUCCEEDED and entry.counts == {"deleted": 0}
