"""The device API (spec section 3): one small view per operation, JSON errors only.

``errors`` (the error protocol, and Django's error handlers under ``/api/``), ``body``
(bodies read with a hard cap), ``serializers``, ``schema`` (the OpenAPI document and its
examples) and ``views``. The names others use are importable from here, as they were
when this was one module (``config.urls`` names ``onboarding.api.handler400``).
"""

from __future__ import annotations

from onboarding.api.body import (
    BODY_BAD_FORM,
    BODY_CONTENT_TYPE,
    BODY_NOT_JSON,
    BODY_NOT_OBJECT,
    BODY_TOO_LARGE,
    BODY_UNREADABLE,
)
from onboarding.api.errors import (
    INVALID_TOKEN,
    METHOD_NOT_ALLOWED,
    NO_ROUTE,
    NOT_FOUND,
    NOT_ROUTABLE,
    RATE_LIMITED,
    SERVER_ERROR,
    TEMPORARILY_UNAVAILABLE,
    TOKEN_DESCRIPTIONS,
    UNKNOWN_DEVICE_CODE,
    UNSUPPORTED_GRANT,
    APIError,
    api_exception_handler,
    api_not_found,
    error_body,
    handler400,
    handler404,
    handler500,
)
from onboarding.api.schema import SchemaView
from onboarding.api.views import DeviceAuthorizeView, DeviceTokenView, OnboardingLookupView
from onboarding.device_flow import DEVICE_CODE_GRANT

__all__ = [
    "BODY_BAD_FORM",
    "BODY_CONTENT_TYPE",
    "BODY_NOT_JSON",
    "BODY_NOT_OBJECT",
    "BODY_TOO_LARGE",
    "BODY_UNREADABLE",
    "DEVICE_CODE_GRANT",
    "INVALID_TOKEN",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "NOT_ROUTABLE",
    "NO_ROUTE",
    "RATE_LIMITED",
    "SERVER_ERROR",
    "TEMPORARILY_UNAVAILABLE",
    "TOKEN_DESCRIPTIONS",
    "UNKNOWN_DEVICE_CODE",
    "UNSUPPORTED_GRANT",
    "APIError",
    "DeviceAuthorizeView",
    "DeviceTokenView",
    "OnboardingLookupView",
    "SchemaView",
    "api_exception_handler",
    "api_not_found",
    "error_body",
    "handler400",
    "handler404",
    "handler500",
]
