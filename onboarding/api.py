"""The device API (spec section 3): one small view per operation, JSON errors only.

Every answer of these views, including framework errors, is JSON
``{"error": ..., "error_description": ...}``; nothing ever renders a stack trace or a
browsable page. Bodies are read by :meth:`DeviceAPIView.read_payload` and not by DRF's
parsers, so the 64 KiB cap holds before a byte is read (``Content-Length``) and while
reading (a capped ``read``), and every malformed body is a 400, never a 5xx.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from common import metrics, requestlog
from common.outages import RETRY_AFTER_SECONDS, outage_kind
from onboarding import conf, device_flow, lookup, ratelimit
from onboarding.device_flow import DEVICE_CODE_GRANT
from onboarding.events import REASON_RATE_LIMITED, DeviceInfo, EventRecorder
from onboarding.models import EventAction

logger = logging.getLogger(__name__)

# Error descriptions, as constants the tests reuse.
NOT_ROUTABLE = (
    "This e-mail address cannot be onboarded. Check it, or ask your administrator "
    "to register it for IGEL OS onboarding."
)
BODY_TOO_LARGE = "The request body is larger than {limit} bytes."
BODY_NOT_JSON = "The request body is not valid JSON."
BODY_NOT_OBJECT = "The request body must be a JSON object."
BODY_BAD_FORM = "The request body is not a valid form."
BODY_CONTENT_TYPE = "Send the body as application/json or application/x-www-form-urlencoded."
BODY_UNREADABLE = (
    "The request body could not be read (broken chunked encoding or a cut connection)."
)
RATE_LIMITED = "Too many requests; try again in {seconds} seconds."
METHOD_NOT_ALLOWED = "This endpoint accepts {methods} only."
NOT_FOUND = "There is nothing at this address."
SERVER_ERROR = "The server could not answer this request; try again later."
TEMPORARILY_UNAVAILABLE = (
    f"The service is temporarily unavailable; try again in {RETRY_AFTER_SECONDS} seconds."
)
UNSUPPORTED_GRANT = f"The grant_type must be {DEVICE_CODE_GRANT}."
UNKNOWN_DEVICE_CODE = "The device code is not known."
TOKEN_DESCRIPTIONS = {
    device_flow.AUTHORIZATION_PENDING: "The user has not finished signing in yet.",
    device_flow.SLOW_DOWN: "Polling too fast; wait {interval} seconds between requests.",
    device_flow.EXPIRED_TOKEN: "The device code has expired or was already used; start again.",
    device_flow.ACCESS_DENIED: "The user could not be onboarded; start again.",
    device_flow.INVALID_GRANT: UNKNOWN_DEVICE_CODE,
}
INVALID_TOKEN = "The ID token is not valid for any identity provider of this service."  # noqa: S105 (an error message)
NO_ROUTE = "The signed-in user is not registered for onboarding."


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
    return {"error": error, "error_description": description}


def rate_limited(verdict: ratelimit.Verdict) -> APIError:
    return APIError(
        "slow_down",
        RATE_LIMITED.format(seconds=verdict.retry_after),
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(verdict.retry_after)},
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Every exception of a device endpoint as a JSON error; unexpected ones are logged."""
    headers: dict[str, str] = {}
    if isinstance(exc, ratelimit.RateLimited):
        exc = rate_limited(exc.verdict)
    if isinstance(exc, APIError):
        code, body, headers = exc.status_code, error_body(exc.error, exc.description), exc.headers
    elif isinstance(exc, exceptions.MethodNotAllowed):
        view = context.get("view")
        methods = ", ".join(m for m in getattr(view, "allowed_methods", []) if m != "OPTIONS")
        code = exc.status_code
        body = error_body("invalid_request", METHOD_NOT_ALLOWED.format(methods=methods or "POST"))
    elif isinstance(exc, Http404 | exceptions.NotFound):
        code, body = 404, error_body("not_found", NOT_FOUND)
    elif isinstance(exc, PermissionDenied | exceptions.PermissionDenied):
        code, body = 403, error_body("access_denied", "Not allowed.")
    elif isinstance(exc, exceptions.Throttled):
        code, body = 429, error_body("slow_down", RATE_LIMITED.format(seconds=exc.wait or 60))
    elif isinstance(exc, exceptions.APIException):
        code = exc.status_code
        body = error_body(
            "invalid_request", str(exc.detail) if isinstance(exc.detail, str) else "Bad request."
        )
    elif isinstance(exc, SuspiciousOperation):
        code, body = 400, error_body("invalid_request", "Bad request.")
    elif kind := outage_kind(exc):
        # The database or the cache is down: the device should simply try again later.
        metrics.UNAVAILABLE.labels(kind).inc()
        logger.warning("The %s is unavailable: %s", kind, type(exc).__name__)
        code, body = 503, error_body("temporarily_unavailable", TEMPORARILY_UNAVAILABLE)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    else:
        logger.exception("Unexpected error in a device API view", exc_info=exc)
        code, body = 500, error_body("server_error", SERVER_ERROR)
    set_rollback()
    response = Response(body, status=code, headers=headers)
    if isinstance(exc, APIError) and exc.expected:
        logger.debug("%s: %s", exc.error, context["request"].path)
        # Django logs every 4xx as a WARNING unless told it has been logged already.
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Always JSON: a device or a hostile client cannot ask for HTML (or get a 406)."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


