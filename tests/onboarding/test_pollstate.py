"""The pending poll's state and the rate-limit counters on Redis: one script each, atomic."""

from __future__ import annotations

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from common.redisclient import redis_client
from onboarding.selectors import hash_secret

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not isinstance(caches["default"], RedisCache),
        reason="needs REDIS_URL: runs in CI's second pass",
    ),
]


def test_a_pending_code_is_kept_as_plain_text_the_poll_script_reads(device, acme_route):
    device.authorize()
    client = redis_client()
    assert client is not None and client is redis_client()  # made once per process
    key = cache.make_key(f"poll:{hash_secret(device.device_code)}")
    assert client.get(key).decode().startswith("pending|5|0|")
    assert device.poll().json()["error"] == "authorization_pending"
    assert client.get(key).decode().split("|")[2] != "0"  # the poll time, set by the script
    assert client.ttl(key) > 0


def test_a_rate_limit_count_expires_with_its_window(client, acme_route):
    from onboarding import ratelimit

    verdict = ratelimit.hit("authorize_address", "192.0.2.77")
    assert verdict.count == 1
    keys = redis_client().keys(cache.make_key("ratelimit:authorize_address:*"))
    assert keys and all(redis_client().ttl(k) > 0 for k in keys)
    assert ratelimit.peek("authorize_address", "192.0.2.77").count == 1  # read via the cache API


@pytest.fixture
def scripts(monkeypatch):
    """The server-side scripts each request runs (on the real Redis), by name."""
    from common import redisclient
    from onboarding import pollstate, ratelimit

    names = {ratelimit.COUNT_SCRIPT: "rate limits", pollstate._POLL_SCRIPT: "poll"}
    seen: list[str] = []
    real = redisclient.run_script

    def recording(client, script, keys, args):
        seen.append(names.get(script, "other"))
        return real(client, script, keys, args)

    monkeypatch.setattr(redisclient, "run_script", recording)
    for module in (ratelimit, pollstate):
        monkeypatch.setattr(module, "run_script", recording)
    return seen


def test_every_device_request_counts_its_rate_limits_in_one_round_trip(
    client, device, acme_route, idp, scripts
):
    from tests.onboarding.conftest import LOOKUP, TOKEN, post_json

    device.authorize()  # address, e-mail and failures, and the new code's poll state
    assert scripts == ["rate limits"]
    scripts.clear()
    assert device.poll().json()["error"] == "authorization_pending"
    assert scripts == ["poll"]  # the address limit counted inside the poll's own script
    scripts.clear()
    assert post_json(client, LOOKUP, {"id_token": idp.id_token()}).status_code == 200
    assert scripts == ["rate limits"]  # address and user together
    scripts.clear()
    assert post_json(client, TOKEN, {"grant_type": "nonsense"}).status_code == 400
    assert scripts == ["rate limits"]  # a refused request is counted too, once


def test_codes_started_together_come_due_for_their_recheck_spread_out(client, acme_route):
    import time

    from onboarding import pollstate
    from tests.onboarding.conftest import Device

    def checked(code_hash: str) -> int:
        entry = redis_client().get(cache.make_key(f"poll:{code_hash}")).decode()
        return int(entry.split("|")[4])

    before = int(time.time() * 1000)
    hashes = []
    for _ in range(20):
        device = Device(client)
        device.authorize()
        hashes.append(hash_secret(device.device_code))
    after = int(time.time() * 1000)
    # A new code is checked against its row once, NEW_CODE_CHECK_SECONDS after it was made
    # (a row lost by asynchronous commit is found out then) ...
    early = (pollstate.RECHECK_SECONDS - pollstate.NEW_CODE_CHECK_SECONDS) * 1000
    assert all(before - early <= checked(h) <= after - early for h in hashes)
    # ... and from that check on, the codes come due spread over half the period.
    for code_hash in hashes:
        pollstate.confirm_pending(code_hash)
    confirmed = [checked(h) for h in hashes]
    half = pollstate.RECHECK_SECONDS * 500
    assert all(before - half <= c <= int(time.time() * 1000) for c in confirmed)
    assert max(confirmed) - min(confirmed) > half // 10  # not one second for all of them


def test_a_new_code_lost_by_the_database_is_found_out_at_its_first_check(client, acme_route):
    import time

    from onboarding import pollstate
    from onboarding.models import DeviceAuthorization
    from tests.onboarding.conftest import Device

    device = Device(client)
    device.authorize()
    assert device.poll().json()["error"] == "authorization_pending"  # from the cache
    # As if PostgreSQL had crashed before the asynchronous commit reached its disk.
    DeviceAuthorization.objects.all().delete()
    key = cache.make_key(f"poll:{hash_secret(device.device_code)}")
    fields = redis_client().get(key).decode().split("|")
    wait = pollstate.NEW_CODE_CHECK_SECONDS * 1000
    fields[2] = str(int(fields[2]) - wait)  # the last poll, an interval ago
    fields[4] = str(int(fields[4]) - wait)  # the entry's check, now due
    redis_client().set(key, "|".join(fields), keepttl=True)
    time.sleep(0.01)
    assert device.poll().json()["error"] == "invalid_grant"


def test_an_authorize_over_its_limit_leaves_no_poll_state(client, acme_route, settings):
    from onboarding import ratelimit
    from tests.onboarding.conftest import AUTHORIZE, post_json

    settings.ONBOARDING_RATE_LIMITS = {"authorize_address": (1, 86400)}  # no window ends
    before = set(redis_client().keys(cache.make_key("poll:*")))
    assert post_json(client, AUTHORIZE, {"email": "alice@acme.example"}).status_code == 200
    written = set(redis_client().keys(cache.make_key("poll:*"))) - before
    assert len(written) == 1
    ratelimit.forget_refusals()  # as another process, which has not seen a refusal yet
    assert post_json(client, AUTHORIZE, {"email": "alice@acme.example"}).status_code == 429
    assert set(redis_client().keys(cache.make_key("poll:*"))) - before == written
