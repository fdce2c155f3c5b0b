"""The Redis client behind the default cache, for the few atomic steps the cache API lacks.

Django's cache API has no server-side scripts, and its Redis backend builds a new
client object (copying some two hundred response callbacks) for every call. The
device path's hot steps (a rate-limit count, a poll) each run one script through the
client returned here, made once per cache backend object (Django keeps one per thread)
and kept on it, so it goes away with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import NoScriptError

_ATTRIBUTE = "_obs_script_client"


def redis_client() -> Any | None:
    """A ``redis.Redis`` for the default cache's server, or None when it is not Redis.

    (``django.core.cache.cache`` is a proxy: the backend itself is ``caches["default"]``.)
    """
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    # Django's RedisCacheClient (private API; tests/onboarding/test_pollstate.py pins it).
    cache_client: Any = backend._cache
    client = getattr(cache_client, _ATTRIBUTE, None)
    if client is None:
        pool = cache_client._get_connection_pool(True)  # the server written to
        client = cache_client._client(connection_pool=pool)
        setattr(cache_client, _ATTRIBUTE, client)
    return client


def run_script(client: Any, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run a server-side script by its SHA1 (EVALSHA): the text crosses the wire only
    when the server does not know it yet (first use, restart, failover)."""
    sha = _SHAS.get(script)
    if sha is None:
        sha = _SHAS.setdefault(script, hashlib.sha1(script.encode()).hexdigest())  # noqa: S324
    try:
        return client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        return client.eval(script, len(keys), *keys, *args)


_SHAS: dict[str, str] = {}


def cache_get_many(keys: Sequence[str]) -> dict[str, Any]:
    """``cache.get_many`` of the default cache, on Redis through the client kept above.

    The same keys and values as the cache API (Django's key function and serializer);
    what it saves is the client object Django's backend builds for every call, which
    costs more than the round trip on the device path's warm reads.
    """
    client = redis_client()
    if client is None:
        return cache.get_many(keys)
    backend: Any = caches["default"]
    values = client.mget([backend.make_and_validate_key(key) for key in keys])
    serializer = backend._cache._serializer
    return {key: serializer.loads(v) for key, v in zip(keys, values, strict=True) if v is not None}


def cache_get(key: str) -> Any:
    """``cache.get(key)`` (None when missing), as :func:`cache_get_many` reads it."""
    return cache_get_many([key]).get(key)
