"""Pages for people: the verification page (RFC 8628 section 3.3), the OIDC callback, API docs.

Plain server-rendered HTML, usable without JavaScript. The verification page shows
which device is being onboarded and to which company, and the user must confirm that
the device is theirs before being sent to their IdP (RFC 8628 section 5.4, against
a user being tricked into approving someone else's device). Wrong user codes are rate
limited per client address (section 5.1: the code has only ~34 bits).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from drf_spectacular.generators import SchemaGenerator

from common import requestlog
from onboarding import conf, device_flow, events, ratelimit
from onboarding.api import body
from onboarding.api.errors import error_body
from onboarding.models import DeviceAuthorization
from onboarding.selectors import company_domain_for, pending_authorization_for_user_code

#: Messages as English constants (the tests reuse them), translated where shown.
CODE_INVALID = gettext_noop(
    "This code is not valid or has expired. Check the code shown on the device."
)
CODE_TOO_MANY = gettext_noop(
    "Too many wrong codes were entered from your network. Try again in {minutes} minutes."
)
CODE_TOO_MANY_PLATFORM = gettext_noop(
    "Too many wrong codes were entered on this service just now. Try again in {minutes} minutes."
)

RESULTS: dict[str, tuple[str, str]] = {
    device_flow.SIGN_IN_OK: (
        gettext_noop("Your device is being connected"),
        gettext_noop(
            "You are signed in. Return to your device: it will connect to your company's "
            "management server in a few seconds."
        ),
    ),
    device_flow.SIGN_IN_INVALID: (
        gettext_noop("This sign-in link is not valid"),
        gettext_noop(
            "The sign-in response is unknown or was already used. If your device is still "
            "waiting, enter its code again on this service's device page."
        ),
    ),
    device_flow.SIGN_IN_EXPIRED: (
        gettext_noop("The sign-in has expired"),
        gettext_noop("It took too long. Start onboarding again on the device."),
    ),
    device_flow.SIGN_IN_CANCELLED: (
        gettext_noop("Sign-in was cancelled"),
        gettext_noop(
            "The device was not connected. To try again, start onboarding again on the device."
        ),
    ),
    device_flow.SIGN_IN_NOT_REGISTERED: (
        gettext_noop("This account is not registered for onboarding"),
        gettext_noop(
            "The account you signed in with is not registered for IGEL OS onboarding with this "
            "company. The device was not connected. Ask your administrator."
        ),
    ),
    device_flow.SIGN_IN_NO_EMAIL: (
        gettext_noop("Your account has no usable e-mail address"),
        gettext_noop(
            "Your identity provider did not tell this service a verified e-mail address, so the "
            "device cannot be routed. The device was not connected. Ask your administrator."
        ),
    ),
    device_flow.SIGN_IN_FAILED: (
        gettext_noop("Sign-in failed"),
        gettext_noop(
            "The sign-in could not be completed. The device was not connected. Start onboarding "
            "again on the device, or ask your administrator."
        ),
    ),
    device_flow.SIGN_IN_RETRY: (
        gettext_noop("Your company's sign-in service could not be reached"),
        gettext_noop("The device is still waiting. Try again in a moment."),
    ),
}
REJECTED = (
    gettext_noop("Onboarding cancelled"),
    gettext_noop(
        "You said this device is not yours, so it will not be connected. If you did not start "
        "onboarding on a device, you can ignore this."
    ),
)
TOO_LARGE = (gettext_noop("Request too large"), gettext_noop("Go back and try again."))
GET_ONLY = gettext_noop("This page accepts GET only.")
TOO_MANY_REQUESTS = (
    gettext_noop("Too many requests"),
    gettext_noop("Wait a minute and try again."),
)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _entry(
    request: HttpRequest, *, error: str = "", code: str = "", status: int = 200
) -> HttpResponse:
    return _no_store(
        render(
            request,
            "onboarding/device_entry.html",
            {"error": gettext(error) if error else "", "user_code": code[:16]},
            status=status,
        )
    )


def _find(
    request: HttpRequest, raw_code: object, address: str | None
) -> tuple[DeviceAuthorization | None, HttpResponse | None]:
    """The pending authorization for a typed code, or the page to show instead.

    Only failed attempts count against the limits, so a user who types the code right
    is never blocked by others on the same network guessing wrong. Besides the limit per
    client address (IPv6: per /64), all failures of the platform share one budget: an
    attacker with many addresses still gets a bounded number of guesses per window.
    """
    buckets = [
        ("user_code_address", ratelimit.address_key(address), CODE_TOO_MANY),
        ("user_code_platform", ratelimit.PLATFORM, CODE_TOO_MANY_PLATFORM),
    ]
    code = raw_code if isinstance(raw_code, str) else ""
    for name, identifier, message in buckets:
        verdict = ratelimit.peek(name, identifier)
        if not verdict.allowed:
            minutes = max(1, verdict.retry_after // 60)
            return None, _entry(
                request, error=gettext(message).format(minutes=minutes), code=code, status=429
            )
    authorization = pending_authorization_for_user_code(raw_code)
    if authorization is None:
        for name, identifier, _message in buckets:
            ratelimit.hit(name, identifier)
        return None, _entry(request, error=CODE_INVALID, code=code, status=400)
    return authorization, None


@never_cache
@require_safe  # GET and HEAD (link checkers, browsers probing the link)
def device(request: HttpRequest) -> HttpResponse:
    """``verification_uri``: ask for the code; with ``?user_code=`` show the confirmation."""
    if "user_code" not in request.GET:
        return _entry(request)
    authorization, page = _find(
        request, request.GET.get("user_code"), ratelimit.client_address(request)
    )
    if page is not None:
        return page
    assert authorization is not None
    browser_address = ratelimit.client_address(request)
    return _no_store(
        render(
            request,
            "onboarding/device_confirm.html",
            {
                "authorization": authorization,
                "company": authorization.tenant.name,
                "domain": company_domain_for(authorization),
                # A phished code is opened far from the device that asked for it: say
                # where the device asked from, and warn when this browser is elsewhere
                # (another network; IPv6 compared per /64, as the rate limits count).
                "browser_address": browser_address,
                "address_differs": _elsewhere(authorization.client_address, browser_address),
            },
        )
    )


def _elsewhere(device_address: str | None, browser_address: str | None) -> bool:
    if not device_address or not browser_address:
        return False
    return ratelimit.address_key(device_address) != ratelimit.address_key(browser_address)


@csrf_exempt  # checked by _device_confirm itself, once the body is known to be small
@never_cache
@require_POST
def device_confirm(request: HttpRequest) -> HttpResponse:
    """The user's answer to "is this your device?": to the IdP, or deny the device."""
    try:
        # The form is a few hundred bytes; a larger body is not read at all (the CSRF
        # middleware would read it looking for the token, hence the check comes first).
        # Django then reads the form itself, within the length just checked.
        body.refuse_declared_too_large(request)
    except body.BodyTooLarge:
        return _result(request, TOO_LARGE, status=413)
    return _device_confirm(request)


