"""A device code's polling state in the shared cache: a pending poll never touches the database.

After a rollout thousands of devices poll every few seconds, and almost every poll is
answered ``authorization_pending``. So the state a pending poll needs (is it still
pending, its interval, when it was last polled) lives in the shared cache under the
hash of the device code, and the poll is one atomic step there: on Redis a single
server-side script (one round trip) reads the state, tells a too-early poll to slow
down (raising the interval) and records the poll time.

The database stays the truth for every decision. Whenever a code leaves ``pending``
(approved, denied, consumed), the writer first changes the row, then marks the cache
entry ``decided``, unconditionally; polls that find ``decided`` — or nothing at all
(expired, evicted, a flushed cache) — take the database path. A poll that reads a
pending row from the database seeds the cache only if the key is absent (``NX``), so it
can never overwrite a ``decided`` mark written in between: a stale "pending" is
impossible in either order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from common.redisclient import redis_client
from onboarding import conf

PENDING = "pending"
DECIDED = "decided"
UNKNOWN = "unknown"
SLOW_DOWN = "slow_down"

# Value: "pending|<interval s>|<last poll ms; 0 = never>|<expiry ms>" or "decided" (times
# in ms since the epoch). A code past its expiry is "unknown": the database answers it.
_POLL_SCRIPT = """
local value = redis.call('GET', KEYS[1])
if not value then return {'unknown', 0} end
if value == 'decided' then return {'decided', 0} end
local _, _, interval, last, expires = string.find(value, '^pending|(%d+)|(%d+)|(%d+)$')
if not interval then return {'unknown', 0} end
interval = tonumber(interval)
last = tonumber(last)
local now = tonumber(ARGV[1])
if now >= tonumber(expires) then return {'unknown', 0} end
local answer = 'pending'
if last > 0 and now - last < interval * 1000 - tonumber(ARGV[2]) then
  interval = math.max(interval, math.min(interval + tonumber(ARGV[3]), tonumber(ARGV[4])))
  answer = 'slow_down'
end
redis.call('SET', KEYS[1], 'pending|' .. interval .. '|' .. now .. '|' .. expires, 'KEEPTTL')
return {answer, interval}
"""


@dataclass(frozen=True)
class PollCheck:
    """``state``: PENDING, SLOW_DOWN, DECIDED or UNKNOWN; ``interval``: the code's interval now."""

    state: str
    interval: int = 0


def _key(code_hash: str) -> str:
    return cache.make_key(f"poll:{code_hash}")


def _redis() -> Any | None:
    return redis_client()


def _pending_value(interval: int, last_ms: int, expires_ms: int) -> str:
    return f"{PENDING}|{int(interval)}|{int(last_ms)}|{int(expires_ms)}"


def remember_pending(
    code_hash: str, *, interval: int, expires_in: float, polled: bool = False
) -> None:
    """Seed the state of a pending code, unless the key exists (it may say ``decided``)."""
    if expires_in <= 0:
        return
    ttl = max(1, int(expires_in) + 1)
    now_ms = int(time.time() * 1000)
    value = _pending_value(interval, now_ms if polled else 0, now_ms + int(expires_in * 1000))
    client = _redis()
    if client is not None:
        client.set(_key(code_hash), value, ex=ttl, nx=True)
    else:
        cache.add(f"poll:{code_hash}", value, timeout=ttl)


def mark_decided(code_hash: str, *, expires_in: float) -> None:
    """The code left ``pending`` in the database: polls must ask the database from now on."""
    ttl = max(1, int(expires_in))
    client = _redis()
    if client is not None:
        client.set(_key(code_hash), DECIDED, ex=ttl)
    else:
        cache.set(f"poll:{code_hash}", DECIDED, timeout=ttl)


def check(code_hash: str) -> PollCheck:
    """Count one poll of a code: pending, too early (slow down), decided or unknown."""
    now_ms = int(time.time() * 1000)
    slack_ms = int(conf.poll_slack() * 1000)
    client = _redis()
    if client is not None:
        state, interval = client.eval(
            _POLL_SCRIPT,
            1,
            _key(code_hash),
            now_ms,
            slack_ms,
            conf.slow_down_step(),
            conf.max_interval(),
        )
        return PollCheck(state.decode() if isinstance(state, bytes) else str(state), int(interval))
    return _check_without_redis(code_hash, now_ms, slack_ms)


def _check_without_redis(code_hash: str, now_ms: int, slack_ms: int) -> PollCheck:
    # The in-process cache of a single development server: the same rules, not atomic
    # across processes (there is only one).
    key = f"poll:{code_hash}"
    value = cache.get(key)
    if value is None:
        return PollCheck(UNKNOWN)
    if value == DECIDED:
        return PollCheck(DECIDED)
    _, interval_text, last_text, expires_text = str(value).split("|")
    interval, last, expires = int(interval_text), int(last_text), int(expires_text)
    if now_ms >= expires:
        return PollCheck(UNKNOWN)
    state = PENDING
    if last and now_ms - last < interval * 1000 - slack_ms:
        interval = max(interval, min(interval + conf.slow_down_step(), conf.max_interval()))
        state = SLOW_DOWN
    timeout = max(1, (expires - now_ms) // 1000 + 1)
    cache.set(key, _pending_value(interval, now_ms, expires), timeout=timeout)
    return PollCheck(state, interval)
