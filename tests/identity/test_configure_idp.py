"""The configure_idp command and the services behind it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from identity.models import IdentityProvider
from tests.factories import IdentityProviderFactory

pytestmark = pytest.mark.django_db

TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def run(*args: str, stdin: str | None = "s3cret\n") -> str:
    out = io.StringIO()
    call_command("configure_idp", *args, stdout=out, stdin=io.StringIO(stdin or ""))
    return out.getvalue()


def test_it_creates_an_entra_provider_with_the_secret_from_stdin(acme):
    output = run(
        "acme",
        "Corp Entra",
        "--kind",
        "entra",
        "--client-id",
        "app-1",
        "--entra-tenant-id",
        TID.upper(),
    )
    idp = IdentityProvider.objects.get(tenant=acme, name="Corp Entra")
    assert idp.client_secret == "s3cret"
    assert idp.entra_tenant_id == TID
    assert f"/{TID}/v2.0" in output and "s3cret" not in output


def test_it_reads_the_secret_from_the_named_environment_variable(acme, monkeypatch):
    monkeypatch.setenv("OKTA_SECRET", "from-env")
    run(
        "acme",
        "Okta",
        "--kind",
        "okta",
        "--client-id",
        "0oa1",
        "--okta-domain",
        "Acme.okta.com",
        "--okta-auth-server",
        "default",
        "--client-secret-env",
        "OKTA_SECRET",
        stdin=None,
    )
    idp = IdentityProvider.objects.get(name="Okta")
    assert idp.client_secret == "from-env"
    assert idp.effective_issuer == "https://acme.okta.com/oauth2/default"


def test_a_missing_environment_variable_is_a_clear_error(acme, monkeypatch):
    monkeypatch.delenv("NOPE", raising=False)
    with pytest.raises(CommandError, match="NOPE is not set"):
        run(
            "acme",
            "X",
            "--kind",
            "ping",
            "--client-id",
            "c",
            "--issuer",
            "https://auth.pingone.eu/e/as",
            "--client-secret-env",
            "NOPE",
        )


def test_there_is_no_option_for_a_secret_on_the_command_line(acme):
    with pytest.raises(CommandError):
        run(
            "acme",
            "X",
            "--kind",
            "oidc",
            "--client-id",
            "c",
            "--issuer",
            "https://idp.example",
            "--client-secret",
            "x",
        )


def test_updating_with_empty_stdin_keeps_the_secret_and_other_fields(acme):
    IdentityProviderFactory(
        tenant=acme,
        name="Generic",
        client_id="same-client",
        client_secret="old",
        issuer="https://idp.example",
        scopes="openid email",
    )
    output = run(
        "acme",
        "Generic",
        "--kind",
        "oidc",
        "--client-id",
        "same-client",
        "--email-claim",
        "upn",
        stdin="",
    )
    idp = IdentityProvider.objects.get(name="Generic")
    assert output.startswith("Updated")
    assert (idp.email_claim, idp.client_secret, idp.issuer, idp.scopes) == (
        "upn",
        "old",
        "https://idp.example",
        "openid email",
    )


def test_a_generic_provider_can_be_configured_without_discovery(acme):
    run(
        "acme",
        "Legacy",
        "--kind",
        "oidc",
        "--client-id",
        "c",
        "--issuer",
        "https://legacy.example",
        "--authorization-endpoint",
        "https://legacy.example/auth",
        "--token-endpoint",
        "https://legacy.example/token",
        "--jwks-uri",
        "https://legacy.example/keys",
        "--scopes",
        "openid email",
        "--email-claim",
        "upn",
    )
    idp = IdentityProvider.objects.get(name="Legacy")
    assert not idp.uses_discovery and idp.email_claim == "upn"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kind", "entra", "--client-id", "c", "--entra-tenant-id", "common"],
            "multi-tenant alias",
        ),
        (["--kind", "entra", "--client-id", "c", "--entra-tenant-id", "nope"], "GUID"),
        (
            ["--kind", "okta", "--client-id", "c", "--okta-domain", "https://x.okta.com/"],
            "without https://",
        ),
        (
            ["--kind", "okta", "--client-id", "c", "--issuer", "https://x"],
            "--issuer does not apply to --kind okta",
        ),
        (["--kind", "ping", "--client-id", "c"], "issuer"),
        (["--kind", "ping", "--client-id", "c", "--ping-environment-id", "env-1"], "GUID"),
        (
            [
                "--kind",
                "ping",
                "--client-id",
                "c",
                "--issuer",
                "https://auth.pingone.eu/e/as",
                "--ping-environment-id",
                TID,
            ],
            "not both",
        ),
        (
            ["--kind", "oidc", "--client-id", "c", "--ping-environment-id", TID],
            "--ping-environment-id does not apply to --kind oidc",
        ),
        (
            [
                "--kind",
                "oidc",
                "--client-id",
                "c",
                "--issuer",
                "https://i.example",
                "--jwks-uri",
                "https://i.example/k",
            ],
            "all needed",
        ),
        (
            [
                "--kind",
                "oidc",
                "--client-id",
                "c",
                "--issuer",
                "https://i.example",
                "--scopes",
                "profile email",
            ],
            "openid",
        ),
    ],
)
def test_bad_input_is_one_clear_line(acme, args, message):
    with pytest.raises(CommandError) as exc:
        run("acme", "Bad", *args)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)
    assert not IdentityProvider.objects.filter(name="Bad").exists()


def test_a_new_provider_needs_a_secret(acme):
    with pytest.raises(CommandError, match="client secret"):
        run(
            "acme",
            "NoSecret",
            "--kind",
            "oidc",
            "--client-id",
            "c",
            "--issuer",
            "https://i.example",
            stdin="",
        )


def test_an_unknown_account_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No company account"):
        run("nope", "X", "--kind", "oidc", "--client-id", "c", "--issuer", "https://i.example")


def test_switching_kind_drops_the_old_kinds_fields(acme):
    run("acme", "P", "--kind", "entra", "--client-id", "c", "--entra-tenant-id", TID)
    run(
        "acme",
        "P",
        "--kind",
        "okta",
        "--client-id",
        "c",
        "--okta-domain",
        "acme.okta.com",
        stdin="okta-secret\n",  # a new kind is a new provider: its secret is typed again
    )
    idp = IdentityProvider.objects.get(name="P")
    assert idp.entra_tenant_id == "" and idp.okta_domain == "acme.okta.com"
    assert idp.client_secret == "okta-secret"


def test_a_pingone_provider_can_be_named_by_its_environment_id(acme, settings):
    settings.PING_BASE_URL = "https://auth.pingone.eu"
    output = run(
        "acme",
        "Ping EU",
        "--kind",
        "ping",
        "--client-id",
        "c",
        "--ping-environment-id",
        TID.upper(),
    )
    idp = IdentityProvider.objects.get(name="Ping EU")
    assert idp.ping_environment_id == TID
    assert idp.effective_issuer == f"https://auth.pingone.eu/{TID}/as"
    assert idp.effective_issuer in output
