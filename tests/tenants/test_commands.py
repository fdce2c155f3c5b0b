"""Operator commands: create_tenant, add_member, activate_onboarding."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from tenants.models import Activation, Membership, Tenant
from tests import factories

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_creates_a_company_account():
    assert "Created" in run("create_tenant", "initech", "--name", "Initech")
    assert Tenant.objects.get(slug="initech").name == "Initech"


@pytest.mark.parametrize("slug", ["has space", "ümlaut", ""])
def test_create_tenant_refuses_a_bad_slug(slug):
    with pytest.raises(CommandError, match="slug"):
        run("create_tenant", slug, "--name", "X")


def test_create_tenant_refuses_a_taken_slug(acme):
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "acme", "--name", "Again")


def test_add_member_invites_then_updates_the_role(acme):
    assert "Added" in run("add_member", "acme", "Dave@Acme.example", "--role", "obs_admin")
    assert "Updated" in run("add_member", "acme", "dave@acme.example", "--role", "account_admin")
    assert Membership.objects.get(tenant=acme, email="dave@acme.example").role == "account_admin"


def test_add_member_links_an_existing_local_account(acme):
    user = factories.UserFactory(username="erin", email="Erin@Acme.example", is_staff=False)
    run("add_member", "acme", "erin@acme.example", "--role", "obs_admin")
    membership = Membership.objects.get(email="erin@acme.example")
    user.refresh_from_db()
    assert membership.user == user and user.is_staff


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "x@y.example", "--role", "obs_admin"], "No company account"),
        (["acme", "x@", "--role", "obs_admin"], "no domain"),
    ],
)
def test_add_member_refuses_bad_input(acme, args, message):
    with pytest.raises(CommandError, match=message):
        run("add_member", *args)


def test_add_member_refuses_an_unknown_role(acme):
    with pytest.raises(CommandError):
        run("add_member", "acme", "x@acme.example", "--role", "owner")


def test_activate_onboarding_once_then_says_it_already_is(db):
    tenant = factories.TenantFactory(slug="initech")
    run("add_member", "initech", "boss@initech.example", "--role", "super_admin")
    assert "activated" in run("activate_onboarding", "initech", "--by", "boss@initech.example")
    assert "already active" in run("activate_onboarding", "initech", "--by", "boss@initech.example")
    assert Activation.objects.get(tenant=tenant).activated_by_email == "boss@initech.example"


def test_activate_onboarding_requires_an_obs_or_super_admin(db):
    factories.TenantFactory(slug="initech")
    run("add_member", "initech", "people@initech.example", "--role", "account_admin")
    with pytest.raises(CommandError, match="super_admin or obs_admin"):
        run("activate_onboarding", "initech", "--by", "people@initech.example")
    with pytest.raises(CommandError, match="super_admin or obs_admin"):
        run("activate_onboarding", "initech", "--by", "stranger@example.com")


def test_commands_exit_non_zero_with_a_one_line_error(tmp_path):
    import subprocess
    import sys

    env = {
        "DEBUG": "True",
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, check=True)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "activate_onboarding",
            "does-not-exist",
            "--by",
            "a@b.example",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
