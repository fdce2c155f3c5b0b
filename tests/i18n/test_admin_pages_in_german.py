"""The admin of the vendor guide's walk is German for a German admin (issue 14).

Routes (list, add, change, a chain refused on the form, Test connection, the routing
preview), onboarding events, the import page and a job's page, identity providers (with
a refused form and Test discovery), certificate chains (with a refused upload). Each
page is rendered in English and in German, as in test_pages_in_german.py; what the
checks say (problems, probe results) is said in German there too.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from onboarding.import_jobs import CANCELLED_BY
from onboarding.models import ImportJob, ImportJobState
from tests import factories, pki
from tests.i18n.conftest import admin_pages_in_both, untranslated, visible_text
from tests.idp_server import CLIENT_ID, CLIENT_SECRET
from tests.tls_server import tls_server

pytestmark = pytest.mark.django_db

#: Names the fixtures below give things, the same in both languages, and the words of
#: the IdPs' own (English) consoles that the help on registering an app quotes.
DATA = {
    "Acme IdP",
    "Acme IdP (Ping Identity)",
    "Berlin chain",
    "O=Example,CN=Example Root CA",
    "O=Example,CN=Example Intermediate CA 1",
    "O=Example,CN=Acme Root",
    "O=Example,CN=Acme Issuing CA",
    "In Entra ID:",
    "In Okta:",
    "Applications › Add › OIDC Web App",
    "Applications › Create App Integration › OIDC – Web Application",
    "Authorization Code",
    "Client Secret Basic",
    "openid profile email",
}


def _pem(chain: Any) -> set[str]:
    """The chain's PEM as the page shows it (one text run), the same in both languages."""
    return {" ".join(chain.pem.split())}


@pytest.fixture
def berlin(acme: Any) -> Any:
    """A route with a mapped user and domain, its IdP and chain (tests/factories.py)."""
    route = factories.RouteFactory(
        tenant=acme,
        display_name="Berlin UMS",
        identity_provider=factories.IdentityProviderFactory(tenant=acme, name="Acme IdP"),
        certificate_chain=factories.CertificateChainFactory(tenant=acme, name="Berlin chain"),
    )
    factories.MappedUserFactory(route=route, email="alice@acme.example")
    factories.MappedDomainFactory(route=route, domain="acme.example")
    return route


def _posted_in_both(client: Any, path: str, data: Any, **extra: Any) -> tuple[str, str]:
    """``data`` posted to ``path`` by an English and by a German browser (files reopened)."""
    pages = []
    for language in ("en", "de"):
        response = client.post(
            path, data() if callable(data) else data, HTTP_ACCEPT_LANGUAGE=language, **extra
        )
        pages.append(response.content.decode())
    return pages[0], pages[1]


@pytest.mark.parametrize(
    "path",
    [
        "admin:onboarding_route_changelist",
        "admin:onboarding_route_add",
        "admin:onboarding_route_import",
        "admin:onboarding_onboardingevent_changelist",
        "admin:onboarding_mappeduser_changelist",
        "admin:onboarding_mappeddomain_changelist",
        "admin:identity_identityprovider_changelist",
        "admin:identity_identityprovider_add",
        "admin:certificates_certificatechain_changelist",
        "admin:certificates_certificatechain_add",
        "admin:certificates_certificate_changelist",
    ],
)
def test_the_lists_and_empty_forms_of_the_guide(client, bob, berlin, path):
    factories.OnboardingEventFactory(tenant=berlin.tenant, reason="domain_unverified")
    assert untranslated(admin_pages_in_both(client, bob, reverse(path)), DATA) == []


def test_a_route_with_its_mappings_and_pinned_certificates(client, bob, berlin):
    pages = admin_pages_in_both(
        client, bob, reverse("admin:onboarding_route_change", args=[berlin.pk])
    )

    assert "Zugeordnete Benutzer" in pages[1] and "Anmeldung und Vertrauen" in pages[1]
    assert untranslated(pages, DATA) == []


def test_an_onboarding_event_with_its_reason(client, bob, acme):
    event = factories.OnboardingEventFactory(tenant=acme, reason="idp_unavailable")
    pages = admin_pages_in_both(
        client, bob, reverse("admin:onboarding_onboardingevent_change", args=[event.pk])
    )

    assert "Der Identitätsanbieter war nicht erreichbar" in pages[1]
    assert untranslated(pages) == []


def test_a_refused_chain_on_the_route_form_is_explained_in_german(client, bob, acme):
    idp = factories.IdentityProviderFactory(tenant=acme, name="Acme IdP")
    key = pki.rsa_key_pem(pki.rsa_key()).encode()
    client.force_login(bob)

    def form() -> dict[str, Any]:
        return {
            "tenant": acme.pk,
            "display_name": "Berlin UMS",
            "ums_hostname": "ums.acme.example",
            "ums_port": 8443,
            "target": "ums",
            "identity_provider": idp.pk,
            "enabled": "on",
            "certificate_file": SimpleUploadedFile("berlin.pem", key),
            "mapped_users-TOTAL_FORMS": 0,
            "mapped_users-INITIAL_FORMS": 0,
            "mapped_domains-TOTAL_FORMS": 0,
            "mapped_domains-INITIAL_FORMS": 0,
        }

    pages = _posted_in_both(client, reverse("admin:onboarding_route_add"), form)

    assert "Block 1 is a private key" in pages[0]
    assert "Block 1 ist ein privater Schlüssel" in pages[1]
    assert untranslated(pages, DATA) == []


