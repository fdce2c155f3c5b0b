"""Fixtures of the device-flow tests: Acme and Globex each with a real IdP on loopback.

``acme_route``: alice@acme.example is mapped as a user, acme.example as a domain; the
route's IdP is ``idp`` (tests/idp_server.py). ``globex_route``: globex.example with its
own IdP server ``globex_idp``. :class:`Device` drives the API like an IGEL OS device,
:func:`sign_in` drives the verification page and the IdP like a user's browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.core.cache import cache

from identity.models import IdPKind
from onboarding.models import DeviceAuthorization
from tests import factories
from tests.idp_server import IdPServer, loopback_settings

AUTHORIZE = "/api/v1/device/authorize"
TOKEN = "/api/v1/device/token"
LOOKUP = "/api/v1/onboarding/lookup"
GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def idp(settings: Any):
    with IdPServer(issuer_path="/acme") as server:
        loopback_settings(settings, server)
        server.add_user("alice@acme.example", sub="alice-sub")
        yield server


@pytest.fixture
def globex_idp(idp: IdPServer):
    with IdPServer(issuer_path="/globex", client_id="globex-client") as server:
        server.add_user("gina@globex.example", sub="gina-sub")
        yield server


def _oidc_provider(tenant: Any, server: IdPServer, name: str) -> Any:
    return factories.IdentityProviderFactory(
        tenant=tenant,
        name=name,
        kind=IdPKind.OIDC,
        issuer=server.issuer,
        client_id=server.client_id,
        client_secret=server.client_secret,
    )


@pytest.fixture
def acme_route(acme: Any, idp: IdPServer):
    route = factories.RouteFactory(
        tenant=acme,
        display_name="Berlin UMS",
        ums_hostname="UMS01.Acme.example",
        identity_provider=_oidc_provider(acme, idp, "Acme IdP"),
    )
    factories.MappedUserFactory(route=route, email="alice@acme.example")
    factories.MappedDomainFactory(route=route, domain="acme.example")
    return route


@pytest.fixture
def globex_route(globex: Any, globex_idp: IdPServer):
    route = factories.RouteFactory(
        tenant=globex,
        display_name="Globex UMS",
        ums_hostname="ums.globex.example",
        identity_provider=_oidc_provider(globex, globex_idp, "Globex IdP"),
    )
    factories.MappedDomainFactory(route=route, domain="globex.example")
    return route


def update_authorization(**fields: Any) -> None:
    """Change device authorizations behind the services' back (a test's time travel).

    The services mark the shared cache whenever a code leaves ``pending`` (and the cache
    entry carries the code's own expiry); a direct UPDATE does neither, so the cached
    poll state is forgotten as an eviction would, and the next poll reads the database.
    """
    DeviceAuthorization.objects.update(**fields)
    for code_hash in DeviceAuthorization.objects.values_list("device_code_hash", flat=True):
        cache.delete(f"poll:{code_hash}")  # the key of onboarding.pollstate (rate limits stay)


def post_json(client: Any, path: str, body: Any, **extra: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json", **extra)


@dataclass
class Device:
    """An IGEL OS device talking to the API through the Django test client."""

    client: Any
    started: dict[str, Any] | None = None

    def authorize(self, email: str = "alice@acme.example", **body: Any) -> Any:
        response = post_json(self.client, AUTHORIZE, {"email": email, **body})
        if response.status_code == 200:
            self.started = response.json()
        return response

    @property
    def device_code(self) -> str:
        assert self.started is not None
        return self.started["device_code"]

    def poll(self, device_code: str | None = None) -> Any:
        return post_json(
            self.client,
            TOKEN,
            {"grant_type": GRANT, "device_code": device_code or self.device_code},
        )


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def confirm(browser: Any, user_code: str, decision: str = "approve") -> Any:
    return browser.post("/device/confirm", {"user_code": user_code, "decision": decision})


def idp_redirect(url: str) -> str:
    """Follow the browser to the IdP, which signs the user in and redirects back."""
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def sign_in(browser: Any, device: Device) -> Any:
    """The user's whole browser journey; returns the callback page."""
    assert device.started is not None
    page = browser.get(local_path(device.started["verification_uri_complete"]))
    assert page.status_code == 200, page.content
    to_idp = confirm(browser, device.started["user_code"])
    assert to_idp.status_code == 302, to_idp.content
    callback = idp_redirect(to_idp["Location"])
    return browser.get(local_path(callback))


@pytest.fixture
def device(client: Any) -> Device:
    return Device(client)
