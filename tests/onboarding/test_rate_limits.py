"""Rate limits that an attacker cannot turn against someone else (issue 15, #7-#9)."""

from __future__ import annotations

import pytest

from onboarding import ratelimit
from tests.onboarding.conftest import (
    AUTHORIZE,
    GRANT,
    TOKEN,
    Device,
    post_json,
    update_authorization,
)

pytestmark = pytest.mark.django_db

ATTACKER = "192.0.2.66"
VICTIM = "192.0.2.10"


def _authorize(client, email, address):
    return post_json(client, AUTHORIZE, {"email": email}, REMOTE_ADDR=address)


def _poll(client, device_code, address):
    body = {"grant_type": GRANT, "device_code": device_code}
    return post_json(client, TOKEN, body, REMOTE_ADDR=address)


# --- 7: one bucket per address, however it is spelled ------------------------------------


def test_spelling_variants_of_an_email_share_one_bucket(client, acme_route, settings):
    settings.ONBOARDING_RATE_LIMITS = {"authorize_email": (2, 600)}
    assert _authorize(client, "alice@acme.example", ATTACKER).status_code == 200
    assert _authorize(client, "ALICE@ａcme.example", ATTACKER).status_code == 200
    assert _authorize(client, "alice@acme。example", ATTACKER).status_code == 429


def test_rate_limit_keys_are_the_routing_normalisation():
    assert ratelimit.email_key(" Cto@ａcme。Example ") == "cto@acme.example"


# --- 8: targeted lock-out ----------------------------------------------------------------


def test_requests_from_another_address_do_not_lock_out_the_victims_email(
    client, acme_route, settings
):
    settings.ONBOARDING_RATE_LIMITS = {"authorize_email": (2, 600)}
    for _ in range(2):
        assert _authorize(client, "alice@acme.example", ATTACKER).status_code == 200
    assert _authorize(client, "alice@acme.example", ATTACKER).status_code == 429
    assert _authorize(client, "alice@acme.example", VICTIM).status_code == 200


def test_failed_authorizations_of_one_email_are_bounded_across_addresses(
    client, acme_route, settings
):
    settings.ONBOARDING_RATE_LIMITS = {"authorize_email_failures": (2, 600)}
    for n in range(2):
        answer = _authorize(client, "nobody@nowhere.example", f"198.51.100.{n}")
        assert answer.status_code == 400
    assert _authorize(client, "nobody@nowhere.example", "198.51.100.9").status_code == 429
    # Successes never count: a routable address is not affected by its own use.
    for n in range(3):
        assert _authorize(client, "alice@acme.example", f"198.51.100.{n}").status_code == 200


def test_polling_an_attackers_codes_does_not_starve_the_victims_device(
    client, acme_route, settings
):
    settings.ONBOARDING_RATE_LIMITS = {"token_device_code": (2, 60)}
    victim = _authorize(client, "alice@acme.example", VICTIM).json()["device_code"]
    for _ in range(3):
        attacker = _authorize(client, "alice@acme.example", ATTACKER).json()["device_code"]
        for _ in range(3):
            update_authorization(last_polled_at=None)
            _poll(client, attacker, ATTACKER)
    update_authorization(last_polled_at=None)
    assert _poll(client, attacker, ATTACKER).status_code == 429
    update_authorization(last_polled_at=None)
    answer = _poll(client, victim, VICTIM)
    assert answer.status_code == 400 and answer.json()["error"] == "authorization_pending"


def test_a_too_fast_poll_is_told_to_slow_down_not_counted(client, acme_route, settings):
    settings.ONBOARDING_RATE_LIMITS = {"token_device_code": (1, 60)}
    device = Device(client)
    device.authorize()
    update_authorization()  # the cache forgot the code: polls read the database
    assert device.poll().json()["error"] == "authorization_pending"  # counted: 1 of 1
    for _ in range(3):
        assert device.poll().json()["error"] == "slow_down"  # before the count
    update_authorization(last_polled_at=None)
    assert device.poll().status_code == 429


def test_a_pending_code_is_paced_by_slow_down_alone(client, acme_route, settings):
    # Pending polls are answered from the shared cache: each one inside the interval is
    # a slow_down that raises the interval, so a device gets at most one pending answer
    # per interval whatever it does, and the per-code limit need not count them.
    settings.ONBOARDING_RATE_LIMITS = {"token_device_code": (1, 60)}
    device = Device(client)
    device.authorize()
    assert device.poll().json()["error"] == "authorization_pending"
    answers = {device.poll().json()["error"] for _ in range(5)}
    assert answers == {"slow_down"}


