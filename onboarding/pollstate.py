"""A device code's polling state in the shared cache: a pending poll never touches the database.

After a rollout thousands of devices poll every few seconds, and almost every poll is
answered ``authorization_pending``. So the state a pending poll needs (is it still
pending, its interval, when it was last polled) lives in the shared cache under the
hash of the device code, and the poll is one atomic step there: on Redis a single
server-side script (one round trip) reads the state, tells a too-early poll to slow
down (raising the interval) and records the poll time.

The database stays the truth for every decision:

- Whenever a code is about to leave ``pending`` (approve, deny, expire), the writer
  first marks the cache entry ``decided`` (unconditionally), then changes the row. Polls
  that find ``decided`` — or nothing (expired, evicted, flushed) — read the database.
  Marking first means a cache that cannot be written never leaves a stale "pending"
  behind a changed row (the mark only says "ask the database": harmless if the change
  then does not happen).
- A poll that reads a pending row from the database refreshes the entry only if it does
  not say ``decided`` (a compare-and-set script), so a decision written in between is
  never overwritten.
- Whatever else goes wrong (a failover losing the newest write, a row deleted with its
  company), an entry is trusted for ``RECHECK_SECONDS`` after the database last
  confirmed it; then one poll (still paced here) reads the row again — a SELECT, no
  write — and confirms the entry. A stale "pending" is bounded.
- A new code's entry is written with its authorize's rate limits, before its row, and
  is due for its first check NEW_CODE_CHECK_SECONDS later: its row is committed
  asynchronously (``DEVICE_CODE_ASYNC_COMMIT``), and one lost in a database crash is
  found out then.
- When the cache is down, polls read the database (and writers go on): a degraded but
  correct service rather than 503s.

Only Redis runs these steps atomically. The in-process cache of a development server
(one process) uses the same rules through the cache API; any other shared cache backend
is not used here at all: every poll reads the database.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, replace
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

from common.outages import outage_kind
from common.redisclient import redis_client, run_script
from onboarding import conf, ratelimit

logger = logging.getLogger(__name__)

PENDING = "pending"
DECIDED = "decided"
UNKNOWN = "unknown"
SLOW_DOWN = "slow_down"
#: Pending and paced here, but the database last confirmed it RECHECK_SECONDS ago.
RECHECK = "recheck"
#: Over the client address's rate limit: not polled at all.
LIMITED = "limited"

#: How long a cached "pending" is trusted without the database confirming it: the bound
#: on a stale "pending" after a lost decision mark (a Redis failover in the instant after
#: an approval: that device then waits up to this long for its route). A device polling
#: every 5 s reads the database on one poll in 30 to 60 (see ``_checked_ms``); at 60 s it
#: was one in 6 to 12, and after a rollout those reads were most of a poll's cost.
RECHECK_SECONDS = 300


def _checked_ms(now_ms: int) -> int:
    """When the database confirmed an entry, as recorded: now, less up to half the
    re-check period at random. Codes started together (a rollout) would otherwise all
    come due in the same second, a burst of SELECTs; so they spread over half the
    period."""
    return now_ms - random.randint(0, RECHECK_SECONDS * 500)  # noqa: S311 - not a secret


# The poll is also counted against the client address's rate limit, in the same round
# trip: KEYS[2] (optional) is that limit's counter, ARGV[6] its expiry, ARGV[7] the limit.
# Over it, the answer is "limited" and the code's state is left alone.
# Value: "pending|<interval s>|<last poll ms; 0 = never>|<expiry ms>|<checked ms>|<tenant>"
# or "decided" (times in ms since the epoch). Past the code's expiry the answer is
# "unknown": the database decides. A poll at its pace RECHECK_SECONDS after the database
# last confirmed the entry is "recheck": the row is read again (see ``confirm_pending``).
_POLL_SCRIPT = """
local count = 0
if KEYS[2] then
  count = redis.call('INCR', KEYS[2])
  if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[6]) end
  if count > tonumber(ARGV[7]) then return {'limited', 0, 0, count} end
end
local value = redis.call('GET', KEYS[1])
if not value then return {'unknown', 0, 0, count} end
if value == 'decided' then return {'decided', 0, 0, count} end
local _, _, interval, last, expires, checked, tenant =
  string.find(value, '^pending|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)$')
if not interval then return {'unknown', 0, 0, count} end
interval = tonumber(interval)
local now = tonumber(ARGV[1])
if now >= tonumber(expires) then return {'unknown', 0, 0, count} end
local answer = 'pending'
if tonumber(last) > 0 and now - tonumber(last) < interval * 1000 - tonumber(ARGV[2]) then
  interval = math.max(interval, math.min(interval + tonumber(ARGV[3]), tonumber(ARGV[4])))
  answer = 'slow_down'
