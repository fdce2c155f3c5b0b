"""The public documents under ``/.well-known/``: signing keys and server metadata.

Both are the same for everyone and change only with the configuration, so they may be
cached (``ONBOARDING_JWKS_MAX_AGE``) and read from any origin (a UMS console in a browser).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from onboarding import assertion, conf
from onboarding.device_flow import DEVICE_CODE_GRANT


def _public(body: Mapping[str, object]) -> HttpResponse:
    response = JsonResponse(dict(body))
    response["Cache-Control"] = f"public, max-age={conf.jwks_max_age()}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@csrf_exempt  # GET and HEAD only; other methods get a 405 rather than a CSRF page
@require_safe
def jwks(request: HttpRequest) -> HttpResponse:
    """``/.well-known/jwks.json``: the public keys that verify onboarding assertions."""
    return _public(assertion.public_jwks())


@csrf_exempt
@require_safe
def authorization_server_metadata(request: HttpRequest) -> HttpResponse:
    """``/.well-known/oauth-authorization-server`` (RFC 8414), truthful about what we do.

    No ``authorization_endpoint``: the only grant is the device code's, which has none
    (the user signs in at their company's IdP through ``/device``), so no response type
    is supported either. Devices are public clients: ``client_id`` is not checked.
    """
    # Paths as conf builds the verification URI: BASE_URL is the public root, whatever
    # prefix a proxy may add.
    base = conf.base_url()
    return _public(
        {
            "issuer": base,
            "device_authorization_endpoint": base + "/api/v1/device/authorize",
            "token_endpoint": base + "/api/v1/device/token",
            "jwks_uri": base + "/.well-known/jwks.json",
            "grant_types_supported": [DEVICE_CODE_GRANT],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
            "service_documentation": base + "/api/v1/docs/",
        }
    )
