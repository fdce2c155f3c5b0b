"""``ratelimit.hit_all(then=...)``: an entry written in the round trip that counts a
request, only when every limit lets it through (the new device code's poll state).

Runs on the in-process cache (first pass) and on Redis (CI's second pass).
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from common.redisclient import redis_client
from onboarding import ratelimit
from onboarding.ratelimit import Entry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings):
    settings.ONBOARDING_RATE_LIMITS = {
        "authorize_address": (2, 60),
        "authorize_email_failures": (1, 60),
    }
    cache.clear()
    ratelimit.forget_refusals()


def _read(key: str) -> str | None:
    """The entry as its reader sees it: plain text on Redis (scripts read it), else
    through the cache API."""
    client = redis_client()
    if client is None:
        return cache.get(key)
    value = client.get(cache.make_key(key))
    return None if value is None else value.decode()


def _hit(entry: Entry, *, address: str = "192.0.2.5", email: str = "a@acme.example"):
    return ratelimit.hit_all(
        [("authorize_address", address)],
        [("authorize_email_failures", email)],
        then=entry,
    )


def test_the_entry_is_written_while_every_limit_lets_the_request_through():
    verdicts = _hit(Entry("entry:1", "pending|5", 30))
    assert [v.allowed for v in verdicts] == [True, True]
    assert _read("entry:1") == "pending|5"
    client = redis_client()
    if client is not None:
        assert 0 < client.ttl(cache.make_key("entry:1")) <= 30


def test_no_entry_over_a_counted_limit():
    _hit(Entry("entry:1", "v", 30))
    _hit(Entry("entry:2", "v", 30))
    verdicts = _hit(Entry("entry:3", "v", 30))
    assert not verdicts[0].allowed and verdicts[0].count == 3
    assert _read("entry:2") == "v" and _read("entry:3") is None


def test_no_entry_when_a_peeked_limit_is_reached():
    ratelimit.hit("authorize_email_failures", "a@acme.example")  # 1 of 1: the next is refused
    verdicts = _hit(Entry("entry:1", "v", 30))
    assert verdicts[0].allowed and not verdicts[1].allowed
    assert _read("entry:1") is None
    # Another e-mail from the same address is not affected.
    assert all(v.allowed for v in _hit(Entry("entry:2", "v", 30), email="b@acme.example"))
    assert _read("entry:2") == "v"


def test_the_counts_are_what_they_would_be_without_an_entry():
    with_entry = _hit(Entry("entry:1", "v", 30), address="192.0.2.6")
    without = ratelimit.hit_all(
        [("authorize_address", "192.0.2.7")], [("authorize_email_failures", "c@x.example")]
    )
    assert [(v.count, v.allowed) for v in with_entry] == [(v.count, v.allowed) for v in without]
