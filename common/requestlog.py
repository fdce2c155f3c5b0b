"""What one request did, for its log line: filled in by the code that knows it.

The request-log middleware (``operations.middleware``) opens a context per request; the
device flow adds the tenant and the outcome (``annotate``); the middleware writes it all
in one line. Nothing here may hold a token, a device or user code, an OIDC state or a
secret: only ids, short codes and reason names.
"""

from __future__ import annotations

import contextvars
from typing import Any

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "request_log_context", default=None
)
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def begin(request_id: str) -> contextvars.Token[dict[str, Any] | None]:
    _request_id.set(request_id)
    return _context.set({})


def end(token: contextvars.Token[dict[str, Any] | None]) -> dict[str, Any]:
    fields = _context.get() or {}
    _context.reset(token)
    _request_id.set("")
    return fields


def annotate(**fields: Any) -> None:
    """Add fields to the current request's log line (ignored outside a request)."""
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None and v != ""})


def current_request_id() -> str:
    return _request_id.get()
