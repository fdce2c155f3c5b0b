"""Every request to an IdP: checked destination, no redirects, timeouts, size limit, metrics.

``common.network`` decides where a connection may go (https in production, no private
addresses: SSRF) and connects only to the addresses it checked; redirects are never
followed (a redirect would bypass that check); every request has a timeout and an
overall deadline, and responses are read by streaming up to
``OUTBOUND_MAX_RESPONSE_BYTES`` (memory exhaustion by a hostile IdP).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import requests
from django.conf import settings
from django.utils.translation import gettext_noop

from common import metrics
from common.i18n import Phrase
from common.network import DisallowedDestination, OutboundSession, check_url
from identity.oidc.errors import (
    DESTINATION_REFUSED,
    DISCOVERY_FAILED,
    JWKS_UNAVAILABLE,
    RESPONSE_TOO_LARGE,
    TOKEN_REQUEST_FAILED,
    USERINFO_FAILED,
    OIDCError,
)

USER_AGENT = "igel-onboarding-service (OpenID Connect client)"

# What failed, as Phrases (common.i18n): English in logs, the reader's language in the
# admin's "Test discovery". ``what`` names the request ("Discovery", "JWKS", ...).
TOO_SLOW = gettext_noop("{what}: {url} took too long to answer.")
UNREACHABLE = gettext_noop("{what}: {url} could not be reached ({error}).")
REDIRECTED = gettext_noop(
    "{what}: {url} answered with a redirect to {location}; redirects are not followed, "
    "configure the final URL."
)
TOO_LARGE = gettext_noop("{what}: the response is larger than {limit} bytes.")
NOT_JSON = gettext_noop("{what}: the response is not JSON.")
NOT_AN_OBJECT = gettext_noop("{what}: the response is not a JSON object.")
HTTP_STATUS = gettext_noop("{what}: {url} answered HTTP {status}.")

#: The metrics label of each kind of request to an IdP (by the error code it fails with).
_OPERATIONS = {
    DISCOVERY_FAILED: "discovery",
    JWKS_UNAVAILABLE: "jwks",
    TOKEN_REQUEST_FAILED: "token",
    USERINFO_FAILED: "userinfo",
}


def request(
    method: str,
    url: str,
    *,
    what: str,
    error_code: str,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """One bounded request (see the module), counted and timed for ``/metrics``.

    Returns (status, content type, body). Network failures raise ``OIDCError(error_code)``;
    ``what`` names the request in the messages.
    """
    operation = _OPERATIONS.get(error_code, "other")
    started = time.monotonic()
    outcome = "ok"
    try:
        status, content_type, body = _request_once(
            method, url, what=what, error_code=error_code, data=data, headers=headers
        )
        if status >= 400:
            outcome = f"http_{status // 100}xx"
        return status, content_type, body
    except OIDCError as exc:
        outcome = exc.code
        raise
    finally:
        metrics.IDP_REQUESTS.labels(operation, outcome).inc()
        metrics.IDP_DURATION.labels(operation).observe(time.monotonic() - started)


def _request_once(
    method: str,
    url: str,
    *,
    what: str,
    error_code: str,
    data: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
) -> tuple[int, str, bytes]:
    try:
        check_url(url)
    except DisallowedDestination as exc:
        raise OIDCError(DESTINATION_REFUSED, f"{what}: {exc}") from None
    timeout = float(settings.OUTBOUND_HTTP_TIMEOUT)
    # requests' timeout bounds each socket operation; the session's deadline bounds the
    # whole exchange (headers included), so an IdP dripping one byte at a time cannot
    # hold a worker for long. The session also connects only to vetted addresses.
    all_headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    too_slow = OIDCError(error_code, Phrase(TOO_SLOW, what=what, url=url))
    with OutboundSession(deadline=2 * timeout) as session:
        try:
            with session.request(
                method,
                url,
                data=data,
                headers=all_headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                body = _read_capped(response, what=what)
        except DisallowedDestination as exc:
            raise OIDCError(DESTINATION_REFUSED, f"{what}: {exc}") from None
        except requests.RequestException as exc:
            if session.expired:
                raise too_slow from None
            raise OIDCError(
                error_code, Phrase(UNREACHABLE, what=what, url=url, error=type(exc).__name__)
            ) from None
        if session.expired:
            # The watchdog may have cut the body short without an error: never use it.
            raise too_slow
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        raise OIDCError(
            error_code,
            Phrase(REDIRECTED, what=what, url=url, location=location or "(nowhere)"),
        )
    return status, response.headers.get("Content-Type", ""), body


def _read_capped(response: requests.Response, *, what: str) -> bytes:
    """The body, refused as soon as it is known to exceed ``OUTBOUND_MAX_RESPONSE_BYTES``."""
    limit = int(settings.OUTBOUND_MAX_RESPONSE_BYTES)
    too_large = OIDCError(RESPONSE_TOO_LARGE, Phrase(TOO_LARGE, what=what, limit=limit))
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    for chunk in response.iter_content(chunk_size=16384):
        body.extend(chunk)
        if len(body) > limit:
            raise too_large
    return bytes(body)


def json_object(body: bytes, *, what: str, code: str) -> dict[str, Any]:
    """``body`` as a JSON object, or ``OIDCError(code)``."""
    try:
        value = json.loads(body)
    # RecursionError: a few KiB of "[[[[..." from a hostile server would otherwise be a 500.
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise OIDCError(code, Phrase(NOT_JSON, what=what)) from None
    if not isinstance(value, dict):
        raise OIDCError(code, Phrase(NOT_AN_OBJECT, what=what))
    return value


def get_json(
    url: str, *, what: str, error_code: str, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """GET ``url``; the answer must be HTTP 200 with a JSON object."""
    status, _ctype, body = request("GET", url, what=what, error_code=error_code, headers=headers)
    if status != 200:
        raise OIDCError(error_code, Phrase(HTTP_STATUS, what=what, url=url, status=str(status)))
    return json_object(body, what=what, code=error_code)
