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
