"""The device API's error protocol, and Django's error handlers for everything under ``/api/``.

Every answer of the device endpoints, including framework errors, is JSON
``{"error": ..., "error_description": ...}``; nothing ever renders a stack trace or a
browsable page. The descriptions are module constants the tests reuse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_noop
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from common import metrics
from common.i18n import Phrase, translated
from common.outages import RETRY_AFTER_SECONDS, outage_kind
from onboarding import device_flow, ratelimit
from onboarding.device_flow import DEVICE_CODE_GRANT

# The name this logger had before the API became a package: log filters know it.
logger = logging.getLogger("onboarding.api")

# Error descriptions: English constants the tests reuse, said in the language the request
# asks for (Accept-Language) when the answer is written; the error codes stay English.
NOT_ROUTABLE = gettext_noop(
    "This e-mail address cannot be onboarded. Check it, or ask your administrator "
    "to register it for IGEL OS onboarding."
)
RATE_LIMITED = gettext_noop("Too many requests; try again in {seconds} seconds.")
METHOD_NOT_ALLOWED = gettext_noop("This endpoint accepts {methods} only.")
NOT_FOUND = gettext_noop("There is nothing at this address.")
NOT_ALLOWED = gettext_noop("Not allowed.")
BAD_REQUEST = gettext_noop("Bad request.")
SERVER_ERROR = gettext_noop("The server could not answer this request; try again later.")
TEMPORARILY_UNAVAILABLE = Phrase(
    gettext_noop("The service is temporarily unavailable; try again in {seconds} seconds."),
    seconds=RETRY_AFTER_SECONDS,
)
UNSUPPORTED_GRANT = Phrase(gettext_noop("The grant_type must be {grant}."), grant=DEVICE_CODE_GRANT)
UNKNOWN_DEVICE_CODE = gettext_noop("The device code is not known.")
TOKEN_DESCRIPTIONS = {
    device_flow.AUTHORIZATION_PENDING: gettext_noop("The user has not finished signing in yet."),
    device_flow.SLOW_DOWN: gettext_noop(
        "Polling too fast; wait {interval} seconds between requests."
    ),
    device_flow.EXPIRED_TOKEN: gettext_noop(
        "The device code has expired or was already used; start again."
    ),
    device_flow.ACCESS_DENIED: gettext_noop("The user could not be onboarded; start again."),
    device_flow.INVALID_GRANT: UNKNOWN_DEVICE_CODE,
}
INVALID_TOKEN = gettext_noop(  # noqa: S105 (an error message)
    "The ID token is not valid for any identity provider of this service."
)
NO_ROUTE = gettext_noop("The signed-in user is not registered for onboarding.")


class APIError(Exception):
    """An error answer: ``{"error": error, "error_description": description}``."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        headers: dict[str, str] | None = None,
        expected: bool = False,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status_code = status_code
        self.headers = headers or {}
        #: A normal step of the protocol (``authorization_pending``...), not a problem:
        #: logged at DEBUG only, as every device polls every few seconds.
        self.expected = expected


def error_body(error: str, description: str) -> dict[str, str]:
    """The answer's JSON as written: the description as given (English in the OpenAPI
    document's examples); :func:`described` says it in the request's language."""
    return {"error": error, "error_description": description}


def described(error: str, description: str) -> dict[str, str]:
    """The answer's JSON, its description in the request's language (Accept-Language)."""
    return error_body(error, translated(description))


def rate_limited(verdict: ratelimit.Verdict) -> APIError:
    return APIError(
        "slow_down",
        Phrase(RATE_LIMITED, seconds=verdict.retry_after),
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(verdict.retry_after)},
    )


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    body: dict[str, str]
    headers: dict[str, str]
    #: A normal step of the protocol: logged at DEBUG only (see ``APIError.expected``).
    expected: bool = False


def error_answer(exc: Exception, view: Any = None) -> ErrorAnswer:
    """Every exception of a device endpoint as a JSON error; unexpected ones are logged."""
    if isinstance(exc, ratelimit.RateLimited):
        exc = rate_limited(exc.verdict)
    if isinstance(exc, APIError):
        body = described(exc.error, exc.description)
        return ErrorAnswer(exc.status_code, body, exc.headers, expected=exc.expected)
    if isinstance(exc, exceptions.MethodNotAllowed):
        methods = ", ".join(m for m in getattr(view, "allowed_methods", []) if m != "OPTIONS")
        body = described("invalid_request", Phrase(METHOD_NOT_ALLOWED, methods=methods or "POST"))
        return ErrorAnswer(exc.status_code, body, {})
    if isinstance(exc, Http404 | exceptions.NotFound):
        return ErrorAnswer(404, described("not_found", NOT_FOUND), {})
    if isinstance(exc, PermissionDenied | exceptions.PermissionDenied):
        return ErrorAnswer(403, described("access_denied", NOT_ALLOWED), {})
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 60)
        return ErrorAnswer(429, described("slow_down", Phrase(RATE_LIMITED, seconds=wait)), {})
    if isinstance(exc, exceptions.APIException):
        detail = str(exc.detail) if isinstance(exc.detail, str) else BAD_REQUEST
        return ErrorAnswer(exc.status_code, described("invalid_request", detail), {})
    if isinstance(exc, SuspiciousOperation):
        return ErrorAnswer(400, described("invalid_request", BAD_REQUEST), {})
    if kind := outage_kind(exc):
        # The database or the cache is down: the device should simply try again later.
        metrics.UNAVAILABLE.labels(kind).inc()
        logger.warning("The %s is unavailable: %s", kind, type(exc).__name__)
        body = described("temporarily_unavailable", TEMPORARILY_UNAVAILABLE)
        return ErrorAnswer(503, body, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    logger.exception("Unexpected error in a device API view", exc_info=exc)
    return ErrorAnswer(500, described("server_error", SERVER_ERROR), {})


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler of the API's DRF views (the OpenAPI document): ``error_answer``."""
    answer = error_answer(exc, context.get("view"))
    set_rollback()
    return Response(answer.body, status=answer.status, headers=answer.headers)


# --- Framework-level errors under /api/ ---------------------------------------------------


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt  # a POST to an unknown address is a 404, not a CSRF failure page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Unknown addresses under ``/api/``: JSON 404 even with DEBUG on."""
    return JsonResponse(described("not_found", NOT_FOUND), status=404)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(described("invalid_request", BAD_REQUEST), status=400)
    # django-stubs want an exception; Django always passes one to handler400.
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(described("server_error", SERVER_ERROR), status=500)
    return defaults.server_error(request)