# --- Serializers ------------------------------------------------------------------------


class TextField(serializers.CharField):
    """A string and nothing else: numbers, booleans, lists are refused, not converted.

    DRF's CharField already refuses NUL and lone surrogates (PostgreSQL could not store
    them, which would otherwise become a 500).
    """

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _device_field(label: str) -> TextField:
    return TextField(
        max_length=128,
        required=False,
        allow_blank=True,
        allow_null=True,
        default="",
        help_text=f"The device's {label}, as it reports it; at most 128 characters.",
    )


class DeviceSerializer(serializers.Serializer):
    hostname = _device_field("hostname")
    serial = _device_field("serial number")
    model = _device_field("model")
    os_version = _device_field("IGEL OS version")


class AuthorizeInputSerializer(serializers.Serializer):
    email = TextField(
        min_length=1, help_text="The user's e-mail address; decides the route and the IdP."
    )
    structure_tag = TextField(
        max_length=128, required=False, allow_blank=True, allow_null=True, default=""
    )
    device = DeviceSerializer(required=False, allow_null=True)


class AuthorizeFormSerializer(serializers.Serializer):
    """The same request form-encoded; the device fields are flattened."""

    email = TextField(min_length=1)
    structure_tag = TextField(max_length=128, required=False, allow_blank=True)
    device_hostname = _device_field("hostname")
    device_serial = _device_field("serial number")
    device_model = _device_field("model")
    device_os_version = _device_field("IGEL OS version")


class AuthorizeOutputSerializer(serializers.Serializer):
    device_code = serializers.CharField(
        help_text="Secret; the device polls the token endpoint with it."
    )
    user_code = serializers.CharField(help_text="8 characters shown as XXXX-XXXX.")
    verification_uri = serializers.URLField()
    verification_uri_complete = serializers.URLField()
    expires_in = serializers.IntegerField(help_text="Seconds until the codes expire.")
    interval = serializers.IntegerField(help_text="Minimum seconds between two polls.")


class TokenInputSerializer(serializers.Serializer):
    grant_type = serializers.ChoiceField(choices=[DEVICE_CODE_GRANT])
    device_code = TextField(min_length=1, max_length=512)


class LookupInputSerializer(serializers.Serializer):
    id_token = TextField(
        allow_blank=True,
        help_text="An ID token from the tenant's IdP, issued for this service's client ID.",
    )
    access_token = TextField(
        max_length=4096,
        required=False,
        allow_blank=True,
        allow_null=True,
        default="",
        help_text=(
            "Optional: the access token issued together with the ID token. Used only when "
            "the ID token carries no e-mail (as a conformant IdP's code flow may), to read "
            "it from the IdP's UserInfo endpoint, whose `sub` must equal the ID token's."
        ),
    )
    structure_tag = TextField(
        max_length=128, required=False, allow_blank=True, allow_null=True, default=""
    )


