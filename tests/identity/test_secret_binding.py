"""A stored client secret goes only to the provider it was entered for (issue 15, finding 2).

The attack: an obs_admin points a provider's token endpoint (or issuer, kind, client ID)
at a server they control and leaves the write-only secret field empty ("keep"); the
next sign-in would send the stored secret there.
"""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from identity import services
from identity.models import IdentityProvider
from tests.factories import IdentityProviderFactory

pytestmark = pytest.mark.django_db

EXPLICIT = {
    "authorization_endpoint": "https://idp.acme.example/authorize",
    "token_endpoint": "https://idp.acme.example/token",
    "jwks_uri": "https://idp.acme.example/jwks",
}


@pytest.fixture
def idp(acme):
    return IdentityProviderFactory(
        tenant=acme,
        name="Acme IdP",
        kind="oidc",
        client_id="acme-app",
        client_secret="the-real-secret",
        issuer="https://idp.acme.example",
        **EXPLICIT,
    )


def _form(idp, **overrides):
    data = {
        "name": idp.name,
        "kind": idp.kind,
        "client_id": idp.client_id,
        "client_secret": "",
        "scopes": idp.scopes,
        "email_claim": idp.email_claim,
        "entra_tenant_id": "",
        "okta_domain": "",
        "okta_auth_server": "",
        "issuer": idp.issuer,
        "ping_environment_id": "",
        "authorization_endpoint": idp.authorization_endpoint,
        "token_endpoint": idp.token_endpoint,
        "jwks_uri": idp.jwks_uri,
        "userinfo_endpoint": "",
    }
    return {**data, **overrides}


@pytest.mark.parametrize(
    "change",
    [
        {"token_endpoint": "https://evil.example/token"},
        {"issuer": "https://evil.example"},
        {"authorization_endpoint": "https://evil.example/authorize"},
        {"jwks_uri": "https://evil.example/jwks"},
        {"client_id": "evil-app"},
        {"kind": "okta", "okta_domain": "evil.okta.com"},
    ],
    ids=lambda change: "+".join(change),
)
def test_pointing_a_provider_elsewhere_in_the_admin_requires_the_secret_again(
    client, bob, idp, change
):
    client.force_login(bob)
    url = reverse("admin:identity_identityprovider_change", args=[idp.pk])
    response = client.post(url, _form(idp, **change))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["client_secret"]
    assert "enter the client secret again" in errors[0]
    stored = IdentityProvider.objects.get(pk=idp.pk)
    assert stored.token_endpoint == EXPLICIT["token_endpoint"]
    assert stored.issuer == "https://idp.acme.example" and stored.client_id == "acme-app"


def test_the_new_address_is_saved_with_the_secret_typed_again(client, bob, idp):
    client.force_login(bob)
    url = reverse("admin:identity_identityprovider_change", args=[idp.pk])
    change = {"token_endpoint": "https://idp2.acme.example/token", "client_secret": "new-one"}
    response = client.post(url, _form(idp, **change))
    assert response.status_code == 302
    idp.refresh_from_db()
    assert idp.token_endpoint.startswith("https://idp2.") and idp.client_secret == "new-one"


def test_the_service_refuses_the_move_whoever_calls_it(idp):
    with pytest.raises(ValidationError) as caught:
        services.idp_update(idp=idp, token_endpoint="https://evil.example/token")
    assert "token endpoint" in caught.value.message_dict["client_secret"][0]
    assert IdentityProvider.objects.get(pk=idp.pk).token_endpoint == EXPLICIT["token_endpoint"]


def test_configure_idp_refuses_a_new_issuer_without_the_secret(idp):
    with pytest.raises(CommandError, match="enter the client secret again"):
        call_command(
            "configure_idp",
            "acme",
            idp.name,
            "--kind",
            "oidc",
            "--client-id",
            "acme-app",
            "--issuer",
            "https://evil.example",
            stdout=io.StringIO(),
            stdin=io.StringIO(""),
        )
    assert IdentityProvider.objects.get(pk=idp.pk).issuer == "https://idp.acme.example"


def test_the_same_directory_id_in_capitals_keeps_the_secret(acme):
    tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    entra = IdentityProviderFactory(
        tenant=acme, kind="entra", issuer="", entra_tenant_id=tid, client_secret="keep-me"
    )
    services.idp_update(idp=entra, entra_tenant_id=tid.upper(), scopes="openid email")
    entra.refresh_from_db()
    assert entra.client_secret == "keep-me" and entra.scopes == "openid email"
