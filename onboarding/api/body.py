"""Request bodies read with a hard cap, and parsed as JSON or a form.

The device API reads its bodies here and not through DRF's parsers, so the cap
(``ONBOARDING_MAX_BODY_BYTES``, 64 KiB) holds before a byte is read (``Content-Length``)
and while reading (a capped ``read``), and every malformed body is a 400, never a 5xx.
The verification page's confirm step refuses an oversized body with the same check.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.translation import gettext_noop
from rest_framework import status

from common.i18n import Phrase
from onboarding import conf
from onboarding.api.errors import APIError

#: Error descriptions (English; the API says them in the request's language).
BODY_TOO_LARGE = gettext_noop("The request body is larger than {limit} bytes.")
BODY_NOT_JSON = gettext_noop("The request body is not valid JSON.")
BODY_NOT_OBJECT = gettext_noop("The request body must be a JSON object.")
BODY_BAD_FORM = gettext_noop("The request body is not a valid form.")
BODY_CONTENT_TYPE = gettext_noop(
    "Send the body as application/json or application/x-www-form-urlencoded."
)
BODY_UNREADABLE = gettext_noop(
    "The request body could not be read (broken chunked encoding or a cut connection)."
)

#: What a malformed form makes Django's parsers raise (a charset unknown, bytes that
#: are not in it, too many fields...): the client's doing, so a 400.
_FORM_ERRORS = (SuspiciousOperation, ValueError, LookupError, UnicodeDecodeError)


class BodyTooLarge(APIError):
    """The body is larger than the cap: a 413, before or while reading it."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            "invalid_request",
            Phrase(BODY_TOO_LARGE, limit=limit),
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


def refuse_declared_too_large(request: HttpRequest) -> None:
    """Raise :class:`BodyTooLarge` if ``Content-Length`` announces more than the cap.

    Nothing is read: whoever reads the body next (this module, or Django's own form
    parsing) reads at most the announced length.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    limit = conf.max_body_bytes()
    if declared > limit:
        raise BodyTooLarge(limit)


def read_capped(request: HttpRequest) -> bytes:
    """The body, at most the cap: :class:`BodyTooLarge` if larger, APIError if unreadable."""
    refuse_declared_too_large(request)
    limit = conf.max_body_bytes()
    environ = getattr(request, "environ", {})
    try:
        if not request.META.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            # A chunked body (no Content-Length): Django would see it as empty, but
            # gunicorn terminates the stream, so it can be read here, capped all the same.
            body: bytes = environ["wsgi.input"].read(limit + 1)
        else:
            body = request.read(limit + 1)
    except Exception:
        # Whatever the server's reader raises for a malformed stream (gunicorn's
        # InvalidChunkSize, NoMoreData, a reset connection...) is the client's doing.
        raise APIError("invalid_request", BODY_UNREADABLE) from None
    if len(body) > limit:
        raise BodyTooLarge(limit)
    return body


def read_payload(request: HttpRequest) -> dict[str, Any]:
    """The body as a dict, from JSON or a form; APIError for anything else."""
    body = read_capped(request)
    if not body.strip():
        return {}
    content_type = (request.content_type or "").lower()
    charset = (request.content_params or {}).get("charset") or "utf-8"
    if content_type == "application/json" or content_type.endswith("+json"):
        return _json(body)
    parse = _FORM_PARSERS.get(content_type)
    if parse is None:
        raise APIError("invalid_request", BODY_CONTENT_TYPE)
    try:
        return parse(request, body, charset)
    except (MultiPartParserError, *_FORM_ERRORS):
        raise APIError("invalid_request", BODY_BAD_FORM) from None


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise APIError("invalid_request", BODY_NOT_JSON) from None
    if not isinstance(data, dict):
        raise APIError("invalid_request", BODY_NOT_OBJECT)
    return data


def _urlencoded(request: HttpRequest, body: bytes, charset: str) -> dict[str, Any]:
    form = QueryDict(body, encoding=charset)
    return {key: form.get(key) for key in form}


def _multipart(request: HttpRequest, body: bytes, charset: str) -> dict[str, Any]:
    """What curl -F and many HTTP libraries send for "a form"; files are ignored."""
    fields, _files = MultiPartParser(
        {**request.META, "CONTENT_LENGTH": str(len(body))},
        io.BytesIO(body),
        [MemoryFileUploadHandler()],
        charset,
    ).parse()
    return {key: fields.get(key) for key in fields}


_FORM_PARSERS: dict[str, Callable[[HttpRequest, bytes, str], dict[str, Any]]] = {
    "application/x-www-form-urlencoded": _urlencoded,
    "multipart/form-data": _multipart,
}
