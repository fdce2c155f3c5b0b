"""Rate limits for the device endpoints, held in the shared Django cache.

The cache is Redis in production, so a limit holds across every server process and
machine: a client cannot multiply its budget by landing on different workers. Fixed
windows (``cache.add`` + ``cache.incr``, both atomic in Redis) are crude but need one
round trip and no scripts. Keys carry a hash of the identifier, never the e-mail itself.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from common import metrics
from common.outages import outage_kind
from onboarding import conf

logger = logging.getLogger(__name__)


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


@_fail_open(counts=True)
def hit(name: str, identifier: str | None, *, now: float | None = None) -> Verdict:
    """Count one request for ``identifier`` against the limit ``name`` (see ``conf``)."""
    limit, period = conf.rate_limit(name)
    if not identifier or limit <= 0:
        return Verdict(allowed=True, count=0, retry_after=0, limit=limit)
    now = time.time() if now is None else now
    window = int(now // period)
    key = _key(name, identifier, window)
    # The key lives a little longer than its window so a late incr never recreates it.
    cache.add(key, 0, timeout=period + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=period + 5)
        count = 1
    retry_after = max(1, int((window + 1) * period - now))
    return Verdict(allowed=count <= limit, count=count, retry_after=retry_after, limit=limit)


def enforce(name: str, identifier: str | None) -> None:
    """Count one request like :func:`hit`; raise :class:`RateLimited` when over the limit."""
    verdict = hit(name, identifier)
    if not verdict.allowed:
        raise RateLimited(verdict)


@_fail_open(counts=False)
def peek(name: str, identifier: str | None, *, now: float | None = None) -> Verdict:
    """Whether ``identifier`` is over the limit, without counting a request."""
    limit, period = conf.rate_limit(name)
    if not identifier or limit <= 0:
        return Verdict(allowed=True, count=0, retry_after=0, limit=limit)
    now = time.time() if now is None else now
    window = int(now // period)
    count = int(cache.get(_key(name, identifier, window)) or 0)
    retry_after = max(1, int((window + 1) * period - now))
    return Verdict(allowed=count < limit, count=count, retry_after=retry_after, limit=limit)


def _ip(value: str) -> str | None:
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
    remote = _ip(request.META.get("REMOTE_ADDR", "") or "")
    trusted = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if trusted <= 0:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    entries = [e for e in (p.strip() for p in forwarded.split(",")) if e]
    if len(entries) < trusted:
        # Fewer entries than proxies: the request did not come through all of them, so
        # none of the entries is trustworthy.
        return remote
    return _ip(entries[-trusted]) or remote
