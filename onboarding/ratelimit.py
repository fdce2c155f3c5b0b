"""Rate limits for the device endpoints, held in the shared Django cache.

The cache is Redis in production, so a limit holds across every server process and
machine: a client cannot multiply its budget by landing on different workers. Fixed
windows are crude but cheap: every limit a request counts (and every one it only
reads) is one atomic round trip, a server-side script (``hit_all``). Keys carry a hash
of the identifier, never the e-mail itself.

Identifiers are built here, so every caller counts the same thing: e-mails normalised
exactly as routing does (``email_key``; ``cto@ａcme.example`` is ``cto@acme.example``),
IPv6 clients per /64 (``address_key``), a per-e-mail limit per (e-mail, address) pair
(``pair_key``) so that nobody can spend a victim's budget from another address.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from common import metrics
from common.outages import outage_kind
from common.redisclient import redis_client, run_script
from common.validators import normalize_email
from onboarding import conf

logger = logging.getLogger(__name__)

#: The one identifier of the platform-wide limits.
PLATFORM = "platform"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    #: The count in this window including this request (limit + 1 on the first refusal).
    count: int
    retry_after: int
    limit: int

    @property
    def first_refusal(self) -> bool:
        """True once per window: callers log the flood once, not once per request."""
        return not self.allowed and self.count == self.limit + 1


class RateLimited(Exception):
    """Raised by :func:`enforce`, for limits counted once the request is parsed (per e-mail);
    the device API answers it with a 429."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("rate limited")
        self.verdict = verdict


def _key(name: str, identifier: str, window: int) -> str:
    digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"ratelimit:{name}:{digest}:{window}"


#: Limits that refuse (the caller answers 503) when the cache cannot be asked: a user
#: code has ~34 bits, so guessing must never go unbounded. Every other limit lets the
#: request through, with a warning and a counter: an onboarding beats a rate limit.
FAIL_CLOSED = frozenset({"user_code_address"})


#: A limit and what it counts: ``(name, identifier)``; no identifier counts nothing.
Limit = tuple[str, str | None]


@dataclass(frozen=True)
class Entry:
    """A cache entry :func:`hit_all` writes in the round trip that counts a request, if
    every limit lets the request through: ``key`` (the cache's key, unprefixed) holds
    ``value`` for ``ttl`` seconds. On Redis as plain text, for server-side scripts to
    read (not through the cache API, which would unpickle it); elsewhere through the
    cache API."""

    key: str
    value: str
    ttl: int


def _allowed_regardless(name: str) -> Verdict:
    return Verdict(allowed=True, count=0, retry_after=0, limit=conf.rate_limit(name)[0])


def failed_open(
    names: Sequence[str], exc: Exception, *, counted: int | None = None
) -> list[Verdict]:
    """The cache could not be asked about the limits ``names`` (the first ``counted`` of
    them counting this request, the rest only read; all by default): refuse (raise) if
    one is FAIL_CLOSED, else let the request through, with a warning and a counter. An
    outage only: anything else is a bug and raised."""
    if not outage_kind(exc):
        raise exc
    for name in names:
        if name in FAIL_CLOSED:
            metrics.RATE_LIMIT_DECISIONS.labels(name, "failed_closed").inc()
            raise exc
    for name in names[:counted]:
        metrics.RATE_LIMIT_DECISIONS.labels(name, "failed_open").inc()
    logger.warning("Rate limit %s not checked, the cache is unavailable: %r", ", ".join(names), exc)
    return [_allowed_regardless(name) for name in names]


@dataclass(frozen=True)
class Window:
    """The counter of an identifier under the limit ``name`` for the current window."""

    name: str
    limit: int
    key: str
    ttl: int
    retry_after: int

    def allows(self, count: int, *, counted: bool = True) -> bool:
        """Whether ``count`` lets the request through: the count including this request
        (``counted``) up to the limit, or the count so far (a peek) below it. (The same
        rule, in Lua, decides COUNT_SCRIPT's entry.)"""
        return count <= self.limit if counted else count < self.limit

    def verdict(self, count: int, *, counted: bool = True) -> Verdict:
        """The verdict for ``count``: the count including this request (``counted``) or
        the count so far (a peek, see :meth:`allows`)."""
        allowed = self.allows(count, counted=counted)
        if counted:
            metrics.RATE_LIMIT_DECISIONS.labels(
                self.name, "allowed" if allowed else "refused"
            ).inc()
        verdict = Verdict(
            allowed=allowed, count=count, retry_after=self.retry_after, limit=self.limit
        )
        if counted and not allowed:
            _remember_refused(self.key, verdict)
        return verdict


