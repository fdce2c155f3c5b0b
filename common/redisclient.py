"""The Redis client behind the default cache, for the few atomic steps the cache API lacks.

Django's cache API has no server-side scripts, and its Redis backend builds a new
client object (copying some two hundred response callbacks) for every call. The
device path's hot steps (a rate-limit count, a poll) each run one script through the
client returned here, made once per cache backend object (Django keeps one per thread)
and kept on it, so it goes away with it.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

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