@csrf_protect
def _device_confirm(request: HttpRequest) -> HttpResponse:
    address = ratelimit.client_address(request)
    authorization, page = _find(request, request.POST.get("user_code"), address)
    if page is not None:
        return page
    assert authorization is not None
    if request.POST.get("decision") != "approve":
        device_flow.sign_in_reject(authorization, client_address=address)
        return _result(request, REJECTED, status=200)
    try:
        url = device_flow.sign_in_begin(authorization, client_address=address)
    except device_flow.SignInUnavailable as exc:
        if exc.denied:
            return _result(request, RESULTS[device_flow.SIGN_IN_NOT_REGISTERED], status=400)
        if exc.reason == events.REASON_EXPIRED:
            # Expired, denied or consumed since the code was looked up (a concurrent
            # "not my device", say): the code is no longer usable, nothing is down.
            return _entry(request, error=CODE_INVALID, status=400)
        return _result(
            request,
            RESULTS[device_flow.SIGN_IN_RETRY],
            status=503,
            retry_code=authorization.display_user_code,
        )
    return _no_store(HttpResponseRedirect(url))


def _result(
    request: HttpRequest,
    texts: tuple[str, str],
    *,
    status: int,
    retry_code: str = "",
    authorization: DeviceAuthorization | None = None,
    success: bool = False,
) -> HttpResponse:
    title, message = (gettext(text) for text in texts)
    return _no_store(
        render(
            request,
            "onboarding/result.html",
            {
                "title": title,
                "message": message,
                "retry_code": retry_code,
                "authorization": authorization,
                "success": success,
            },
            status=status,
        )
    )