# --- 9: IPv6 networks and the platform-wide budget ---------------------------------------


def _wrong_code(client, address):
    return client.get("/device", {"user_code": "BCDF-GHJK"}, REMOTE_ADDR=address)


def test_ipv6_clients_are_limited_per_64(client, device, acme_route, settings):
    settings.ONBOARDING_RATE_LIMITS = {"user_code_address": (2, 600)}
    code = device.authorize().json()["user_code"]
    assert _wrong_code(client, "2001:db8:1:2::1").status_code == 400
    assert _wrong_code(client, "2001:db8:1:2::ffff").status_code == 400
    same_64 = client.get("/device", {"user_code": code}, REMOTE_ADDR="2001:db8:1:2:a:b:c:d")
    assert same_64.status_code == 429
    other_64 = client.get("/device", {"user_code": code}, REMOTE_ADDR="2001:db8:1:3::1")
    assert other_64.status_code == 200


def test_the_ipv6_prefix_is_a_setting(settings):
    settings.RATE_LIMIT_IPV6_PREFIX = 56
    assert ratelimit.address_key("2001:db8:1:2ff::1") == "2001:db8:1:200::/56"
    settings.RATE_LIMIT_IPV6_PREFIX = 128
    assert ratelimit.address_key("2001:db8::1") == "2001:db8::1/128"
    assert ratelimit.address_key("192.0.2.1") == "192.0.2.1"


def test_guessing_user_codes_from_many_addresses_is_bounded(client, device, acme_route, settings):
    settings.ONBOARDING_RATE_LIMITS = {"user_code_platform": (3, 600)}
    code = device.authorize().json()["user_code"]
    for n in range(3):
        assert _wrong_code(client, f"203.0.113.{n}").status_code == 400
    blocked = _wrong_code(client, "203.0.113.200")
    assert blocked.status_code == 429
    assert b"on this service" in blocked.content
    assert client.get("/device", {"user_code": code}, REMOTE_ADDR="198.51.100.1").status_code == 429


# --- the lookup counts what its token proved, not what it claims ------------------------


def test_forged_tokens_claiming_a_users_address_do_not_spend_that_users_lookups(
    client, acme_route, idp, settings
):
    from tests.idp_server import forge_unsigned
    from tests.onboarding.conftest import LOOKUP

    settings.ONBOARDING_RATE_LIMITS = {"lookup_email": (3, 600)}
    forged = forge_unsigned(idp.claims_for(idp.default_user))  # alice's claims, no signature
    for _ in range(5):  # from the victim's own address (a shared NAT)
        refused = post_json(client, LOOKUP, {"id_token": forged}, REMOTE_ADDR=VICTIM)
        assert refused.status_code == 401
    real = post_json(client, LOOKUP, {"id_token": idp.id_token()}, REMOTE_ADDR=VICTIM)
    assert real.status_code == 200


def test_an_address_over_its_lookup_limit_is_refused_before_its_token_is_checked(
    client, acme_route, idp, settings, monkeypatch
):
    from onboarding import lookup
    from tests.onboarding.conftest import LOOKUP

    checked: list[object] = []
    real = lookup.onboarding_lookup

    def recording(**kwargs):
        checked.append(kwargs["id_token"])
        return real(**kwargs)

    monkeypatch.setattr(lookup, "onboarding_lookup", recording)
    settings.ONBOARDING_RATE_LIMITS = {"lookup_address": (1, 600)}
    token = idp.id_token()
    assert post_json(client, LOOKUP, {"id_token": token}, REMOTE_ADDR=ATTACKER).status_code == 200
    assert post_json(client, LOOKUP, {"id_token": token}, REMOTE_ADDR=ATTACKER).status_code == 429
    assert len(checked) == 2  # the refusal that tells: the shared counter, after the check
    flood = post_json(client, LOOKUP, {"id_token": token}, REMOTE_ADDR=ATTACKER)
    assert flood.status_code == 429 and flood.json()["error"] == "slow_down"
    assert int(flood["Retry-After"]) > 0
    assert len(checked) == 2  # from then on, refused before any work
    assert post_json(client, LOOKUP, {"id_token": token}, REMOTE_ADDR=VICTIM).status_code == 200
