"""The Redis client behind the default cache, for the few atomic steps the cache API lacks.

Django's cache API has no server-side scripts, and its Redis backend builds a new
client object (copying some two hundred response callbacks) for every call. The
device path's hot steps (a rate-limit count, a poll) each run one script through the
client returned here: one per connection pool, so per process, made once.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def redis_client() -> Any | None:
    """A ``redis.Redis`` for the default cache's server, or None when it is not Redis.

    (``django.core.cache.cache`` is a proxy: the backend itself is ``caches["default"]``.)
    """
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    cache_client: Any = backend._cache  # Django's RedisCacheClient (private API, pinned by tests)
    pool = cache_client._get_connection_pool(True)  # the server written to
    client = _clients.get(pool)
    if client is None:
        with _lock:
            client = _clients.get(pool)
            if client is None:
                client = cache_client._client(connection_pool=pool)
                _clients[pool] = client
    return client
