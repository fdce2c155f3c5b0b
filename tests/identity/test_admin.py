"""The identity provider admin: write-only secret, per-kind help, Test discovery."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from identity.models import IdentityProvider
from tests.factories import IdentityProviderFactory
from tests.idp_server import CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:identity_identityprovider_add")


def change_url(idp):
    return reverse("admin:identity_identityprovider_change", args=[idp.pk])


def form_data(tenant, **overrides):
    data = {
        "tenant": tenant.pk,
        "name": "Corp Entra",
        "kind": "entra",
        "client_id": "app-id",
        "client_secret": "",
        "scopes": "openid profile email",
        "email_claim": "email",
        "entra_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "okta_domain": "",
        "okta_auth_server": "",
        "issuer": "",
        "authorization_endpoint": "",
        "token_endpoint": "",
        "jwks_uri": "",
        "userinfo_endpoint": "",
    }
    data.update(overrides)
    return data


def test_the_form_tells_what_to_register_at_the_idp(client, bob, settings):
    settings.BASE_URL = "https://obs.acme.example"
    client.force_login(bob)
    page = client.get(ADD_URL).content.decode()
    assert "https://obs.acme.example/oidc/callback/" in page
    assert "PKCE" in page and "openid profile email" in page
    assert "preferred_username" in page  # Entra's optional claims


def test_an_obs_admin_adds_a_provider_through_the_service(client, bob, acme):
    client.force_login(bob)
    response = client.post(ADD_URL, form_data(acme, client_secret="typed-secret"))
    assert response.status_code == 302, response.content.decode()[:3000]
    idp = IdentityProvider.objects.get(name="Corp Entra")
    assert idp.client_secret == "typed-secret" and idp.tenant == acme


def test_a_url_typed_without_a_scheme_means_https(client, bob, acme):
    client.force_login(bob)
    data = form_data(acme, kind="ping", issuer="auth.ping.example/as", client_secret="s")
    response = client.post(ADD_URL, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert IdentityProvider.objects.get(name="Corp Entra").issuer == "https://auth.ping.example/as"


def test_a_new_provider_needs_a_secret(client, bob, acme):
    client.force_login(bob)
    response = client.post(ADD_URL, form_data(acme))
    assert response.status_code == 200
    assert not IdentityProvider.objects.exists()


def test_the_secret_is_never_shown_and_empty_keeps_it(client, bob, acme):
    idp = IdentityProviderFactory(
        tenant=acme, client_secret="do-not-show-me", kind="oidc", issuer="https://idp.example"
    )
    client.force_login(bob)
    page = client.get(change_url(idp)).content.decode()
    assert "do-not-show-me" not in page
    assert "A secret is stored (encrypted)." in page

    data = form_data(
        acme,
        name=idp.name,
        kind="oidc",
        issuer="https://idp.example",
        entra_tenant_id="",
        client_id=idp.client_id,
        scopes="openid email",
    )
    response = client.post(change_url(idp), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    idp.refresh_from_db()
    assert idp.scopes == "openid email" and idp.client_secret == "do-not-show-me"

    client.post(change_url(idp), {**data, "client_secret": "rotated"})
    idp.refresh_from_db()
    assert idp.client_secret == "rotated"


def test_the_list_shows_only_whether_a_secret_is_set(client, bob, acme):
    IdentityProviderFactory(tenant=acme, client_secret="do-not-show-me")
    client.force_login(bob)
    page = client.get(reverse("admin:identity_identityprovider_changelist")).content.decode()
    assert "do-not-show-me" not in page and "set" in page


def test_a_provider_of_another_company_is_not_found(client, bob, globex):
    other = IdentityProviderFactory(tenant=globex)
    client.force_login(bob)
    assert client.get(change_url(other)).status_code == 404


def test_an_account_admin_cannot_manage_providers(client, carol, acme):
    client.force_login(carol)
    assert client.get(ADD_URL).status_code == 403


def test_a_provider_cannot_be_added_to_another_company(client, bob, globex):
    client.force_login(bob)
    response = client.post(ADD_URL, form_data(globex, client_secret="x"))
    assert response.status_code == 200  # the tenant is not among the choices
    assert not IdentityProvider.objects.exists()


def test_test_discovery_reports_what_it_found(client, bob, acme, idp):
    provider = IdentityProviderFactory(
        tenant=acme,
        kind="ping",
        issuer=idp.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    client.force_login(bob)
    response = client.post(
        reverse("admin:identity_identityprovider_changelist"),
        {"action": "test_discovery", "_selected_action": [provider.pk]},
    )
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "Discovery works" in text and idp.active_key.kid in text
    provider.refresh_from_db()
    assert provider.discovery_ok


def test_test_discovery_reports_exactly_what_failed(client, bob, acme, idp):
    idp.discovery_overrides = {"issuer": "https://someone-else.example"}
    provider = IdentityProviderFactory(tenant=acme, kind="ping", issuer=idp.issuer)
    client.force_login(bob)
    response = client.post(
        reverse("admin:identity_identityprovider_changelist"),
        {"action": "test_discovery", "_selected_action": [provider.pk]},
    )
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "failed" in text and "https://someone-else.example" in text


def test_the_form_says_which_claim_carries_the_e_mail(client, bob, acme):
    idp = IdentityProviderFactory(tenant=acme, email_claim="upn")
    client.force_login(bob)
    page = client.get(change_url(idp)).content.decode()
    assert "The &#x27;upn&#x27; claim of the ID token" in page
    assert "else &#x27;preferred_username&#x27; when it is absent" in page


def test_each_kinds_fields_show_only_when_that_kind_is_chosen(client, bob):
    client.force_login(bob)
    page = client.get(ADD_URL).content.decode()
    assert 'x-show="kind == &#x27;entra&#x27;"' in page
    assert 'x-show="kind == &#x27;okta&#x27;"' in page
    assert 'x-show="kind == &#x27;oidc&#x27;"' in page
    assert page.count('name="client_secret"') == 1


def test_a_typed_secret_survives_a_validation_error_without_being_shown(client, bob, acme):
    client.force_login(bob)
    page = client.post(
        ADD_URL, form_data(acme, client_secret="typed-once-only", entra_tenant_id="")
    ).content.decode()
    assert "typed-once-only" not in page
    assert "kept (encrypted) until you save" in page
    kept = page.split('name="kept_secret" value="', 1)[1].split('"', 1)[0]
    response = client.post(ADD_URL, form_data(acme, kept_secret=kept))
    assert response.status_code == 302
    assert IdentityProvider.objects.get(name="Corp Entra").client_secret == "typed-once-only"


def test_a_forged_kept_secret_is_no_secret(client, bob, acme):
    client.force_login(bob)
    page = client.post(ADD_URL, form_data(acme, kept_secret="not-a-token")).content.decode()
    assert "Enter the client secret" in page
    assert not IdentityProvider.objects.exists()


def test_the_ping_help_keeps_its_angle_brackets(client, bob):
    client.force_login(bob)
    page = client.get(ADD_URL).content.decode()
    assert "&lt;PingOne host&gt;/&lt;ID&gt;/as" in page


def test_save_and_test_discovery_saves_then_ticks_the_provider(client, bob, acme, idp):
    from identity.admin import TEST_DISCOVERY_BUTTON

    provider = IdentityProviderFactory(
        tenant=acme,
        kind="ping",
        issuer=idp.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    client.force_login(bob)
    data = form_data(acme, name="Renamed", kind="ping", client_id=CLIENT_ID, issuer=idp.issuer)
    data.update({"entra_tenant_id": "", TEST_DISCOVERY_BUTTON: "1"})
    response = client.post(change_url(provider), data, follow=True)
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    provider.refresh_from_db()
    assert provider.name == "Renamed" and provider.discovery_ok
    assert "Discovery works" in response.content.decode() or "Discovery works" in text
