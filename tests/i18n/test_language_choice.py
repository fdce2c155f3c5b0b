"""The language comes from the visitor: their choice (a cookie), else their browser.

Device pages follow the browser of the person holding the device, whatever language the
company's admin uses; every page a person reads offers the switch; the device API's
error codes stay English in any language.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from tenants import invitations
from tests import factories
from tests.onboarding.conftest import AUTHORIZE, GRANT, TOKEN, post_json

pytestmark = pytest.mark.django_db

SWITCH = 'action="/i18n/setlang/"'
ENTRY_EN = "Connect your IGEL OS device"
ENTRY_DE = "Verbinden Sie Ihr IGEL OS-Gerät"


@pytest.mark.parametrize("header", ["de", "de-DE,de;q=0.9,en;q=0.8", "de-AT"])
def test_a_german_browser_gets_the_device_page_in_german(client, header):
    response = client.get("/device", HTTP_ACCEPT_LANGUAGE=header)

    page = response.content.decode()
    assert ENTRY_DE in page and ENTRY_EN not in page
    assert '<html lang="de">' in page
    assert response["Content-Language"] == "de"


@pytest.mark.parametrize("header", [None, "en-GB,en;q=0.9", "fr-FR,fr;q=0.9"])
def test_any_other_browser_gets_english(client, header):
    extra = {"HTTP_ACCEPT_LANGUAGE": header} if header else {}
    page = client.get("/device", **extra).content.decode()
    assert ENTRY_EN in page and '<html lang="en">' in page


def test_the_switch_is_remembered_for_a_year_and_beats_the_browser(client):
    response = client.post("/i18n/setlang/", {"language": "de", "next": "/device"})

    assert response.status_code == 302 and response["Location"] == "/device"
    cookie = client.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "de"
    assert int(cookie["max-age"]) == 365 * 24 * 3600
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    # A later visit, even from a browser that asks for English, stays German.
    assert ENTRY_DE in client.get("/device", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    client.post("/i18n/setlang/", {"language": "en", "next": "/device"})
    assert ENTRY_EN in client.get("/device", HTTP_ACCEPT_LANGUAGE="de").content.decode()


def test_an_unknown_language_is_not_remembered(client):
    client.post("/i18n/setlang/", {"language": "xx", "next": "/device"})
    assert settings.LANGUAGE_COOKIE_NAME not in client.cookies


def test_device_pages_follow_the_users_browser_not_the_admins_choice(client, acme, alice):
    admin_browser = client
    admin_browser.force_login(alice)
    admin_browser.post("/i18n/setlang/", {"language": "de", "next": "/admin/"})
    assert "Erste Schritte" in admin_browser.get("/admin/").content.decode()

    users_browser = client.__class__()
    page = users_browser.get("/device", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert ENTRY_EN in page


def test_every_page_a_person_reads_offers_the_switch(client, acme, alice, acme_route):
    code = post_json(client, AUTHORIZE, {"email": "alice@acme.example"}).json()["user_code"]
    membership = factories.MembershipFactory(tenant=acme, user=None, email="new@acme.example")
    _invitation, url = invitations.invitation_create(membership=membership)
    anonymous = ["/device", f"/device?user_code={code}", "/admin/login/", _path(url)]
    for path in anonymous:
        assert SWITCH in client.get(path).content.decode(), path

    client.force_login(alice)
    for name in ("admin:index", "admin:domains_companydomain_changelist"):
        # Unfold's own switch, in the user menu.
        assert SWITCH in client.get(reverse(name)).content.decode(), name


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_the_device_api_answers_the_same_codes_and_numbers_in_any_language(client, acme_route):
    answers = {}
    for language in ("en", "de"):
        started = post_json(
            client, AUTHORIZE, {"email": "alice@acme.example"}, HTTP_ACCEPT_LANGUAGE=language
        )
        refused = post_json(
            client,
            TOKEN,
            {"grant_type": GRANT, "device_code": "no-such-code"},
            HTTP_ACCEPT_LANGUAGE=language,
        )
        answers[language] = (
            started.status_code,
            started.json()["expires_in"],
            started.json()["interval"],
            refused.status_code,
            refused.json()["error"],
        )

    assert answers["de"] == answers["en"]
    assert answers["de"][1] == settings.DEVICE_CODE_EXPIRES_IN  # a JSON number, not "600"
