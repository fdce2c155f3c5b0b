"""Every sentence a person reads is German when their browser asks for German (issue 14).

Each page is rendered twice, in English and in German; a phrase of the English page that
the German page shows unchanged is a string nobody marked for translation (or marked and
left untranslated). Names of products and the test's own data are the same in both.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation

from common.views import permission_denied
from onboarding.api import UNKNOWN_DEVICE_CODE
from operations.outages import unavailable
from tenants import invitations
from tests import factories
from tests.i18n.conftest import admin_pages_in_both, pages_in_both, untranslated
from tests.onboarding.conftest import (
    AUTHORIZE,
    GRANT,
    TOKEN,
    Device,
    confirm,
    post_json,
    sign_in,
)

pytestmark = pytest.mark.django_db


def test_the_device_entry_page(client):
    assert untranslated(pages_in_both(client, "/device")) == []


def test_the_device_confirmation_page_with_the_address_warning(client, acme_route):
    started = post_json(
        client,
        AUTHORIZE,
        {"email": "alice@acme.example", "device": {"hostname": "ws-7", "model": "UD7"}},
        REMOTE_ADDR="198.51.100.66",
    )
    code = started.json()["user_code"]

    pages = pages_in_both(client, f"/device?user_code={code}", REMOTE_ADDR="203.0.113.7")

    assert 'id="address-warning"' in pages[1] and "Ist das Ihr Gerät?" in pages[1]
    assert untranslated(pages) == []


def test_the_sign_in_page(client):
    assert untranslated(pages_in_both(client, "/admin/login/")) == []


def test_the_sign_in_lock_out_page(client, alice, settings):
    pages = []
    for language in ("en", "de"):
        for n in range(settings.AXES_FAILURE_LIMIT + 1):
            locked = client.post(
                "/admin/login/",
                {"username": "alice", "password": f"wrong-{n}"},
                REMOTE_ADDR=f"203.0.113.{len(pages) + 1}",
                HTTP_ACCEPT_LANGUAGE=language,
            )
        assert locked.status_code == 429
        pages.append(locked.content.decode())

    assert "Anmeldung gesperrt" in pages[1]
    assert untranslated((pages[0], pages[1]), {"manage.py axes_reset_username alice"}) == []


def test_the_error_page(rf: RequestFactory, alice):
    def render(language: str) -> str:
        request = rf.get("/admin/somewhere/")
        request.user = alice
        with translation.override(language):
            return permission_denied(request).content.decode()

    assert untranslated((render("en"), render("de"))) == []


def test_the_outage_page(rf: RequestFactory):
    def render(language: str) -> str:
        with translation.override(language):
            return unavailable(rf.get("/device"), "database", None).content.decode()

    german = render("de")
    assert '<html lang="de">' in german
    assert untranslated((render("en"), german)) == []


def test_the_invitation_page(client, acme):
    membership = factories.MembershipFactory(tenant=acme, user=None, email="new@acme.example")
    _invitation, url = invitations.invitation_create(membership=membership)

    pages = pages_in_both(client, "/" + url.split("/", 3)[3])

    assert "Wählen Sie Ihr Passwort" in pages[1]
    assert untranslated(pages) == []


def test_the_whole_home_page_is_german(client, acme, alice):
    # The checklist, the sidebar, the chart and a failure reason (onboarding.dashboard).
    factories.OnboardingEventFactory(tenant=acme, result="failure", reason="not_mapped")
    pages = admin_pages_in_both(client, alice, reverse("admin:index"))

    assert "Erste Schritte mit Acme Corp" in pages[1]
    assert "Die E-Mail-Adresse ist keiner Route zugeordnet" in pages[1]
    assert untranslated(pages) == []


@pytest.mark.parametrize(
    "path",
    [
        "admin:domains_companydomain_changelist",
        "admin:domains_companydomain_add",
        "admin:tenants_membership_changelist",
        "admin:tenants_membership_add",
        "admin:tenants_tenant_changelist",
    ],
)
def test_the_company_domain_and_member_pages(client, acme, alice, path):
    factories.CompanyDomainFactory(tenant=acme, domain="acme.example")
    assert untranslated(admin_pages_in_both(client, alice, reverse(path))) == []


def test_a_company_domain_with_its_record_to_publish(client, acme, alice):
    claim = factories.CompanyDomainFactory(tenant=acme, domain="acme.example")
    pages = admin_pages_in_both(
        client, alice, reverse("admin:domains_companydomain_change", args=[claim.pk])
    )
    assert "Jetzt verifizieren" in pages[1]
    assert untranslated(pages) == []


# --- The device pages' answers and the device API ---------------------------------------


def _signed_in_pages(client: Any, decision: str) -> tuple[str, str]:
    """The page a user reaches after confirming (or denying) a device, in both languages."""
    pages = []
    for language in ("en", "de"):
        browser = Client(HTTP_ACCEPT_LANGUAGE=language)
        device = Device(client)
        assert device.authorize().status_code == 200
        if decision == "approve":
            page = sign_in(browser, device)
        else:
            page = confirm(browser, device.started["user_code"], decision)
        pages.append(page.content.decode())
    return pages[0], pages[1]


def test_the_result_page_of_a_connected_device(client, acme_route):
    pages = _signed_in_pages(client, "approve")

    assert "Ihr Gerät wird verbunden" in pages[1]
    assert untranslated(pages) == []


def test_the_result_page_of_a_device_the_user_says_is_not_theirs(client, acme_route):
    pages = _signed_in_pages(client, "deny")

    assert "Onboarding abgebrochen" in pages[1]
    assert untranslated(pages) == []


def test_a_wrong_code_is_explained_in_german(client):
    pages = pages_in_both(client, "/device?user_code=BCDF-GHJK")

    assert "Dieser Code ist ungültig oder abgelaufen." in pages[1]
    assert untranslated(pages) == []


def test_an_unknown_sign_in_answer_is_explained_in_german(client):
    pages = pages_in_both(client, "/oidc/callback/?state=unknown&code=anything")

    assert "Dieser Anmeldelink ist ungültig" in pages[1]
    assert untranslated(pages) == []


def test_the_api_describes_its_errors_in_the_language_asked_for(client):
    def poll(language: str) -> Any:
        body = {"grant_type": GRANT, "device_code": "not-a-known-code"}
        return post_json(client, TOKEN, body, HTTP_ACCEPT_LANGUAGE=language).json()

    english, german = poll("en"), poll("de")

    assert english == {"error": "invalid_grant", "error_description": UNKNOWN_DEVICE_CODE}
    assert german == {
        "error": "invalid_grant",  # codes are the protocol's: English in every language
        "error_description": "Der Gerätecode ist nicht bekannt.",
    }


def test_a_description_with_a_value_is_german_too(client):
    answer = client.get(TOKEN, HTTP_ACCEPT_LANGUAGE="de").json()

    assert answer == {
        "error": "invalid_request",
        "error_description": "Dieser Endpunkt akzeptiert nur POST.",
    }


def test_the_openapi_document_stays_english(client):
    english = client.get("/api/v1/schema/", HTTP_ACCEPT_LANGUAGE="en")
    german = client.get("/api/v1/schema/", HTTP_ACCEPT_LANGUAGE="de")

    assert german.content == english.content
    assert german["Content-Language"] == "en"