#: Windows this process saw refused, until they end: a count only grows within its
#: window, so until then the answer stays "refused" (see ``refused_before``).
_refused: dict[str, tuple[Verdict, float]] = {}
_REFUSED_MAX = 10_000


def _remember_refused(key: str, verdict: Verdict) -> None:
    if len(_refused) >= _REFUSED_MAX:
        _refused.clear()
    _refused[key] = (verdict, time.time() + verdict.retry_after)


def forget_refusals() -> None:
    """Forget the refusals this process saw (the tests, between two)."""
    _refused.clear()


def refused_before(name: str, identifier: str | None) -> Verdict | None:
    """The refusal this process already had from the shared counter for ``identifier``
    under ``name`` in the current window, or None: lets a flood be refused before any
    work, with no round trip (the lookup checks its token before counting)."""
    found = window(name, identifier)
    if found is None:
        return None
    held = _refused.get(found.key)
    if held is None:
        return None
    verdict, until = held
    now = time.time()
    if now >= until:
        _refused.pop(found.key, None)
        return None
    metrics.RATE_LIMIT_DECISIONS.labels(name, "refused").inc()
    retry_after = max(1, int(until - now))
    return Verdict(allowed=False, count=verdict.count, retry_after=retry_after, limit=verdict.limit)


def window(name: str, identifier: str | None, now: float | None = None) -> Window | None:
    """The window ``identifier`` counts in under ``name`` now; None when nothing is counted
    (no identifier, or the limit switched off)."""
    limit, period = conf.rate_limit(name)
    if not identifier or limit <= 0:
        return None
    now = time.time() if now is None else now
    number = int(now // period)
    retry_after = max(1, int((number + 1) * period - now))
    # The key lives a little longer than its window, so a late count never recreates it
    # without an expiry.
    return Window(name, limit, _key(name, identifier, number), period + 5, retry_after)


def hit_all(
    counted: Sequence[Limit],
    peeked: Sequence[Limit] = (),
    *,
    then: Entry | None = None,
    now: float | None = None,
) -> list[Verdict]:
    """Count one request against every limit of ``counted`` and read every one of
    ``peeked`` without counting, in one round trip; the verdicts in that order.

    ``then``: written in the same round trip when every verdict lets the request
    through (not when the cache cannot be asked: its reader must do without it).
    """
    windows = [window(name, identifier, now) for name, identifier in counted]
    peeks = [window(name, identifier, now) for name, identifier in peeked]
    to_count = [w for w in windows if w is not None]
    to_peek = [w for w in peeks if w is not None]
    counts: Iterator[int] = iter(())
    if to_count or to_peek or then is not None:
        try:
            counts = iter(_counts(to_count, to_peek, then))
        except Exception as exc:  # noqa: BLE001 - failed_open raises all but outages
            names = [name for name, _identifier in [*counted, *peeked]]
            return failed_open(names, exc, counted=len(counted))
    verdicts: list[Verdict] = []
    for (name, _identifier), found in zip([*counted, *peeked], [*windows, *peeks], strict=True):
        if found is None:
            verdicts.append(_allowed_regardless(name))
        else:
            verdicts.append(found.verdict(next(counts), counted=len(verdicts) < len(counted)))
    return verdicts


def hit(name: str, identifier: str | None, *, now: float | None = None) -> Verdict:
    """Count one request for ``identifier`` against the limit ``name`` (see ``conf``)."""
    return hit_all([(name, identifier)], now=now)[0]


def peek(name: str, identifier: str | None, *, now: float | None = None) -> Verdict:
    """Whether ``identifier`` is over the limit, without counting a request."""
    return hit_all([], [(name, identifier)], now=now)[0]


def enforce(name: str, identifier: str | None) -> None:
    """Count one request like :func:`hit`; raise :class:`RateLimited` when over the limit."""
    refuse_over([hit(name, identifier)])


def refuse_over(verdicts: Sequence[Verdict]) -> None:
    """Raise :class:`RateLimited` for the first of ``verdicts`` that refuses, if any."""
    for verdict in verdicts:
        if not verdict.allowed:
            raise RateLimited(verdict)


# Each counted key: INCR, and the window's expiry set with the first count; each peeked
# key: its count so far; then, if no count is over its limit (a peeked one: at it), the
# entry. One atomic round trip whatever the number of limits.
# KEYS: the counted keys, the peeked ones, then the entry's key (optional).
# ARGV: the number of counted keys, of counted and peeked keys; each counted key's
# expiry; each counted and peeked key's limit; the entry's value and expiry (optional).
COUNT_SCRIPT = """
local counted, limited = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts, allowed = {}, true
for i = 1, limited do
  local limit = tonumber(ARGV[2 + counted + i])
  if i <= counted then
    counts[i] = redis.call('INCR', KEYS[i])
    if counts[i] == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 + i]) end
    if counts[i] > limit then allowed = false end
  else
    counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
    if counts[i] >= limit then allowed = false end
  end
end
if allowed and KEYS[limited + 1] then
  local at = 2 + counted + limited
  redis.call('SET', KEYS[limited + 1], ARGV[at + 1], 'EX', ARGV[at + 2])
end
return counts
"""


def _counts(counted: list[Window], peeked: list[Window], then: Entry | None = None) -> list[int]:
    """Add one to each counter of ``counted`` and read those of ``peeked``: the counts;
    then write ``then`` if no count is over its limit.

    On Redis one round trip, a server-side script (no pipeline object: building one costs
    more than the round trip it saves). Django's Redis backend stores integers as they
    are, so the keys are the cache's own (``cache.make_key``) and read like any other.
    Elsewhere (a development server's in-process cache) ``add`` + ``incr`` and ``get``.
    """
    client = redis_client()
    windows = [*counted, *peeked]
    if client is not None:
        names = [cache.make_key(w.key) for w in windows]
        arguments: list[int | str] = [len(counted), len(windows), *(w.ttl for w in counted)]
        arguments += [w.limit for w in windows]
        if then is not None:
            names.append(cache.make_key(then.key))
            arguments += [then.value, then.ttl]
        return [int(c) for c in run_script(client, COUNT_SCRIPT, names, arguments)]
    counts = [count_locally(w.key, w.ttl) for w in counted]
    peeks = [int(cache.get(w.key) or 0) for w in peeked]
    allowed = all(w.allows(c) for c, w in zip(counts, counted, strict=True)) and all(
        w.allows(c, counted=False) for c, w in zip(peeks, peeked, strict=True)
    )
    if then is not None and allowed:
        cache.set(then.key, then.value, timeout=then.ttl)
    return counts + peeks


def count_locally(key: str, ttl: int) -> int:
    """One count through the cache API (no Redis): the development server's cache."""
    cache.add(key, 0, timeout=ttl)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=ttl)
        return 1