class OnboardingSerializer(serializers.Serializer):
    display_name = serializers.CharField()
    ums_hostname = serializers.CharField(help_text="Exactly as configured; case is significant.")
    ums_port = serializers.IntegerField(min_value=1, max_value=65535)
    target = serializers.ChoiceField(choices=["ums", "icg"])
    root_certificate_chain = serializers.CharField(help_text="PEM, root certificate first.")
    certificate_fingerprints_sha256 = serializers.ListField(
        child=serializers.CharField(),
        help_text="SHA-256 of each certificate, AB:CD:... form, root first.",
    )
    user = serializers.CharField(help_text="The signed-in user's e-mail address.")
    structure_tag = serializers.CharField(allow_blank=True)


class OnboardingAnswerSerializer(serializers.Serializer):
    """An RFC 6749 section 5.1 token response around the route, so OAuth clients accept it."""

    access_token = serializers.CharField(
        help_text=(
            "The onboarding assertion: a JWT signed by this service (ES256 or RS256, `kid` "
            "from /.well-known/jwks.json) stating who was onboarded to which UMS. Claims: "
            "`iss` (this service), `sub` (the user's e-mail), `aud` (the UMS hostname), `iat`, "
            "`exp`, `jti`, `tenant`, `display_name`, `ums_port`, `target`, "
            "`certificate_fingerprints_sha256` (root first), `device` (`hostname`, `serial`, "
            "`model`, `os_version`), `structure_tag`, `idp` (issuer of the IdP that "
            "authenticated the user). Present it to the UMS; see docs/ums-verification.md."
        )
    )
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_in = serializers.IntegerField(help_text="Seconds until the assertion expires.")
    onboarding = OnboardingSerializer()


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