def test_test_connection_says_its_findings_in_german(client, bob, acme, settings, tmp_path):
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    root, inter = pki.chain(intermediates=1)
    stranger = pki.issue("127.0.0.1", issuer=pki.issue("Other Root"), ca=False, san=["127.0.0.1"])
    chain = factories.CertificateChainFactory(
        tenant=acme, name="Berlin chain", issued=[root, inter]
    )
    client.force_login(bob)
    with tls_server(tmp_path, [stranger]) as port:
        route = factories.RouteFactory(
            tenant=acme,
            display_name="Berlin UMS",
            certificate_chain=chain,
            ums_hostname="127.0.0.1",
            ums_port=port,
        )
        pages = _posted_in_both(
            client,
            reverse("admin:onboarding_route_changelist"),
            {"action": "test_connection", "_selected_action": [route.pk]},
            follow=True,
        )

    assert "Von der hochgeladenen Kette vertraut" in pages[1]
    assert "Geräte würden sich nicht verbinden" in pages[1]
    assert untranslated(pages, DATA) == []


def test_the_routing_preview_gives_its_reason_in_german(client, bob, berlin):
    pages = admin_pages_in_both(
        client, bob, reverse("admin:onboarding_route_preview") + "?email=eve@elsewhere.example"
    )

    assert "Keine Route Ihres Firmenkontos bedient diese Adresse." in pages[1]
    assert untranslated(pages, DATA) == []


def test_an_import_job_says_what_became_of_it_in_german(client, bob, acme):
    job = ImportJob.objects.create(
        tenant=acme,
        created_by=bob,
        file_name="routes.json",
        format="json",
        state=ImportJobState.CANCELLED,
        # Stored in English by whoever cancelled it; said in the reader's language.
        message=CANCELLED_BY.format(actor="bob"),
    )
    pages = admin_pages_in_both(
        client, bob, reverse("admin:onboarding_route_import_job", args=[job.pk])
    )

    assert "Abgebrochen von bob; es wurde nichts geschrieben." in pages[1]
    assert untranslated(pages, {"routes.json"}) == []


def _discovery_tested_in_both(client: Any, provider: Any) -> tuple[str, str]:
    """The provider list after "Test discovery", with its result, in both languages."""
    return _posted_in_both(
        client,
        reverse("admin:identity_identityprovider_changelist"),
        {"action": "test_discovery", "_selected_action": [provider.pk]},
        follow=True,
    )


def test_an_identity_provider_and_its_discovery_test(client, bob, acme, idp):
    provider = factories.IdentityProviderFactory(
        tenant=acme,
        name="Acme IdP",
        kind="ping",
        issuer=idp.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    client.force_login(bob)

    tested = _discovery_tested_in_both(client, provider)
    page = admin_pages_in_both(
        client, bob, reverse("admin:identity_identityprovider_change", args=[provider.pk])
    )

    assert "Discovery funktioniert" in tested[1] and "Token-Endpunkt" in tested[1]
    assert untranslated(tested, DATA) == []
    assert "Der letzte Test war erfolgreich" in page[1]
    assert untranslated(page, DATA) == []


def test_a_failed_discovery_test_says_why_in_german(client, bob, acme, idp):
    idp.discovery_overrides = {"issuer": "https://someone-else.example"}
    provider = factories.IdentityProviderFactory(
        tenant=acme, name="Acme IdP", kind="ping", issuer=idp.issuer
    )
    client.force_login(bob)

    pages = _discovery_tested_in_both(client, provider)

    assert "Discovery fehlgeschlagen" in pages[1] and "nennt den Aussteller" in pages[1]
    assert untranslated(pages, DATA) == []


def test_an_identity_provider_form_refused_for_its_kind(client, bob, acme):
    client.force_login(bob)
    form = {
        "tenant": acme.pk,
        "name": "Acme IdP",
        "kind": "entra",
        "client_id": "app-id",
        "client_secret": "s3cret",
        "scopes": "profile email",
        "email_claim": "email",
        "entra_tenant_id": "common",
    }

    pages = _posted_in_both(client, reverse("admin:identity_identityprovider_add"), form)

    german = " ".join(visible_text(pages[1]))
    assert "'common' ist ein Alias für mehrere Mandanten" in german
    assert "Die Scopes müssen 'openid' enthalten." in german
    assert untranslated(pages, DATA) == []


def test_a_certificate_chain_with_its_certificates(client, bob, acme):
    root = pki.issue("Acme Root", days=10)  # expires soon: a warning beside it
    chain = factories.CertificateChainFactory(tenant=acme, name="Berlin chain", issued=[root])
    pages = admin_pages_in_both(
        client, bob, reverse("admin:certificates_certificatechain_change", args=[chain.pk])
    )

    assert "Stammzertifikat" in pages[1] and "Warnung" in pages[1]
    assert untranslated(pages, DATA | _pem(chain)) == []


def test_a_refused_chain_upload_is_explained_in_german(client, bob, acme):
    client.force_login(bob)

    def form() -> dict[str, Any]:
        unlinked = pki.issue("Acme Issuing CA", issuer=pki.issue("Acme Root"))
        return {
            "tenant": acme.pk,
            "name": "Berlin chain",
            "target": "ums",
            "upload": SimpleUploadedFile("chain.pem", pki.pem_bundle([unlinked]).encode()),
        }

    pages = _posted_in_both(client, reverse("admin:certificates_certificatechain_add"), form)

    assert "ist von O=Example,CN=Acme Root ausgestellt, das nicht in der Datei ist" in pages[1]
    assert untranslated(pages, DATA) == []


def test_a_chain_in_use_says_why_it_is_kept(client, bob, berlin):
    pages = admin_pages_in_both(
        client,
        bob,
        reverse("admin:certificates_certificatechain_delete", args=[berlin.certificate_chain.pk]),
    )

    assert "Routen verwenden sie noch" in pages[1]
    assert untranslated(pages, DATA) == []