elseif now - tonumber(checked) >= tonumber(ARGV[5]) then
  answer = 'recheck'
end
redis.call('SET', KEYS[1],
  table.concat({'pending', interval, now, expires, checked, tenant}, '|'), 'KEEPTTL')
return {answer, interval, tonumber(tenant), count}
"""

# The database still says pending: note when, unless the entry changed to "decided".
_CONFIRM_SCRIPT = """
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local _, _, head, tail = string.find(value, '^(pending|%d+|%d+|%d+)|%d+(|%d+)$')
if not head then return 0 end
redis.call('SET', KEYS[1], head .. '|' .. ARGV[1] .. tail, 'KEEPTTL')
return 1
"""

# Seed or refresh a pending entry, unless it says "decided".
_REFRESH_SCRIPT = """
if redis.call('GET', KEYS[1]) == 'decided' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


@dataclass(frozen=True)
class PollCheck:
    """``state``: PENDING, SLOW_DOWN, RECHECK, DECIDED, UNKNOWN or LIMITED; ``interval``: the
    code's interval now; ``tenant_id``: the company the code belongs to (for the request
    log); ``limit``: the verdict of the rate limit counted with the poll, if one was."""

    state: str
    interval: int = 0
    tenant_id: int = 0
    limit: ratelimit.Verdict | None = None


def _key(code_hash: str) -> str:
    return f"poll:{code_hash}"


def _local_cache() -> bool:
    return isinstance(caches["default"], LocMemCache)


def _guarded(step: str, exc: Exception) -> None:
    """A cache outage is logged and survived; anything else is a bug and raised."""
    if not outage_kind(exc):
        raise exc
    logger.warning("Poll state not %s, the cache is unavailable: %r", step, exc)


#: A new code's entry is due for one database check this soon after it is written: its
#: row is committed asynchronously (``DEVICE_CODE_ASYNC_COMMIT``), and a row the database
#: lost in a crash must not be answered "pending" for minutes.
NEW_CODE_CHECK_SECONDS = 10


def _pending(
    code_hash: str,
    *,
    interval: int,
    expires_in: float,
    tenant_id: int,
    polled: bool = False,
    first_check_in: int | None = None,
) -> ratelimit.Entry:
    """The entry of a pending code, as the database has it now: due for its next check
    within the usual spread (``_checked_ms``), or ``first_check_in`` seconds from now."""
    now_ms = int(time.time() * 1000)
    if first_check_in is None:
        checked = _checked_ms(now_ms)
    else:  # recorded as confirmed that much less than a whole period ago
        checked = now_ms - (RECHECK_SECONDS - first_check_in) * 1000
    fields = [PENDING, int(interval), now_ms if polled else 0]
    fields += [now_ms + int(expires_in * 1000), checked, int(tenant_id)]
    value = "|".join(str(f) for f in fields)
    return ratelimit.Entry(_key(code_hash), value, max(1, int(expires_in) + 1))


def new_code(
    code_hash: str, *, interval: int, expires_in: float, tenant_id: int
) -> ratelimit.Entry | None:
    """The entry of a code about to be created, for the rate limits' round trip to write
    (``ratelimit.hit_all(then=...)``): its first polls then need no database either.
    None where polls do not use the cache.

    Written before the row: nobody has the code until it is answered, so an entry for a
    code whose row was then not written (the request failed) is one nobody polls. A row
    committed and then lost with the database's last moments (asynchronous commit, a
    crash) is found out by the entry's first check, NEW_CODE_CHECK_SECONDS after it is
    written: the first poll from then reads the row (one SELECT per code), and its device
    is told its code is unknown."""
    if expires_in <= 0 or (redis_client() is None and not _local_cache()):
        return None
    return _pending(
        code_hash,
        interval=interval,
        expires_in=expires_in,
        tenant_id=tenant_id,
        first_check_in=NEW_CODE_CHECK_SECONDS,
    )


def remember_pending(
    code_hash: str,
    *,
    interval: int,
    expires_in: float,
    tenant_id: int,
    polled: bool = False,
) -> None:
    """The database says the code is pending: (re)seed its entry, unless it says decided."""
    if expires_in <= 0:
        return
    entry = _pending(
        code_hash, interval=interval, expires_in=expires_in, tenant_id=tenant_id, polled=polled
    )
    key, value, ttl = entry.key, entry.value, entry.ttl
    try:
        client = redis_client()
        if client is not None:
            run_script(client, _REFRESH_SCRIPT, [cache.make_key(key)], [value, ttl])
        elif _local_cache() and cache.get(key) != DECIDED:
            cache.set(key, value, timeout=ttl)
    except Exception as exc:  # noqa: BLE001 - only outages survive (_guarded)
        _guarded("seeded", exc)


