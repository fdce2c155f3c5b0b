"""Which exceptions mean "a backing service is down", not "this request is wrong".

A lost or refused database connection, a statement cancelled by ``statement_timeout``,
Redis refusing or timing out: the request would succeed later, so it is answered 503
with ``Retry-After`` (the API) or a friendly page (people), never a 500.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from redis import exceptions as redis_exceptions

#: Seconds a client is asked to wait before trying again after a 503.
RETRY_AFTER_SECONDS = 30

DATABASE = "database"
CACHE = "cache"

_KINDS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((OperationalError, InterfaceError), DATABASE),
    ((redis_exceptions.ConnectionError, redis_exceptions.TimeoutError), CACHE),
)


def outage_kind(exc: BaseException | None) -> str:
    """``database`` or ``cache`` when ``exc`` (or what caused it) is an outage, else ""."""
    seen = 0
    while exc is not None and seen < 8:
        for types, kind in _KINDS:
            if isinstance(exc, types):
                return kind
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return ""
