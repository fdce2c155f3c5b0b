"""The IdP round trip is bound to the IdP the state was issued for (issue 15, #10).

A mix-up attack (RFC 9207) gets the browser back to our callback with a response another
IdP produced; the code and PKCE verifier must then go nowhere.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from onboarding.models import DeviceAuthorization, OnboardingEvent
from tests.onboarding.conftest import _oidc_provider, confirm, idp_redirect, local_path

pytestmark = pytest.mark.django_db


def _to_callback(client, device):
    """The user's journey up to the IdP's redirect back; returns the callback URL."""
    started = device.authorize().json()
    client.get(local_path(started["verification_uri_complete"]))
    to_idp = confirm(client, started["user_code"])
    return idp_redirect(to_idp["Location"])


def _with_iss(url, iss):
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "iss"]
    if iss is not None:
        query.append(("iss", iss))
    return parts.path + "?" + urlencode(query)


def test_a_response_naming_another_issuer_is_never_redeemed(
    client, device, acme_route, idp, globex_idp
):
    callback = _to_callback(client, device)
    page = client.get(_with_iss(callback, globex_idp.issuer))
    assert page.status_code == 400
    assert idp.token_requests == [] and globex_idp.token_requests == []
    assert DeviceAuthorization.objects.get().state == "denied"
    event = OnboardingEvent.objects.get(action="sign_in")
    assert "RFC 9207" in event.detail


def test_an_idp_advertising_iss_must_send_it(client, device, acme_route, idp):
    idp.discovery_overrides = {"authorization_response_iss_parameter_supported": True}
    callback = _to_callback(client, device)
    page = client.get(_with_iss(callback, None))
    assert page.status_code == 400
    assert idp.token_requests == []


def test_the_right_iss_signs_the_user_in(client, device, acme_route, idp):
    idp.discovery_overrides = {"authorization_response_iss_parameter_supported": True}
    idp.send_response_iss = True
    callback = _to_callback(client, device)
    assert "iss=" in callback
    assert client.get(local_path(callback)).status_code == 200
    assert DeviceAuthorization.objects.get().state == "approved"


def test_the_code_goes_to_the_idp_the_state_was_issued_for(
    client, device, acme, acme_route, idp, globex_idp
):
    callback = _to_callback(client, device)
    # Between the redirect and the callback, the route is switched to another IdP.
    acme_route.identity_provider = _oidc_provider(acme, globex_idp, "Other IdP")
    acme_route.save()
    page = client.get(local_path(callback))
    assert len(idp.token_requests) == 1 and globex_idp.token_requests == []
    assert page.status_code == 400  # the signed-in user no longer routes through that IdP
    assert DeviceAuthorization.objects.get().state == "denied"
