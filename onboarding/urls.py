"""URLs of the device API (``/api/v1/``), the verification pages and the OIDC callback.

Included at the root by ``config.urls`` (after anything else under ``api/``: the last
API pattern answers every other ``/api/`` address with a JSON 404, even with DEBUG on).
"""

from __future__ import annotations

from django.urls import URLPattern, path, re_path
from rest_framework.views import APIView

from onboarding import api, views, well_known

app_name = "onboarding"


def _with_and_without_slash(route: str, view_class: type[APIView], name: str) -> list[URLPattern]:
    # Devices and simple HTTP clients differ on trailing slashes; both work, the
    # OpenAPI document lists the spec's spelling only (``schema = None`` hides the other).
    hidden: type[APIView] = type(f"{view_class.__name__}WithSlash", (view_class,), {"schema": None})
    return [
        path(route, view_class.as_view(), name=name),
        path(f"{route}/", hidden.as_view()),
    ]


urlpatterns = [
    *_with_and_without_slash(
        "api/v1/device/authorize", api.DeviceAuthorizeView, "device-authorize"
    ),
    *_with_and_without_slash("api/v1/device/token", api.DeviceTokenView, "device-token"),
    *_with_and_without_slash(
        "api/v1/onboarding/lookup", api.OnboardingLookupView, "onboarding-lookup"
    ),
    path("api/v1/schema/", api.SchemaView.as_view(), name="api-schema"),
    path("api/v1/docs/", views.api_docs, name="api-docs"),
    re_path(r"^api/", api.api_not_found),
    re_path(r"^device/?$", views.device, name="device"),
    path("device/confirm", views.device_confirm, name="device-confirm"),
    path(".well-known/jwks.json", well_known.jwks, name="jwks"),
    path(
        ".well-known/oauth-authorization-server",
        well_known.authorization_server_metadata,
        name="authorization-server-metadata",
    ),
    # The redirect URI registered at every tenant IdP (spec section 3).
    path("oidc/callback/", views.oidc_callback, name="oidc-callback"),
]