def email_key(email: str) -> str:
    """The e-mail as routing sees it, so a spelling variant is not a fresh bucket."""
    try:
        return normalize_email(email.strip())
    except ValidationError:
        # Refused later anyway; still fold the variants an attacker could rotate through.
        return unicodedata.normalize("NFKC", email.strip()).casefold()


def address_key(address: str | None) -> str | None:
    """An IPv4 address as is; an IPv6 address as its /``RATE_LIMIT_IPV6_PREFIX`` network."""
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        prefix = conf.rate_limit_ipv6_prefix()
        return str(ipaddress.IPv6Network((parsed, prefix), strict=False))
    return str(parsed)


def pair_key(email: str, address: str | None) -> str:
    """One bucket per (e-mail, client address): 29 requests from an attacker's address
    do not lock the victim's device out."""
    return f"{email_key(email)} {address_key(address) or '-'}"


def normalize_address(value: str | None) -> str | None:
    """A client address as stored and compared everywhere: the bare IP, or None.

    Accepts what servers and proxies write ("192.0.2.1:443", "[2001:db8::1]:443",
    "fe80::1%eth0"); anything that is not an IP address is None. (Worked out once per
    address: a device request asks for its client's several times.)
    """
    if not value:
        return None
    return _normalized_address(value) if len(value) <= 100 else None


@functools.lru_cache(maxsize=4096)
def _normalized_address(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        # "fe80::1%eth0" (a link-local peer): PostgreSQL's inet cannot store the zone.
        address = ipaddress.IPv6Address(value.split("%", 1)[0])
    return str(address)


def client_address(request: HttpRequest) -> str | None:
    """The device's address: REMOTE_ADDR, or the X-Forwarded-For entry our proxies added.

    With ``TRUSTED_PROXY_COUNT = n`` the n-th entry from the right is the address the
    outermost trusted proxy saw; everything left of it was written by the client and can
    be forged, so it is never used (a client could otherwise pick its rate-limit bucket).
    """
    remote = normalize_address(request.META.get("REMOTE_ADDR"))
    trusted = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if trusted <= 0:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    entries = [e for e in (p.strip() for p in forwarded.split(",")) if e]
    if len(entries) < trusted:
        # Fewer entries than proxies: the request did not come through all of them, so
        # none of the entries is trustworthy.
        return remote
    return normalize_address(entries[-trusted]) or remote
