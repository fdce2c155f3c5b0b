"""What the client keeps in the shared Django cache (every process benefits), and the clock
that cached ages and token times are measured by."""

from __future__ import annotations

import hashlib

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
