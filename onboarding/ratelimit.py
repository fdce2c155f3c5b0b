"""Rate limits for the device endpoints, held in the shared Django cache.

The cache is Redis in production, so a limit holds across every server process and
machine: a client cannot multiply its budget by landing on different workers. Fixed
windows (an atomic INCR in one round trip, see ``_count``) are crude but cheap. Keys carry a hash of the identifier, never the e-mail itself.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from common import metrics
from common.outages import outage_kind
from common.redisclient import cache_get, redis_client, run_script
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


def _fail_open(*, counts: bool) -> Callable[[Callable[..., Verdict]], Callable[..., Verdict]]:
    """When the cache is down, allow unless the limit is FAIL_CLOSED. ``counts``: each
    call is a request counted against the limit, so its decision goes to the metrics."""

    def decorate(counter: Callable[..., Verdict]) -> Callable[..., Verdict]:
        @functools.wraps(counter)
        def guarded(name: str, identifier: str | None, **kwargs: Any) -> Verdict:
            try:
                verdict = counter(name, identifier, **kwargs)
            except Exception as exc:
                if not outage_kind(exc):
                    raise
                if name in FAIL_CLOSED:
                    metrics.RATE_LIMIT_DECISIONS.labels(name, "failed_closed").inc()
                    raise
                metrics.RATE_LIMIT_DECISIONS.labels(name, "failed_open").inc()
                logger.warning("Rate limit %s not checked, the cache is unavailable: %r", name, exc)
                return Verdict(allowed=True, count=0, retry_after=0, limit=conf.rate_limit(name)[0])
            if counts and verdict.limit > 0 and identifier:
                decision = "allowed" if verdict.allowed else "refused"
                metrics.RATE_LIMIT_DECISIONS.labels(name, decision).inc()
            return verdict

        return guarded

    return decorate


@dataclass(frozen=True)
class _Window:
    """The counter of ``identifier`` under the limit ``name`` for the current window."""

    limit: int
    key: str
    ttl: int
    retry_after: int


def _window(name: str, identifier: str | None, now: float | None) -> _Window | int:
    """The window to count in, or the limit itself when nothing is counted (no identifier,
    or the limit switched off)."""
    limit, period = conf.rate_limit(name)
    if not identifier or limit <= 0:
        return limit
    now = time.time() if now is None else now
    window = int(now // period)
    retry_after = max(1, int((window + 1) * period - now))
    # The key lives a little longer than its window, so a late count never recreates it
    # without an expiry.
    return _Window(limit, _key(name, identifier, window), period + 5, retry_after)


@_fail_open(counts=True)
def hit(name: str, identifier: str | None, *, now: float | None = None) -> Verdict:
    """Count one request for ``identifier`` against the limit ``name`` (see ``conf``)."""
    window = _window(name, identifier, now)
    if not isinstance(window, _Window):
        return Verdict(allowed=True, count=0, retry_after=0, limit=window)
    count = _count(window.key, window.ttl)
    return Verdict(
        allowed=count <= window.limit,
        count=count,
        retry_after=window.retry_after,
        limit=window.limit,
    )


# INCR, and the window's expiry set with the first count: one atomic round trip.
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _count(key: str, ttl: int) -> int:
    """Add one to the window's counter and return it.

    On Redis one round trip: a server-side script that counts and, on the first count,
    sets the expiry (the key lives a little longer than its window, so a late count
    never recreates it without one). No pipeline object: building one costs more than
    the round trip it saves. Django's Redis backend stores integers as they are, so
    ``peek`` reads the same key with its serializer (``cache_get``). Elsewhere ``add`` + ``incr``.
    """
    client = redis_client()
    if client is not None:
        return int(run_script(client, _COUNT_SCRIPT, [cache.make_key(key)], [ttl]))
    cache.add(key, 0, timeout=ttl)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=ttl)
        return 1


def enforce(name: str, identifier: str | None) -> None:
    """Count one request like :func:`hit`; raise :class:`RateLimited` when over the limit."""
    verdict = hit(name, identifier)
    if not verdict.allowed:
        raise RateLimited(verdict)


@_fail_open(counts=False)
def peek(name: str, identifier: str | None, *, now: float | None = None) -> Verdict:
    """Whether ``identifier`` is over the limit, without counting a request."""
    window = _window(name, identifier, now)
    if not isinstance(window, _Window):
        return Verdict(allowed=True, count=0, retry_after=0, limit=window)
    count = int(cache_get(window.key) or 0)
    return Verdict(
        allowed=count < window.limit,
        count=count,
        retry_after=window.retry_after,
        limit=window.limit,
    )


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
    "fe80::1%eth0"); anything that is not an IP address is None.
    """
    if not value:
        return None
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
