"""Per-request operations: the request id, one log line, metrics, probes, outages.

``RequestLogMiddleware`` goes first in ``MIDDLEWARE`` so it times and logs everything;
``ProbeMiddleware`` right after it answers ``/healthz``, ``/readyz`` and ``/metrics``
before host validation, HTTPS redirects, sessions or CSRF (a load balancer probes by IP
address over plain HTTP); ``OutageMiddleware`` turns a database or cache outage in a
view into a 503.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from common import metrics, requestlog
from common.outages import outage_kind
from operations import health, outages
from operations import metrics as metrics_view

logger = logging.getLogger("obs.request")

#: A client's X-Request-ID is kept when it looks like an id (a proxy's, a UUID...);
#: anything else is replaced, so a log line never carries arbitrary client text.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

#: Outcomes of the device API that are the normal rhythm of a device, not news.
QUIET_OUTCOMES = frozenset({"authorization_pending", "slow_down"})

PROBES: dict[str, tuple[str, Callable[[HttpRequest], HttpResponse]]] = {
    "/healthz": ("healthz", health.healthz),
    "/readyz": ("readyz", health.readyz),
    "/metrics": ("metrics", metrics_view.metrics),
}


def _endpoint(request: HttpRequest) -> str:
    """A bounded label for the request: the probe or URL name, never the raw path."""
    probe = getattr(request, "probe_name", "")
    if probe:
        return probe
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name:
        return match.view_name
    return "unmatched"


def _level(status: int, fields: dict[str, object], endpoint: str) -> int:
    if status >= 500:
        return logging.ERROR
    if endpoint in PROBES_NAMES or fields.get("outcome") in QUIET_OUTCOMES:
        return logging.DEBUG
    return logging.INFO


PROBES_NAMES = frozenset(name for name, _view in PROBES.values())


class RequestLogMiddleware:
    """One line per request: id, method, path (no query), status, duration, and what
    the device flow annotated (tenant, outcome, reason). Returns ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = requestlog.begin(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            fields = requestlog.end(token)
        duration = time.perf_counter() - started
        response["X-Request-ID"] = request_id
        endpoint = _endpoint(request)
        status = response.status_code
        metrics.HTTP_REQUESTS.labels(endpoint, request.method or "", str(status)).inc()
        metrics.HTTP_DURATION.labels(endpoint).observe(duration)
        line = {
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(duration * 1000, 1),
            "endpoint": endpoint,
            **fields,
        }
        logger.log(
            _level(status, fields, endpoint),
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={"fields": line},
        )
        # This line replaces Django's "Bad Request: /path" warning for every 4xx (which
        # would make each pending poll a warning); tracebacks of 500s are logged anyway.
        response._has_been_logged = True  # type: ignore[attr-defined]  # Django's own flag
        return response


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path.rstrip("/"))
        if probe is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        name, view = probe
        request.probe_name = name  # type: ignore[attr-defined]  # for the request log
        return view(request)


class OutageMiddleware:
    """A view that fails because the database or the cache is down answers 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        kind = outage_kind(exception)
        if not kind:
            return None
        return outages.unavailable(request, kind, exception)