_COMMON_ERRORS = {
    405: OpenApiResponse(GenericErrorSerializer, description="Only POST is accepted."),
    413: OpenApiResponse(
        GenericErrorSerializer,
        description="The body is larger than 64 KiB; it is not read.",
        examples=[
            OpenApiExample(
                "too large", value=error_body("invalid_request", BODY_TOO_LARGE.format(limit=65536))
            )
        ],
    ),
    429: OpenApiResponse(
        GenericErrorSerializer,
        description="Rate limited per client address or per e-mail; see Retry-After.",
        examples=[
            OpenApiExample(
                "rate limited", value=error_body("slow_down", RATE_LIMITED.format(seconds=42))
            )
        ],
    ),
    500: OpenApiResponse(
        GenericErrorSerializer, description="An unexpected error; never carries details."
    ),
    503: OpenApiResponse(
        GenericErrorSerializer,
        description=(
            "A service this one depends on (database, cache, or for a lookup the identity "
            "provider) is unavailable; try again after Retry-After seconds."
        ),
        examples=[
            OpenApiExample(
                "temporarily unavailable",
                value=error_body("temporarily_unavailable", TEMPORARILY_UNAVAILABLE),
            )
        ],
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


# --- Views -----------------------------------------------------------------------------


class DeviceAPIView(APIView):
    """Base of the device endpoints: no auth, JSON only, bodies read with a hard cap."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes: list[Any] = []
    # POST only, as the spec says: OPTIONS (DRF's metadata), HEAD, GET... all get the
    # JSON 405 with ``Allow: POST``.
    http_method_names = ["post"]
    # Listed for the OpenAPI document; the body is parsed by ``read_payload``.
    parser_classes = [JSONParser, FormParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation
    #: Name of the per-address rate limit (see ``onboarding.conf``).
    address_limit = ""
    #: The action recorded when a client is rate limited.
    event_action: str = EventAction.AUTHORIZE

    def get_exception_handler(self):  # type: ignore[no-untyped-def]
        return api_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.client_address = ratelimit.client_address(request._request)
        if self.address_limit and request.method == "POST":
            verdict = ratelimit.hit(self.address_limit, ratelimit.address_key(self.client_address))
            if not verdict.allowed:
                if verdict.first_refusal:
                    # Once per window, so a flood does not also flood the event table.
                    EventRecorder(self.event_action, client_address=self.client_address).failure(
                        REASON_RATE_LIMITED, detail=f"Limit {self.address_limit} reached."
                    )
                raise rate_limited(verdict)

    def finalize_response(
        self, request: Request, response: HttpResponse, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = super().finalize_response(request, response, *args, **kwargs)
        data = getattr(response, "data", None)
        error = data.get("error") if isinstance(data, dict) else None
        outcome = str(error or ("success" if response.status_code < 400 else "error"))
        requestlog.annotate(outcome=outcome)
        metrics.DEVICE_OUTCOMES.labels(str(self.event_action), outcome).inc()
        # Device codes and routes must never sit in a shared cache (RFC 6749 5.1).
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response

    def read_payload(self, request: Request) -> dict[str, Any]:
        """The body as a dict, from JSON or a form; APIError for anything else."""
        raw: HttpRequest = request._request
        limit = conf.max_body_bytes()
        too_large = APIError(
            "invalid_request",
            BODY_TOO_LARGE.format(limit=limit),
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
        try:
            declared = int(raw.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise too_large  # refused before reading a byte
        environ = getattr(raw, "environ", {})
        try:
            if not raw.META.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
                # A chunked body (no Content-Length): Django would see it as empty, but
                # gunicorn terminates the stream, so it can be read here, capped all the same.
                body = environ["wsgi.input"].read(limit + 1)
            else:
                body = raw.read(limit + 1)
        except Exception:
            # Whatever the server's reader raises for a malformed stream (gunicorn's
            # InvalidChunkSize, NoMoreData, a reset connection...) is the client's doing.
            raise APIError("invalid_request", BODY_UNREADABLE) from None
        if len(body) > limit:
            raise too_large
        if not body.strip():
            return {}
        content_type = (raw.content_type or "").lower()
        charset = (raw.content_params or {}).get("charset") or "utf-8"
        if content_type == "application/json" or content_type.endswith("+json"):
            try:
                data = json.loads(body)
            except (ValueError, RecursionError, UnicodeDecodeError):
                raise APIError("invalid_request", BODY_NOT_JSON) from None
            if not isinstance(data, dict):
                raise APIError("invalid_request", BODY_NOT_OBJECT)
            return data
        if content_type == "application/x-www-form-urlencoded":
            try:
                form = QueryDict(body, encoding=charset)
            except (SuspiciousOperation, ValueError, LookupError, UnicodeDecodeError):
                raise APIError("invalid_request", BODY_BAD_FORM) from None
            return {key: form.get(key) for key in form}
        if content_type == "multipart/form-data":
            # What curl -F and many HTTP libraries send for "a form"; files are ignored.
            try:
                fields, _files = MultiPartParser(
                    {**raw.META, "CONTENT_LENGTH": str(len(body))},
                    io.BytesIO(body),
                    [MemoryFileUploadHandler()],
                    charset,
                ).parse()
            except (
                MultiPartParserError,
                SuspiciousOperation,
                ValueError,
                LookupError,
                UnicodeDecodeError,
            ):
                raise APIError("invalid_request", BODY_BAD_FORM) from None
            return {key: fields.get(key) for key in fields}
        raise APIError("invalid_request", BODY_CONTENT_TYPE)

    def validate(
        self, serializer_class: type[serializers.Serializer], data: dict[str, Any]
    ) -> dict[str, Any]:
        serializer = serializer_class(data=data)
        if not serializer.is_valid():
            raise APIError("invalid_request", _describe(serializer.errors))
        return dict(serializer.validated_data)


def _describe(errors: Any, prefix: str = "") -> str:
    """The first validation error as ``field: message`` (``device.hostname: ...``)."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = "body" if key == "non_field_errors" else f"{prefix}{key}"
            return (
                _describe(value, f"{name}.")
                if isinstance(value, dict)
                else f"{name}: {_describe(value)}"
            )
    if isinstance(errors, list) and errors:
        return _describe(errors[0], prefix)
    return str(errors)


def _authorize_input(data: dict[str, Any]) -> dict[str, Any]:
    """Fold the form spelling (``device_hostname``, ...) into the JSON shape."""
    if "device" in data:
        return data
    flat = {
        name: data[f"device_{name}"]
        for name in ("hostname", "serial", "model", "os_version")
        if f"device_{name}" in data
    }
    return {
        **{k: v for k, v in data.items() if not k.startswith("device_")},
        **({"device": flat} if flat else {}),
    }


class DeviceAuthorizeView(DeviceAPIView):
    address_limit = "authorize_address"
    event_action = EventAction.AUTHORIZE

    @extend_schema(
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
                    OpenApiExample(
                        "not routable", value=error_body("invalid_request", NOT_ROUTABLE)
                    ),
                    OpenApiExample(
                        "malformed",
                        value=error_body("invalid_request", "email: This field is required."),
                    ),
                ],
            ),
            **_COMMON_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        data = self.validate(AuthorizeInputSerializer, _authorize_input(self.read_payload(request)))
        email: str = data["email"]
        ratelimit.enforce("authorize_email", ratelimit.pair_key(email, self.client_address))
        failures = ratelimit.peek("authorize_email_failures", ratelimit.email_key(email))
        if not failures.allowed:
            raise ratelimit.RateLimited(failures)
        device = data.get("device") or {}
        try:
            started = device_flow.device_authorization_start(
                email=email.strip(),
                structure_tag=data.get("structure_tag") or "",
                device=DeviceInfo(**{k: v or "" for k, v in device.items()}),
                client_address=self.client_address,
            )
        except device_flow.NotRoutable:
            ratelimit.hit("authorize_email_failures", ratelimit.email_key(email))
            raise APIError("invalid_request", NOT_ROUTABLE) from None
        authorization = started.authorization
        verification_uri = conf.verification_uri()
        output = AuthorizeOutputSerializer(
            {
                "device_code": started.device_code,
                "user_code": authorization.display_user_code,
                "verification_uri": verification_uri,
                "verification_uri_complete": f"{verification_uri}?user_code={authorization.display_user_code}",
                "expires_in": conf.device_code_expires_in(),
                "interval": authorization.interval,
            }
        )
        return Response(output.data)


class DeviceTokenView(DeviceAPIView):
    address_limit = "token_address"
    event_action = EventAction.TOKEN

    @extend_schema(
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
            200: OpenApiResponse(
                OnboardingAnswerSerializer,
                examples=[OpenApiExample("onboarded", value=_EXAMPLE_ANSWER)],
            ),
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
    def post(self, request: Request) -> Response:
        data = self.read_payload(request)
        grant_type = data.get("grant_type")
        if isinstance(grant_type, str) and grant_type and grant_type != DEVICE_CODE_GRANT:
            raise APIError("unsupported_grant_type", UNSUPPORTED_GRANT)
        values = self.validate(TokenInputSerializer, data)
        outcome = device_flow.device_token_poll(
            device_code=values["device_code"], client_address=self.client_address
        )
        if outcome.answer is None:
            description = TOKEN_DESCRIPTIONS[outcome.error].format(interval=outcome.interval)
            raise APIError(outcome.error, description, expected=True)
        return Response(OnboardingAnswerSerializer(outcome.answer).data)


class OnboardingLookupView(DeviceAPIView):
    address_limit = "lookup_address"
    event_action = EventAction.LOOKUP

    @extend_schema(
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
            200: OpenApiResponse(
                OnboardingAnswerSerializer,
                examples=[OpenApiExample("onboarded", value=_EXAMPLE_ANSWER)],
            ),
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
                    OpenApiExample(
                        "invalid_token", value=error_body("invalid_token", INVALID_TOKEN)
                    )
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
    def post(self, request: Request) -> Response:
        values = self.validate(LookupInputSerializer, self.read_payload(request))
        outcome = lookup.onboarding_lookup(
            id_token=values["id_token"],
            access_token=values.get("access_token") or "",
            structure_tag=values.get("structure_tag") or "",
            client_address=self.client_address,
        )
        if outcome.error == lookup.INVALID_TOKEN:
            raise APIError(
                "invalid_token",
                INVALID_TOKEN,
                status_code=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if outcome.error == lookup.NO_ROUTE:
            raise APIError("no_route", NO_ROUTE, status_code=status.HTTP_404_NOT_FOUND)
        if outcome.error == lookup.TEMPORARILY_UNAVAILABLE:
            raise APIError(
                "temporarily_unavailable",
                TEMPORARILY_UNAVAILABLE,
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return Response(OnboardingAnswerSerializer(outcome.answer).data)


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

    def get_exception_handler(self):  # type: ignore[no-untyped-def]
        return api_exception_handler


# --- Framework-level errors under /api/ ---------------------------------------------------


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt  # a POST to an unknown address is a 404, not a CSRF failure page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Unknown addresses under ``/api/``: JSON 404 even with DEBUG on."""
    return JsonResponse(error_body("not_found", NOT_FOUND), status=404)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("invalid_request", "Bad request."), status=400)
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)  # type: ignore[arg-type]


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("server_error", SERVER_ERROR), status=500)
    return defaults.server_error(request)
