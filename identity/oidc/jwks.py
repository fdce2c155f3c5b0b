"""The IdP's signing keys (JWKS): fetched, cached per issuer, refreshed within limits.

The JWKS is cached per issuer in the shared Django cache (every process benefits). An
unknown ``kid`` causes at most one refresh per :data:`JWKS_REFRESH_INTERVAL` per issuer,
single-flight across processes (``cache.add`` as a lock), so a flood of forged tokens
cannot turn into a flood of requests to the IdP. When the IdP is unreachable the cached
keys keep working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_noop

from common import metrics
from common.i18n import Phrase
from identity.oidc import http
from identity.oidc.cache import (
    COLD_RETRY_INTERVAL,
    STALE_KEEP_SECONDS,
    cache_key,
    forget_local,
    now,
    shared_entry,
)
from identity.oidc.config import ProviderConfig
from identity.oidc.errors import JWKS_UNAVAILABLE, OIDCError

logger = logging.getLogger(__name__)

#: A JWKS younger than this is used without asking the IdP (no request on the hot path).
JWKS_MAX_AGE = 6 * 3600
#: At most one JWKS refresh per issuer in this many seconds, whatever the tokens say.
JWKS_REFRESH_INTERVAL = 60
MAX_JWKS_KEYS = 50

#: The key type (and curves) each algorithm needs.
_KEY_TYPES: dict[str, tuple[str, frozenset[str] | None]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}


def key_fits(jwk: Mapping[str, Any], alg: str) -> bool:
    kty, curves = _KEY_TYPES[alg]
    if jwk.get("kty") != kty:
        return False
    if curves is not None and jwk.get("crv") not in curves:
        return False
    if jwk.get("use") not in (None, "sig"):
        return False
    if "alg" in jwk and jwk["alg"] != alg:
        return False
    ops = jwk.get("key_ops")
    return not (isinstance(ops, list) and "verify" not in ops)


def candidates(keys: list[dict[str, Any]], alg: str, kid: str | None) -> list[dict[str, Any]]:
    fitting = [k for k in keys if key_fits(k, alg)]
    if kid is not None:
        return [k for k in fitting if k.get("kid") == kid]
    # No kid: acceptable only if exactly one key could have made this signature.
    return fitting if len(fitting) == 1 else []


# What failed, as Phrases (common.i18n): English in logs, translated in the admin.
NO_KEYS = gettext_noop("{what}: {url} has no 'keys' list.")
TOO_MANY_KEYS = gettext_noop("{what}: {url} lists more than {limit} keys.")


def fetch_jwks(jwks_uri: str) -> list[dict[str, Any]]:
    """Fetch the JWKS now (no cache) and return its keys."""
    what = "JWKS"
    document = http.get_json(jwks_uri, what=what, error_code=JWKS_UNAVAILABLE)
    keys = document.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise OIDCError(JWKS_UNAVAILABLE, Phrase(NO_KEYS, what=what, url=jwks_uri))
    if len(keys) > MAX_JWKS_KEYS:
        raise OIDCError(
            JWKS_UNAVAILABLE, Phrase(TOO_MANY_KEYS, what=what, url=jwks_uri, limit=MAX_JWKS_KEYS)
        )
    return keys


def jwks_cache_key(config: ProviderConfig, jwks_uri: str) -> str:
    return cache_key("jwks", config.issuer, jwks_uri)


def jwks_refresh_lock_key(config: ProviderConfig, jwks_uri: str) -> str:
    """The cache key of the single-flight lock (tests and operators may delete it)."""
    return jwks_cache_key(config, jwks_uri) + ":lock"


def remember_keys(
    config: ProviderConfig, jwks_uri: str, keys: list[dict[str, Any]]
) -> dict[str, Any]:
    """Cache ``keys`` as fetched now; returns the cache entry."""
    entry = {"keys": keys, "fetched_at": now()}
    cache.set(jwks_cache_key(config, jwks_uri), entry, timeout=STALE_KEEP_SECONDS)
    forget_local(jwks_cache_key(config, jwks_uri))
    return entry


def _refresh_jwks(
    config: ProviderConfig, jwks_uri: str, cached: dict[str, Any] | None, *, force: bool = False
) -> dict[str, Any] | None:
    """Fetch the JWKS if this process wins the lock and the last attempt is old enough.

    Returns the new cache entry, or None when no request was made or it failed (the
    caller keeps the cached keys). ``force`` skips the age limit (never the lock): see
    :func:`signing_keys`.
    """
    lock = jwks_refresh_lock_key(config, jwks_uri)
    # The lock's own expiry only matters if a process dies while holding it.
    if not cache.add(lock, 1, timeout=int(4 * float(settings.OUTBOUND_HTTP_TIMEOUT)) + 1):
        return None
    try:
        if not _attempt_allowed(config, jwks_uri, cold=cached is None, force=force):
            return None
        cause = "forced" if force else "refresh" if cached is not None else "cold"
        try:
            keys = fetch_jwks(jwks_uri)
        except OIDCError as exc:
            metrics.JWKS_REFRESHES.labels("failed", cause).inc()
            logger.warning("JWKS refresh for %s failed: %s", config.issuer, exc.message)
            return None
        metrics.JWKS_REFRESHES.labels("ok", cause).inc()
        return remember_keys(config, jwks_uri, keys)
    finally:
        cache.delete(lock)


def _attempt_allowed(config: ProviderConfig, jwks_uri: str, *, cold: bool, force: bool) -> bool:
    """Whether the last fetch is old enough for another (``force``: whatever its age),
    and if so, record this one.

    Recorded before the request, so failures count against the limit too: a dead IdP is
    not hammered either. A cold cache retries a failed first fetch sooner than a
    refresh; but every fetch counts toward the refresh limit, so a cold start followed
    by a flood of unknown kids still makes at most one JWKS request a minute.
    """
    key = jwks_cache_key(config, jwks_uri)
    attempt_key, interval = (
        (key + ":cold", COLD_RETRY_INTERVAL)
        if cold
        else (key + ":refreshed", JWKS_REFRESH_INTERVAL)
    )
    started = now()
    last = cache.get(attempt_key)
    if not force and last is not None and started - last < interval:
        return False
    cache.set(attempt_key, started, timeout=STALE_KEEP_SECONDS)
    if cold:
        cache.set(key + ":refreshed", started, timeout=STALE_KEEP_SECONDS)
    return True


def _wait_for_jwks(key: str, *, newer_than: float | None = None) -> dict[str, Any] | None:
    """Another process is fetching: wait for its result (newer than a copy), briefly."""
    deadline = time.monotonic() + 2 * float(settings.OUTBOUND_HTTP_TIMEOUT)
    while time.monotonic() < deadline:
        time.sleep(0.05)
        entry = cache.get(key)
        if entry is not None and (newer_than is None or entry["fetched_at"] > newer_than):
            return entry
    return None


def signing_keys(
    config: ProviderConfig, jwks_uri: str, *, want_kid: str | None = None, force: bool = False
) -> list[dict[str, Any]]:
    """The IdP's JWKS keys, from the cache when possible.

    Fetches when nothing is cached, when the copy is older than :data:`JWKS_MAX_AGE`,
    or when ``want_kid`` is not among the cached keys (key rotation) — the latter two at
    most once per :data:`JWKS_REFRESH_INTERVAL`. Raises only when there are no keys at all.

    ``force``: the token naming ``want_kid`` came from our own request to the IdP's token
    endpoint, so an unknown kid is the IdP's word that it rotated, not a forger's: one
    refresh is made even within the interval. A forger cannot use this, as each such
    token costs a code redemption for a sign-in state we issued (once each).
    """
    key = jwks_cache_key(config, jwks_uri)
    entry = shared_entry(key)
    if entry is not None:
        fresh = now() - entry["fetched_at"] < JWKS_MAX_AGE
        known = want_kid is None or any(k.get("kid") == want_kid for k in entry["keys"])
        if fresh and known:
            return entry["keys"]
        forced = force and not known
        refreshed = _refresh_jwks(config, jwks_uri, entry, force=forced)
        if refreshed is None and forced and cache.get(jwks_refresh_lock_key(config, jwks_uri)):
            refreshed = _wait_for_jwks(key, newer_than=entry["fetched_at"])
        return (refreshed or cache.get(key) or entry)["keys"]
    entry = _refresh_jwks(config, jwks_uri, None)
    if entry is None:
        # Not fetched here: another thread or process is fetching (wait for it), or has
        # just stored the keys, after this call found none (read them; a cold start's
        # concurrent lookups were answered 503 for lack of this second look).
        lock = jwks_refresh_lock_key(config, jwks_uri)
        entry = _wait_for_jwks(key) if cache.get(lock) else cache.get(key)
    if entry is None:
        raise OIDCError(
            JWKS_UNAVAILABLE,
            f"The signing keys of {config.issuer} could not be fetched from {jwks_uri}.",
        )
    return entry["keys"]
