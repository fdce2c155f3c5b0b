"""What the client keeps in the shared Django cache (every process benefits), and the clock
that cached ages and token times are measured by."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from common.redisclient import cache_get_many

#: How long a JWKS (or discovery document) is kept at all: a stale copy is still used
#: when the IdP cannot be reached.
STALE_KEEP_SECONDS = 7 * 24 * 3600
#: With nothing cached, a failed fetch is not retried for this long (an IdP that is
#: down is not asked once per incoming token).
COLD_RETRY_INTERVAL = 10


def cache_key(kind: str, *parts: str) -> str:
    # Hashed: issuers are arbitrary URLs, cache keys must stay short and safe (memcached).
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]
    return f"oidc:{kind}:{digest}"


def now() -> float:
    """``identity.oidc.clock()``, looked up at each call: replacing the package's ``clock``
    (as the tests do, to test "once a minute" without waiting) reaches every module."""
    from identity import oidc  # the package; complete by the time anyone asks the time

    return oidc.clock()


#: Seconds a process reuses a discovery document, a JWKS or an IdP candidate list it read
#: from the shared cache before reading it again: a lookup needs all three, and each read
#: was a Redis round trip and an unpickling. Freshness is still judged by their own
#: ``fetched_at`` (and generation); what this process writes replaces its copy at once,
#: what another process writes (a refresh, an identity provider saved in the admin) is
#: seen within this.
LOCAL_SECONDS = 5.0
_LOCAL_MAX = 1000
_local: dict[str, tuple[float, Any]] = {}
#: The threads of a process share ``_local``: every change and walk holds this.
_local_lock = threading.Lock()


def shared_entry(key: str) -> Any:
    """``cache.get(key)`` of the shared cache, through this process's short-lived copy."""
    return shared_entries([key]).get(key)


def shared_entries(keys: list[str]) -> dict[str, Any]:
    """``cache.get_many(keys)`` (one round trip), through this process's short-lived copy."""
    local_key = "\n".join(keys)
    at = time.monotonic()
    held = _local.get(local_key)
    if held is not None and at - held[0] < LOCAL_SECONDS:
        return dict(held[1])
    values = cache_get_many(keys)
    with _local_lock:
        if len(_local) >= _LOCAL_MAX:
            _local.clear()
        if values:
            _local[local_key] = (at, values)
        else:
            _local.pop(local_key, None)
    return dict(values)


def forget_local(key: str | None = None) -> None:
    """Drop this process's copies that hold ``key`` (after writing it), or all of them."""
    with _local_lock:
        if key is None:
            _local.clear()
            return
        for local_key in [k for k in _local if key in k.split("\n")]:
            del _local[local_key]
