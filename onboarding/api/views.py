"""The device API (spec section 3): one small view per operation, JSON errors only.

Each view parses its body (``onboarding.api.body``), validates it with its input
serializer, calls the flow (``onboarding.device_flow``, ``onboarding.lookup``) and
answers with the shape of its output serializer (built directly: the tests hold the two
together); every error is an exception (:class:`APIError` for the expected ones),
answered by ``onboarding.api.errors.error_answer``. The views answer without DRF's
request cycle (see :class:`DeviceAPIView`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import translation
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from common import metrics, requestlog
from common.i18n import Phrase
from common.outages import RETRY_AFTER_SECONDS
from onboarding import conf, device_flow, lookup, ratelimit
from onboarding.api import body
from onboarding.api.errors import (
    INVALID_TOKEN,
    NO_ROUTE,
    NOT_ROUTABLE,
    TEMPORARILY_UNAVAILABLE,
    TOKEN_DESCRIPTIONS,
    UNSUPPORTED_GRANT,
    APIError,
    ErrorAnswer,
    error_answer,
    rate_limited,
)
from onboarding.api.schema import AUTHORIZE_SCHEMA, LOOKUP_SCHEMA, TOKEN_SCHEMA
from onboarding.api.serializers import (
    AuthorizeInputSerializer,
    LookupInputSerializer,
    TokenInputSerializer,
)
from onboarding.device_flow import DEVICE_CODE_GRANT
from onboarding.events import REASON_RATE_LIMITED, DeviceInfo, EventRecorder
from onboarding.models import EventAction

# The name this logger had before the API became a package: log filters know it.
logger = logging.getLogger("onboarding.api")


class DeviceAPIView(APIView):
    """Base of the device endpoints: no auth, JSON only, bodies read with a hard cap.

    The classes are DRF views for the OpenAPI document (drf-spectacular reads their
    serializers and examples), but a request is answered by :meth:`serve`, a plain Django
    view: DRF's request cycle (its Request, content negotiation, authentication,
    throttling and Response rendering, none of which these endpoints use) cost more than
    a whole pending poll (``make bench-profile``). Each ``post`` returns the answer's
    JSON; every error is an exception, answered by ``errors.error_answer``.
    """

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes: list[Any] = []
    # POST only, as the spec says: OPTIONS, HEAD, GET... all get the JSON 405 with
    # ``Allow: POST``.
    http_method_names = ["post"]
    # Listed for the OpenAPI document; the body is parsed by ``onboarding.api.body``.
    parser_classes = [JSONParser, FormParser]
    renderer_classes = [JSONRenderer]
    #: Name of the per-address rate limit (see ``onboarding.conf``).
    address_limit = ""
    #: The action recorded when a client is rate limited.
    event_action: str = EventAction.AUTHORIZE
    #: The client's address, as ``serve`` found it.
    client_address: str | None = None
    #: Whether this request has been counted against the per-address limit yet.
    address_counted = False

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponse]:
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return cls(**initkwargs).serve(request)

        # What drf-spectacular looks for to document the view; no CSRF (no cookies, no
        # session: a device is no browser), as for every DRF view.
        view.cls = cls  # type: ignore[attr-defined]
        view.initkwargs = initkwargs  # type: ignore[attr-defined]
        view.csrf_exempt = True  # type: ignore[attr-defined]
        return view

    def post(self, request: HttpRequest) -> dict[str, Any]:
        raise NotImplementedError

    def serve(self, request: HttpRequest) -> HttpResponse:
        self.request = request
        self.client_address = ratelimit.client_address(request)
        outcome = "success"
        try:
            if request.method != "POST":
                raise exceptions.MethodNotAllowed(request.method or "")
            response = _json_response(self.post(request), status.HTTP_200_OK)
        except Exception as exc:  # noqa: BLE001 - every error is an answer (error_answer)
            answer = self.error(exc)
            outcome = answer.body["error"]
            response = _json_response(answer.body, answer.status, answer.headers)
            if answer.expected:
                logger.debug("%s: %s", outcome, request.path)
                # Django logs every 4xx as a WARNING unless told it has been logged already.
                response._has_been_logged = True  # type: ignore[attr-defined]
        requestlog.annotate(outcome=outcome)
        metrics.DEVICE_OUTCOMES.labels(str(self.event_action), outcome).inc()
        response["Allow"] = "POST"
        # Device codes and routes must never sit in a shared cache (RFC 6749 5.1).
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response

    def error(self, exc: Exception) -> ErrorAnswer:
        # Every POST counts against the per-address limit once, however it ends: one
        # refused before its view counted it (a malformed body...) is counted here, and
        # over the limit its answer is the 429.
        if self.address_limit and not self.address_counted and self.request.method == "POST":
            try:
                self.count()
            except APIError as limited:
                exc = limited
        return error_answer(exc, self)

    def count(
        self,
        *also: ratelimit.Limit,
        peek: Sequence[ratelimit.Limit] = (),
        then: ratelimit.Entry | None = None,
    ) -> list[ratelimit.Verdict]:
        """Count this request against the per-address limit and the limits ``also``, and
        read the limits ``peek``, in one round trip (which writes ``then`` if all let the
        request through); a 429 when the address is over its limit. Returns the verdicts
        of ``also``, then of ``peek``."""
        address = (self.address_limit, ratelimit.address_key(self.client_address))
        verdicts = ratelimit.hit_all([address, *also], peek, then=then)
        self.address_counted = True
        self.refuse_over_limit(verdicts[0])
        return verdicts[1:]

    def refuse_if_refused_before(self, *also: ratelimit.Limit) -> None:
        """The 429 at once, before any work, for an address (or one of the limits
        ``also``) this process saw refused in the current window (the count only grows
        until the window ends)."""
        verdict = ratelimit.refused_before(
            self.address_limit, ratelimit.address_key(self.client_address)
        )
        if verdict is not None:
            self.address_counted = True
            raise rate_limited(verdict)
        for name, identifier in also:
            verdict = ratelimit.refused_before(name, identifier)
            if verdict is not None:
                raise rate_limited(verdict)  # the address is counted with the 429 (error)

    def refuse_over_limit(self, verdict: ratelimit.Verdict) -> None:
        """The 429 for an address over its limit (recorded once per window, so a flood does
        not also flood the event table)."""
        if verdict.allowed:
            return
        if verdict.first_refusal:
            EventRecorder(self.event_action, client_address=self.client_address).failure(
                REASON_RATE_LIMITED, detail=f"Limit {self.address_limit} reached."
            )
        raise rate_limited(verdict)


def _json_response(
    data: dict[str, Any], status_code: int, headers: dict[str, str] | None = None
) -> HttpResponse:
    # Compact UTF-8 JSON, as DRF's JSONRenderer wrote it.
    content = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return HttpResponse(
        content, status=status_code, headers=headers, content_type="application/json"
    )


def _payload(request: HttpRequest) -> dict[str, Any]:
    return body.read_payload(request)


#: One input serializer per class and language, made once (see ``_validated``).
_VALIDATORS: dict[tuple[type[serializers.Serializer], str], serializers.Serializer] = {}


def _validated(
    serializer_class: type[serializers.Serializer], data: dict[str, Any]
) -> dict[str, Any]:
    """``data`` validated by its serializer's fields; APIError naming the first problem.

    Every new serializer deep-copies its declared fields, which costs more than checking
    a small body (``make bench-profile``), so an instance is made once per class and
    language and shared: ``run_validation`` keeps nothing on the instance (``is_valid``
    would). DRF words some messages once per field, in the language of the moment
    (``lazy_format``), hence one per language, worded before it is shared.
    """
    key = (serializer_class, translation.get_language() or "")
    serializer = _VALIDATORS.get(key)
    if serializer is None:
        serializer = _VALIDATORS.setdefault(key, _worded(serializer_class()))
    try:
        return dict(serializer.run_validation(data))
    except serializers.ValidationError as exc:
        raise APIError("invalid_request", _describe(exc.detail)) from None


def _worded(serializer: serializers.Serializer) -> serializers.Serializer:
    """``serializer`` with every validator's message worded now, in this thread, so that
    no two threads word one at once (DRF's ``lazy_format`` is not safe for that)."""
    for field in serializer.fields.values():
        if isinstance(field, serializers.Serializer):
            _worded(field)
        for validator in field.validators:
            str(getattr(validator, "message", ""))
    return serializer


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

    @AUTHORIZE_SCHEMA
    def post(self, request: HttpRequest) -> dict[str, Any]:
        data = _validated(AuthorizeInputSerializer, _authorize_input(_payload(request)))
        email: str = data["email"]
        # An address, or an e-mail from this address, already refused in this window is
        # refused before any work. Then the e-mail is routed, and the request counted in
        # one round trip that also writes the new code's poll state (if every limit lets
        # it through): a flood costs a routing statement per request only until its first
        # refusal in this process.
        pair = ratelimit.pair_key(email, self.client_address)
        self.refuse_if_refused_before(("authorize_email", pair))
        device = data.get("device") or {}
        new = device_flow.device_authorization_prepare(
            email=email.strip(),
            structure_tag=data.get("structure_tag") or "",
            device=DeviceInfo(**{k: v or "" for k, v in device.items()}),
            client_address=self.client_address,
        )
        entry = new.poll_entry()
        ratelimit.refuse_over(
            self.count(
                ("authorize_email", pair),
                peek=[("authorize_email_failures", ratelimit.email_key(email))],
                then=entry,
            )
        )
        try:
            started = device_flow.device_authorization_create(
                new, poll_state_written=entry is not None
            )
        except device_flow.NotRoutable:
            ratelimit.hit("authorize_email_failures", ratelimit.email_key(email))
            raise APIError("invalid_request", NOT_ROUTABLE) from None
        authorization = started.authorization
        verification_uri = conf.verification_uri()
        # The shape of AuthorizeOutputSerializer (the OpenAPI document's), built as it is
        # answered: a serializer would only copy these values (the tests compare the two).
        return {
            "device_code": started.device_code,
            "user_code": authorization.display_user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={authorization.display_user_code}",
            "expires_in": conf.device_code_expires_in(),
            "interval": authorization.interval,
        }


class DeviceTokenView(DeviceAPIView):
    address_limit = "token_address"
    event_action = EventAction.TOKEN

    @TOKEN_SCHEMA
    def post(self, request: HttpRequest) -> dict[str, Any]:
        data = _payload(request)
        grant_type = data.get("grant_type")
        if isinstance(grant_type, str) and grant_type and grant_type != DEVICE_CODE_GRANT:
            raise APIError("unsupported_grant_type", UNSUPPORTED_GRANT)
        values = _validated(TokenInputSerializer, data)
        # The poll counts the per-address limit in its own round trip (onboarding.pollstate).
        self.address_counted = True
        outcome = device_flow.device_token_poll(
            device_code=values["device_code"],
            client_address=self.client_address,
            address_limit=self.address_limit,
        )
        if outcome.over_limit is not None:
            self.refuse_over_limit(outcome.over_limit)
        if outcome.answer is None:
            description = Phrase(TOKEN_DESCRIPTIONS[outcome.error], interval=outcome.interval)
            raise APIError(outcome.error, description, expected=True)
        return outcome.answer  # OnboardingAnswerSerializer's shape, as built


class OnboardingLookupView(DeviceAPIView):
    address_limit = "lookup_address"
    event_action = EventAction.LOOKUP

    def count_with_user(self, email: str) -> None:
        """Count this request against the address limit and the per-user one of ``email``
        (once the token proved the e-mail), in one round trip."""
        ratelimit.refuse_over(
            self.count(("lookup_email", ratelimit.pair_key(email, self.client_address)))
        )

    @LOOKUP_SCHEMA
    def post(self, request: HttpRequest) -> dict[str, Any]:
        values = _validated(LookupInputSerializer, _payload(request))
        # The token is checked before anything is counted, so a forged one cannot spend a
        # real user's budget; then the address and the user are counted in one round trip.
        # An address already refused in this window is refused before any of that.
        self.refuse_if_refused_before()
        outcome = lookup.onboarding_lookup(
            id_token=values["id_token"],
            access_token=values.get("access_token") or "",
            structure_tag=values.get("structure_tag") or "",
            client_address=self.client_address,
            count=self.count_with_user,
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
        assert outcome.answer is not None  # no error: an answer
        return outcome.answer  # OnboardingAnswerSerializer's shape, as built
