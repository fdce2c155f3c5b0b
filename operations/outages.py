"""The 503 answer when a backing service is down: JSON for the API, a page for people."""

from __future__ import annotations

import logging
import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from common import metrics
from common.outages import RETRY_AFTER_SECONDS, outage_kind

logger = logging.getLogger("obs.outage")

UNAVAILABLE_DESCRIPTION = "The service is temporarily unavailable; try again in {seconds} seconds."


def unavailable(request: HttpRequest, kind: str, exception: BaseException | None) -> HttpResponse:
    """503 with ``Retry-After``; the cause is logged (one line, no traceback)."""
    metrics.UNAVAILABLE.labels(kind).inc()
    logger.warning(
        "The %s is unavailable: %s",
        kind,
        type(exception).__name__ if exception else "unknown",
        extra={"fields": {"dependency": kind, "path": request.path}},
    )
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {
                "error": "temporarily_unavailable",
                "error_description": UNAVAILABLE_DESCRIPTION.format(seconds=RETRY_AFTER_SECONDS),
            },
            status=503,
        )
    else:
        # Rendered without the request: its context processors would ask the session
        # and the user, that is the database that is down.
        response = HttpResponse(
            render_to_string("operations/unavailable.html", {"seconds": RETRY_AFTER_SECONDS}),
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's last resort (DEBUG off): an outage raised outside a view is still a 503."""
    exception = sys.exc_info()[1]
    kind = outage_kind(exception)
    if kind:
        return unavailable(request, kind, exception)
    from onboarding.api import handler500 as default_handler500

    return default_handler500(request)