@never_cache
@require_http_methods(["GET"])  # not HEAD: a link checker must not use up the state
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """``/oidc/callback/``: where the tenant's IdP sends the browser back."""
    address = ratelimit.client_address(request)
    verdict = ratelimit.hit("callback_address", ratelimit.address_key(address))
    if not verdict.allowed:
        return _result(request, TOO_MANY_REQUESTS, status=429)
    outcome = device_flow.sign_in_complete(
        state=request.GET.get("state"),
        code=request.GET.get("code"),
        error=request.GET.get("error"),
        iss=request.GET.get("iss"),
        client_address=address,
    )
    authorization = outcome.authorization
    requestlog.annotate(outcome=f"sign_in_{outcome.result}")
    ok = outcome.result == device_flow.SIGN_IN_OK
    retry = outcome.result == device_flow.SIGN_IN_RETRY and authorization is not None
    # Never a 5xx: a retry is also what a callback with an IdP error parameter or a
    # duplicated, unredeemable code gets; the IdP's trouble is in the events.
    return _result(
        request,
        RESULTS[outcome.result],
        status=200 if ok else 400,
        retry_code=authorization.display_user_code if retry and authorization else "",
        authorization=authorization if ok else None,
        success=ok,
    )


# --- API documentation (offline: no CDN, no JavaScript) ----------------------------------


def _resolved(node: Any, schemas: dict[str, Any], depth: int = 0) -> Any:
    """``node`` with every ``#/components/schemas/...`` reference replaced by its schema.

    The page shows each request's fields where they are used; a reference nested deeper
    than a few levels (a recursive schema) is left as it is.
    """
    if isinstance(node, list):
        return [_resolved(item, schemas, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_SCHEMA_REF) and depth < 8:
        target = schemas.get(ref.removeprefix(_SCHEMA_REF))
        if target is not None:
            return _resolved(target, schemas, depth + 1)
    return {key: _resolved(value, schemas, depth) for key, value in node.items()}


_SCHEMA_REF = "#/components/schemas/"


def _schema_operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolved(schema, schema.get("components", {}).get("schemas", {}))
    operations = []
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            request_bodies = [
                {
                    "content_type": content_type,
                    "schema": json.dumps(body.get("schema", {}), indent=2),
                }
                for content_type, body in operation.get("requestBody", {})
                .get("content", {})
                .items()
            ]
            responses = []
            for code, response in operation.get("responses", {}).items():
                examples = []
                for content in response.get("content", {}).values():
                    for name, example in content.get("examples", {}).items():
                        examples.append(
                            {
                                "name": example.get("summary") or name,
                                "value": json.dumps(example.get("value"), indent=2),
                            }
                        )
                responses.append(
                    {
                        "code": code,
                        "description": response.get("description", ""),
                        "examples": examples,
                    }
                )
            operations.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "requests": request_bodies,
                    "responses": responses,
                    "anchor": operation.get("operationId", f"{method}-{path}"),
                }
            )
    return operations


@csrf_exempt  # GET only; any other method gets the API's JSON 405, not a CSRF page
def api_docs(request: HttpRequest) -> HttpResponse:
    """A readable page generated from the same OpenAPI document as ``/api/v1/schema/``."""
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(error_body("invalid_request", gettext(GET_ONLY)), status=405)
        response["Allow"] = "GET, HEAD"
        return response
    # The OpenAPI document is English whatever the reader's language (docs/i18n.md).
    with translation.override("en"):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    schemas = schema.get("components", {}).get("schemas", {})
    components = {
        name: json.dumps(_resolved(component, schemas), indent=2)
        for name, component in schemas.items()
    }
    return render(
        request,
        "onboarding/api_docs.html",
        {
            "info": schema.get("info", {}),
            "operations": _schema_operations(schema),
            "components": components,
            "base_url": conf.base_url(),
        },
    )
