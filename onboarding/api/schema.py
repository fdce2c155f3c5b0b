"""The OpenAPI document of the device API: each operation's description and examples,
and the view that serves the document.

Each ``*_SCHEMA`` decorates its view's ``post``; the examples are built from the same
constants as the real answers, so the document cannot drift from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.utils import translation
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import exceptions, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from onboarding.api.body import BODY_TOO_LARGE
from onboarding.api.errors import (
    INVALID_TOKEN,
    NO_ROUTE,
    NOT_ROUTABLE,
    RATE_LIMITED,
    TEMPORARILY_UNAVAILABLE,
    TOKEN_DESCRIPTIONS,
    UNSUPPORTED_GRANT,
    api_exception_handler,
    error_body,
)
from onboarding.api.serializers import (
    AuthorizeFormSerializer,
    AuthorizeInputSerializer,
    AuthorizeOutputSerializer,
    LookupInputSerializer,
    OnboardingAnswerSerializer,
    TokenInputSerializer,
)

# --- Error shapes, for the document only ----------------------------------------------


def _error_serializer(name: str, codes: list[str]) -> type[serializers.Serializer]:
    return type(
        name,
        (serializers.Serializer,),
        {
            "error": serializers.ChoiceField(choices=codes),
            "error_description": serializers.CharField(),
            "__module__": __name__,
        },
    )


AuthorizeErrorSerializer = _error_serializer("AuthorizeError", ["invalid_request"])
TokenErrorSerializer = _error_serializer(
    "TokenError",
    [
        "authorization_pending",
        "slow_down",
        "expired_token",
        "access_denied",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_request",
    ],
)
LookupErrorSerializer = _error_serializer(
    "LookupError", ["invalid_request", "invalid_token", "no_route"]
)
GenericErrorSerializer = _error_serializer(
    "Error", ["invalid_request", "slow_down", "not_found", "server_error"]
)


def _error(description: str, examples: dict[str, dict[str, str]] | None = None) -> OpenApiResponse:
    """A response of the generic error shape, with its examples by name."""
    return OpenApiResponse(
        GenericErrorSerializer,
        description=description,
        examples=[OpenApiExample(name, value=value) for name, value in (examples or {}).items()]
        or None,
    )


_COMMON_ERRORS = {
    405: _error("Only POST is accepted."),
    413: _error(
        "The body is larger than 64 KiB; it is not read.",
        {"too large": error_body("invalid_request", BODY_TOO_LARGE.format(limit=65536))},
    ),
    429: _error(
        "Rate limited per client address or per e-mail; see Retry-After.",
        {"rate limited": error_body("slow_down", RATE_LIMITED.format(seconds=42))},
    ),
    500: _error("An unexpected error; never carries details."),
    503: _error(
        "A service this one depends on (database, cache, or for a lookup the identity "
        "provider) is unavailable; try again after Retry-After seconds.",
        {"temporarily unavailable": error_body("temporarily_unavailable", TEMPORARILY_UNAVAILABLE)},
    ),
}

_EXAMPLE_ANSWER = {
    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6Im9uYm9hcmRpbmcrand0In0.eyJ...",
    "token_type": "Bearer",
    "expires_in": 600,
    "onboarding": {
        "display_name": "Berlin UMS",
        "ums_hostname": "UMS01.Example.com",
        "ums_port": 8443,
        "target": "ums",
        "root_certificate_chain": "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n",
        "certificate_fingerprints_sha256": ["AB:CD:EF:..."],
        "user": "user@example.com",
        "structure_tag": "berlin/floor-2",
    },
}
_ANSWER = OpenApiResponse(
    OnboardingAnswerSerializer, examples=[OpenApiExample("onboarded", value=_EXAMPLE_ANSWER)]
)

# --- Each operation --------------------------------------------------------------------


AUTHORIZE_SCHEMA = extend_schema(
    operation_id="device_authorize",
    summary="Start onboarding a device (RFC 8628 device authorization request)",
    description=(
        "The device sends its user's e-mail; the answer carries the codes to show the user. "
        "Any e-mail that cannot be onboarded gets the same 400 answer, whatever the reason. "
        "`client_id` and `scope`, which OAuth client libraries send, are accepted and ignored: "
        "the device is not a registered client and the answer has one fixed scope."
    ),
    request={
        "application/json": AuthorizeInputSerializer,
        "application/x-www-form-urlencoded": AuthorizeFormSerializer,
    },
    responses={
        200: OpenApiResponse(
            AuthorizeOutputSerializer,
            examples=[
                OpenApiExample(
                    "started",
                    value={
                        "device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
                        "user_code": "WDJB-MJHT",
                        "verification_uri": "https://obs.example.com/device",
                        "verification_uri_complete": "https://obs.example.com/device?user_code=WDJB-MJHT",
                        "expires_in": 600,
                        "interval": 5,
                    },
                )
            ],
        ),
        400: OpenApiResponse(
            AuthorizeErrorSerializer,
            description="Malformed request, or an e-mail that cannot be onboarded.",
            examples=[
                OpenApiExample("not routable", value=error_body("invalid_request", NOT_ROUTABLE)),
                OpenApiExample(
                    "malformed",
                    value=error_body("invalid_request", "email: This field is required."),
                ),
            ],
        ),
        **_COMMON_ERRORS,
    },
)

TOKEN_SCHEMA = extend_schema(
    operation_id="device_token",
    summary="Poll for the route (RFC 8628 device access token request)",
    description=(
        "Poll no faster than `interval` seconds. Answers 400 with `authorization_pending` until "
        "the user has signed in, `slow_down` when polled too fast (the interval grows by 5 s), "
        "`access_denied` when the user failed or has no route, `expired_token` when the code "
        "expired or was already used; 200 once with the route. The 200 is an RFC 6749 "
        "token response (`access_token`, `token_type`, `expires_in`) beside `onboarding`, so "
        "standard RFC 8628 clients complete; `client_id` and `scope` are accepted and ignored."
    ),
    request={
        "application/json": TokenInputSerializer,
        "application/x-www-form-urlencoded": TokenInputSerializer,
    },
    responses={
        200: _ANSWER,
        400: OpenApiResponse(
            TokenErrorSerializer,
            description="Not (yet) answered; `error` says why.",
            examples=[
                OpenApiExample(code, value=error_body(code, text.format(interval=10)))
                for code, text in TOKEN_DESCRIPTIONS.items()
            ]
            + [
                OpenApiExample(
                    "unsupported_grant_type",
                    value=error_body("unsupported_grant_type", UNSUPPORTED_GRANT),
                ),
            ],
        ),
        **_COMMON_ERRORS,
    },
)

LOOKUP_SCHEMA = extend_schema(
    operation_id="onboarding_lookup",
    summary="Look up the route with an ID token the device obtained itself",
    description=(
        "The ID token is validated against the identity provider whose issuer and client ID it "
        "names (signature, iss, aud, exp, Entra tid; issued at most 10 minutes ago). The 200 "
        "is the same token response as the token endpoint's, with its onboarding assertion."
    ),
    request={
        "application/json": LookupInputSerializer,
        "application/x-www-form-urlencoded": LookupInputSerializer,
    },
    responses={
        200: _ANSWER,
        400: OpenApiResponse(
            LookupErrorSerializer,
            description="Malformed request.",
            examples=[
                OpenApiExample(
                    "malformed",
                    value=error_body("invalid_request", "id_token: This field is required."),
                )
            ],
        ),
        401: OpenApiResponse(
            LookupErrorSerializer,
            description="The ID token is not valid.",
            examples=[
                OpenApiExample("invalid_token", value=error_body("invalid_token", INVALID_TOKEN))
            ],
        ),
        404: OpenApiResponse(
            LookupErrorSerializer,
            description="The token is valid but its user has no route.",
            examples=[OpenApiExample("no_route", value=error_body("no_route", NO_ROUTE))],
        ),
        **_COMMON_ERRORS,
    },
)


# --- The document ----------------------------------------------------------------------


class SchemaNegotiation(DefaultContentNegotiation):
    """``?format=`` first, then ``Accept``; JSON when neither names a known renderer.

    The document is the same whatever is asked for, so a client sending
    ``Accept: application/json`` or ``text/html`` (or ``?format=xml``) gets the JSON
    document rather than a 406 or a 404.
    """

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        requested = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if requested:
            chosen = next((r for r in renderers if r.format == requested), renderers[0])
            return chosen, chosen.media_type
        try:
            return super().select_renderer(request, renderers)
        except (exceptions.NotAcceptable, Http404):
            return renderers[0], renderers[0].media_type


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 document; JSON unless ``?format=yaml`` (JSON is also valid YAML)."""

    renderer_classes = [
        OpenApiJsonRenderer,
        OpenApiJsonRenderer2,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ]
    content_negotiation_class = SchemaNegotiation
    http_method_names = ["get", "head"]

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return api_exception_handler

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """The document is English whatever the reader's language: it is the contract
        device software is written against (docs/i18n.md). Rendered here, so no lazy
        label is turned into text after the language is restored."""
        with translation.override("en"):
            response = super().dispatch(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse):
                response.render()
        response["Content-Language"] = "en"
        return response
