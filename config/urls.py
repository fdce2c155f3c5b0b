from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Staff sign-in with the platform IdP; /oidc/callback/ is reserved for the device flow.
    path("staff/oidc/", include("identity.staff_urls")),
]
