"""IdP outages, key rotation and a wrong FIELD_ENCRYPTION_KEY (issue 11, items 7, 8, 9)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from onboarding.models import DeviceAuthorization, OnboardingEvent
from tests.onboarding.conftest import LOOKUP, post_json, sign_in

pytestmark = pytest.mark.django_db


# --- 7. An IdP outage during lookup is "later", not "invalid" ------------------------


def test_a_lookup_while_the_idp_is_down_is_503_not_invalid_token(client, acme_route, idp):
    idp.down = True  # nothing cached: discovery and keys cannot be fetched
    response = post_json(client, LOOKUP, {"id_token": idp.id_token()})
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["error"] == "temporarily_unavailable"
    event = OnboardingEvent.objects.get()
    assert (event.result, event.reason) == ("failure", "idp_unavailable")

    idp.down = False
    cache.clear()  # the failed discovery is remembered for a few seconds
    assert post_json(client, LOOKUP, {"id_token": idp.id_token()}).status_code == 200


def test_a_forged_token_is_still_401_while_the_idp_is_up(client, acme_route, idp):
    token = idp.id_token(aud=idp.client_id)
    forged = token[: token.rindex(".") + 1] + "A" * 40
    assert post_json(client, LOOKUP, {"id_token": forged}).status_code == 401


def test_a_token_failing_at_a_reachable_idp_is_401_even_when_cached_keys_serve(
    client, acme_route, idp
):
    assert post_json(client, LOOKUP, {"id_token": idp.id_token()}).status_code == 200
    idp.down = True  # the warm keys are used; an expired token is the token's fault
    expired = idp.id_token(exp=int(timezone.now().timestamp()) - 3600)
    assert post_json(client, LOOKUP, {"id_token": expired}).status_code == 401


# --- 8. Key rotation within a minute of the last JWKS refresh --------------------------


def test_a_rotation_right_after_a_refresh_does_not_deny_a_sign_in(client, device, acme_route, idp):
    # A lookup warms the keys (one JWKS fetch), then the IdP rotates at once.
    assert post_json(client, LOOKUP, {"id_token": idp.id_token()}).status_code == 200
    assert idp.jwks_fetches == 1
    idp.rotate_key()
    device.authorize()
    page = sign_in(client, device)
    assert page.status_code == 200, page.content  # our own token request: one forced refresh
    assert idp.jwks_fetches == 2
    DeviceAuthorization.objects.update(last_polled_at=timezone.now() - dt.timedelta(seconds=10))
    assert device.poll().status_code == 200


def test_device_presented_tokens_with_unknown_kids_still_cannot_force_refreshes(
    client, acme_route, idp
):
    assert post_json(client, LOOKUP, {"id_token": idp.id_token()}).status_code == 200
    idp.rotate_key()
    for _ in range(5):
        response = post_json(client, LOOKUP, {"id_token": idp.id_token()})
        assert response.status_code == 401
    assert idp.jwks_fetches == 1  # the once-a-minute limit holds for tokens we did not fetch


# --- 9. A wrong FIELD_ENCRYPTION_KEY -------------------------------------------------------


@pytest.fixture
def restored_with_another_key(settings, acme_route):
    """The IdP secret was stored under one key; the service now runs with another."""
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    return acme_route


def test_a_wrong_key_breaks_only_the_token_request(client, device, idp, restored_with_another_key):
    assert device.authorize().status_code == 200
    assert post_json(client, LOOKUP, {"id_token": idp.id_token()}).status_code == 200
    page = sign_in(client, device)
    assert page.status_code == 400  # "could not be reached; try again", never a 500
    assert b"Try again" in page.content
    assert idp.token_requests == []  # the ciphertext never went to the IdP
    event = OnboardingEvent.objects.filter(action="sign_in").latest("created_at")
    assert event.reason == "idp_unavailable"
    assert "FIELD_ENCRYPTION_KEY" in event.detail


def test_the_system_check_names_the_secret_and_the_missing_key(restored_with_another_key):
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", databases=["default"])
    message = str(raised.value)
    assert "identity.E004" in message
    assert "Acme IdP" in message and "FIELD_ENCRYPTION_KEY" in message


def test_the_system_check_passes_with_the_right_key(acme_route):
    call_command("check", databases=["default"])


def test_keeping_the_old_key_after_the_new_one_decrypts_again(
    settings, client, device, idp, acme_route
):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    device.authorize()
    assert sign_in(client, device).status_code == 200