def confirm_pending(code_hash: str) -> None:
    """The database still says pending (a RECHECK poll): trust the entry again from now."""
    now_ms = int(time.time() * 1000)
    try:
        client = redis_client()
        if client is not None:
            checked = _checked_ms(now_ms)
            run_script(client, _CONFIRM_SCRIPT, [cache.make_key(_key(code_hash))], [checked])
        elif _local_cache():
            value = cache.get(_key(code_hash))
            if isinstance(value, str) and value.startswith(PENDING + "|"):
                fields = value.split("|")
                fields[4] = str(_checked_ms(now_ms))
                timeout = max(1, (int(fields[3]) - now_ms) // 1000 + 1)
                cache.set(_key(code_hash), "|".join(fields), timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - only outages survive (_guarded)
        _guarded("confirmed", exc)


def mark_decided(code_hash: str, *, expires_in: float) -> None:
    """Call *before* a code leaves ``pending`` in the database: polls ask the database."""
    ttl = max(1, int(expires_in) + 1)
    try:
        client = redis_client()
        if client is not None:
            client.set(cache.make_key(_key(code_hash)), DECIDED, ex=ttl)
        elif _local_cache():
            cache.set(_key(code_hash), DECIDED, timeout=ttl)
    except Exception as exc:  # noqa: BLE001 - only outages survive (_guarded)
        _guarded("marked decided", exc)


def check(code_hash: str, *, counting: ratelimit.Limit | None = None) -> PollCheck:
    """Count one poll of a code: pending, too early (slow down), recheck, decided or unknown.

    ``counting``: a rate limit the poll counts against first, in the same round trip;
    over it, the state is LIMITED and the poll is not counted as one of the code's.
    """
    now_ms = int(time.time() * 1000)
    rules = (
        now_ms,
        int(conf.poll_slack() * 1000),
        conf.slow_down_step(),
        conf.max_interval(),
        RECHECK_SECONDS * 1000,
    )
    window = ratelimit.window(*counting, now=now_ms / 1000) if counting else None
    try:
        client = redis_client()
        if client is not None:
            keys = [cache.make_key(_key(code_hash))]
            arguments: tuple[int, ...] = rules
            if window is not None:
                keys.append(cache.make_key(window.key))
                arguments += (window.ttl, window.limit)
            state, interval, tenant, count = run_script(client, _POLL_SCRIPT, keys, arguments)
            name = state.decode() if isinstance(state, bytes) else str(state)
            limit = window.verdict(int(count)) if window is not None else None
            return PollCheck(name, int(interval), int(tenant), limit)
        if _local_cache():
            if window is not None:
                limit = window.verdict(ratelimit.count_locally(window.key, window.ttl))
                if not limit.allowed:
                    return PollCheck(LIMITED, limit=limit)
                return replace(_check_locally(code_hash, *rules), limit=limit)
            return _check_locally(code_hash, *rules)
    except Exception as exc:  # noqa: BLE001 - only outages survive (_guarded)
        _guarded("read", exc)
        if window is not None:
            return PollCheck(UNKNOWN, limit=ratelimit.failed_open([window.name], exc)[0])
        return PollCheck(UNKNOWN)
    if counting is not None:  # neither Redis nor the in-process cache: counted on its own
        return PollCheck(UNKNOWN, limit=ratelimit.hit(*counting))
    return PollCheck(UNKNOWN)


def _check_locally(
    code_hash: str, now_ms: int, slack_ms: int, step: int, max_interval: int, recheck_ms: int
) -> PollCheck:
    # The same rules as the script, for a single development process.
    value: Any = cache.get(_key(code_hash))
    if value is None or value == DECIDED:
        return PollCheck(UNKNOWN if value is None else DECIDED)
    _, interval_text, last_text, expires_text, checked_text, tenant_text = str(value).split("|")
    interval, last, expires = int(interval_text), int(last_text), int(expires_text)
    if now_ms >= expires:
        return PollCheck(UNKNOWN)
    state = PENDING
    if last and now_ms - last < interval * 1000 - slack_ms:
        interval = max(interval, min(interval + step, max_interval))
        state = SLOW_DOWN
    elif now_ms - int(checked_text) >= recheck_ms:
        state = RECHECK
    fields = [PENDING, interval, now_ms, expires, checked_text, tenant_text]
    timeout = max(1, (expires - now_ms) // 1000 + 1)
    cache.set(_key(code_hash), "|".join(str(f) for f in fields), timeout=timeout)
    return PollCheck(state, interval, int(tenant_text))
