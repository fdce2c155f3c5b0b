"""The whole onboarding against a real OpenID provider on loopback."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from onboarding.models import DeviceAuthorization, OnboardingEvent
from tests.onboarding.conftest import (
    confirm,
    idp_redirect,
    local_path,
    sign_in,
    update_authorization,
)

pytestmark = pytest.mark.django_db


def test_a_device_is_onboarded_end_to_end(client, device, acme_route, idp):
    started = device.authorize(
        structure_tag="berlin/floor-2",
        device={"hostname": "ws-0042", "serial": "SN42", "model": "UD3", "os_version": "12.5.1"},
    ).json()
    assert device.poll().json()["error"] == "authorization_pending"

    page = client.get(local_path(started["verification_uri_complete"]))
    assert b"ws-0042" in page.content and b"Acme Corp" in page.content
    to_idp = confirm(client, started["user_code"])
    authorization = idp.authorizations  # what the IdP received
    callback = idp_redirect(to_idp["Location"])
    grant = next(iter(authorization.values()))
    assert grant.login_hint == "alice@acme.example"
    assert grant.code_challenge_method == "S256" and grant.nonce
    result = client.get(local_path(callback))
    assert result.status_code == 200
    assert b"Return to your device" in result.content

    DeviceAuthorization.objects.update(last_polled_at=timezone.now() - dt.timedelta(seconds=10))
    answer = device.poll()
    assert answer.status_code == 200
    chain = acme_route.certificate_chain
    body = answer.json()
    # An RFC 6749 token response around the route; the assertion is tested in test_assertion.
    assert isinstance(body.pop("access_token"), str)
    assert body.pop("token_type") == "Bearer"
    assert body.pop("expires_in") == 600
    assert body == {
        "onboarding": {
            "display_name": "Berlin UMS",
            "ums_hostname": "UMS01.Acme.example",
            "ums_port": 8443,
            "target": "ums",
            "root_certificate_chain": chain.pem,
            "certificate_fingerprints_sha256": [
                c.sha256 for c in chain.certificates.order_by("position")
            ],
            "user": "alice@acme.example",
            "structure_tag": "berlin/floor-2",
        }
    }
    assert chain.pem.startswith("-----BEGIN CERTIFICATE-----")
    assert chain.certificates.get(position=0).self_signed  # root first
    assert answer["Cache-Control"] == "no-store"

    actions = list(OnboardingEvent.objects.order_by("created_at").values_list("action", "result"))
    assert actions == [("authorize", "success"), ("sign_in", "success"), ("token", "success")]


def test_a_device_code_is_single_use(client, device, acme_route, idp):
    device.authorize()
    sign_in(client, device)
    assert device.poll().status_code == 200
    DeviceAuthorization.objects.update(last_polled_at=timezone.now() - dt.timedelta(seconds=10))
    again = device.poll()
    assert again.status_code == 400
    assert again.json()["error"] == "expired_token"


def test_the_email_comes_from_userinfo_when_the_id_token_lacks_it(client, device, acme_route, idp):
    idp.id_token_omit = {"email", "preferred_username"}
    device.authorize()
    assert sign_in(client, device).status_code == 200
    DeviceAuthorization.objects.update(last_polled_at=None)
    assert device.poll().json()["onboarding"]["user"] == "alice@acme.example"
    assert idp.requests["/userinfo"] == 1


def test_userinfo_about_another_subject_is_refused(client, device, acme_route, idp):
    idp.id_token_omit = {"email", "preferred_username"}
    idp.userinfo_overrides = {"sub": "someone-else"}
    device.authorize()
    page = sign_in(client, device)
    assert page.status_code == 400
    assert device.poll().json()["error"] == "access_denied"


def test_an_address_the_idp_says_is_unverified_is_denied(client, device, acme_route, idp):
    # node-oidc-provider's code flow: sub only in the ID token; UserInfo says the address
    # is unverified and repeats it as preferred_username (the login).
    idp.id_token_omit = {"email", "preferred_username", "email_verified"}
    idp.users["alice@acme.example"].claims["email_verified"] = False
    device.authorize()
    page = sign_in(client, device)
    assert page.status_code == 400
    assert b"no usable e-mail address" in page.content
    DeviceAuthorization.objects.update(last_polled_at=None)
    assert device.poll().json()["error"] == "access_denied"
    assert idp.requests["/userinfo"] == 1


def test_unverified_email_with_another_address_as_login_is_denied(client, device, acme_route, idp):
    # Issue 15 #11: the IdP says mallory's address is unverified and her chosen login
    # is alice's address; she must not be routed (or onboarded) as alice.
    idp.users.pop("alice@acme.example")
    idp.add_user(
        "mallory@elsewhere.example", email_verified=False, preferred_username="alice@acme.example"
    )
    device.authorize()
    page = sign_in(client, device)
    assert page.status_code == 400
    DeviceAuthorization.objects.update(last_polled_at=None)
    assert device.poll().json()["error"] == "access_denied"


def test_another_user_of_the_same_company_gets_their_own_route(client, device, acme_route, idp):
    idp.add_user("bob@acme.example", sub="bob-sub")
    idp.users.pop("alice@acme.example")  # the IdP signs in its default user, bob
    device.authorize()
    sign_in(client, device)
    DeviceAuthorization.objects.update(last_polled_at=None)
    assert device.poll().json()["onboarding"]["user"] == "bob@acme.example"


def test_an_email_of_another_company_signed_in_at_its_idp_is_denied(
    client, device, acme_route, globex_route, globex_idp
):
    # Gina's device asks for Globex; at Globex's IdP someone signs in as Acme's alice.
    globex_idp.add_user("alice@acme.example", sub="alice-at-globex")
    globex_idp.users.pop("gina@globex.example")
    device.authorize("gina@globex.example")
    page = sign_in(client, device)
    assert page.status_code == 400
    assert b"not registered for onboarding" in page.content
    assert b"Acme" not in page.content
    assert device.poll().json()["error"] == "access_denied"
    event = OnboardingEvent.objects.get(action="sign_in")
    assert (event.reason, event.tenant.slug, event.email) == (
        "other_tenant",
        "globex",
        "alice@acme.example",
    )


def test_an_account_without_a_route_is_told_it_is_not_registered(client, device, acme_route, idp):
    idp.add_user("eve@elsewhere.example", sub="eve-sub")
    idp.users.pop("alice@acme.example")
    device.authorize()
    page = sign_in(client, device)
    assert b"This account is not registered for onboarding" in page.content
    assert device.poll().json()["error"] == "access_denied"
    assert OnboardingEvent.objects.get(action="sign_in").reason == "not_registered"


def test_a_cancelled_sign_in_denies_the_device(client, device, acme_route, idp):
    device.authorize()
    to_idp = confirm(client, device.started["user_code"])
    state = dict(p.split("=", 1) for p in to_idp["Location"].split("?", 1)[1].split("&"))["state"]
    page = client.get("/oidc/callback/", {"error": "access_denied", "state": state})
    assert page.status_code == 400
    assert b"Sign-in was cancelled" in page.content
    assert device.poll().json()["error"] == "access_denied"
    assert OnboardingEvent.objects.get(action="sign_in").reason == "sign_in_cancelled"


def test_a_replayed_callback_is_refused(client, device, acme_route, idp):
    device.authorize()
    to_idp = confirm(client, device.started["user_code"])
    callback = local_path(idp_redirect(to_idp["Location"]))
    assert client.get(callback).status_code == 200
    replay = client.get(callback)
    assert replay.status_code == 400
    assert b"not valid" in replay.content
    assert len(idp.token_requests) == 1  # the replay never reached the IdP


def test_a_callback_after_expiry_is_refused(client, device, acme_route, idp):
    device.authorize()
    to_idp = confirm(client, device.started["user_code"])
    callback = local_path(idp_redirect(to_idp["Location"]))
    update_authorization(expires_at=timezone.now() - dt.timedelta(seconds=1))
    page = client.get(callback)
    assert page.status_code == 400
    assert b"expired" in page.content
    assert idp.token_requests == []
    assert device.poll().json()["error"] == "expired_token"


def test_a_forged_state_is_refused(client, acme_route, idp):
    page = client.get("/oidc/callback/", {"code": "x", "state": "forged"})
    assert page.status_code == 400
    assert OnboardingEvent.objects.get().reason == "state_unknown_or_used"
    assert client.get("/oidc/callback/").status_code == 400


def test_an_unreachable_idp_leaves_the_device_waiting(client, device, acme_route, idp):
    device.authorize()
    to_idp = confirm(client, device.started["user_code"])
    callback = local_path(idp_redirect(to_idp["Location"]))
    idp.down = True
    page = client.get(callback)
    assert page.status_code == 400  # the callback never answers 5xx
    assert b"Try again" in page.content
    assert device.poll().json()["error"] == "authorization_pending"
    idp.down = False
    assert sign_in(client, device).status_code == 200  # the user simply tries again


def test_an_id_token_with_a_wrong_nonce_denies_the_device(client, device, acme_route, idp):
    idp.id_token_overrides = {"nonce": "not-the-one-we-sent"}
    device.authorize()
    assert sign_in(client, device).status_code == 400
    assert device.poll().json()["error"] == "access_denied"
    assert "invalid_nonce" in OnboardingEvent.objects.get(action="sign_in").detail


def test_the_user_can_say_the_device_is_not_theirs(client, device, acme_route, idp):
    device.authorize()
    page = confirm(client, device.started["user_code"], decision="deny")
    assert b"not yours" in page.content
    assert device.poll().json()["error"] == "access_denied"
    assert idp.authorizations == {}


def test_the_confirmation_needs_a_csrf_token(device, acme_route, idp):
    from django.test import Client

    device.authorize()
    strict = Client(enforce_csrf_checks=True)
    assert confirm(strict, device.started["user_code"]).status_code == 403


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch_seconds", [0, 3600], ids=["event-in-transaction", "event-batched"])
def test_a_user_code_drawn_twice_is_drawn_again(acme_route, monkeypatch, settings, batch_seconds):
    """Codes are unique: a collision (1 in 20^8 per live code) is redrawn, not a 500."""
    import secrets

    from onboarding.device_flow import device_authorization_start
    from onboarding.events import flush_events
    from onboarding.models import DeviceAuthorization

    settings.ONBOARDING_EVENT_BATCH_SECONDS = batch_seconds
    first = device_authorization_start(email="alice@acme.example").authorization
    letters = iter(first.user_code + "BBBBBBBB")
    monkeypatch.setattr(secrets, "choice", lambda _alphabet: next(letters))
    second = device_authorization_start(email="alice@acme.example").authorization
    assert (first.user_code, second.user_code) == (first.user_code, "BBBBBBBB")
    assert DeviceAuthorization.objects.filter(pk=second.pk, user_code="BBBBBBBB").exists()
    flush_events()
