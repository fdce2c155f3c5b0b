"""Staff sign-in routes, mounted at ``/staff/oidc/`` (``/oidc/callback/`` is the device flow's).

The URL names are mozilla-django-oidc's own, which its views reverse.
"""

from __future__ import annotations

from django.urls import path
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCLogoutView

from identity.staff import StaffOIDCAuthenticationRequestView

urlpatterns = [
    path(
        "authenticate/",
        StaffOIDCAuthenticationRequestView.as_view(),
        name="oidc_authentication_init",
    ),
    path(
        "callback/", OIDCAuthenticationCallbackView.as_view(), name="oidc_authentication_callback"
    ),
    path("logout/", OIDCLogoutView.as_view(), name="oidc_logout"),
]
