from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Staff sign-in with the platform IdP; /oidc/callback/ is reserved for the device flow.
    path("staff/oidc/", include("identity.staff_urls")),
    # Device API (/api/v1/...), verification page (/device) and /oidc/callback/; last,
    # as it answers every other /api/ address with a JSON 404.
    path("", include("onboarding.urls")),
]

# JSON instead of HTML for errors under /api/ (DEBUG off); HTML pages elsewhere; an outage
# of the database or cache is a 503 (operations.outages). /healthz, /readyz and /metrics
# are answered by operations.middleware.ProbeMiddleware before URL routing.
handler400 = "onboarding.api.handler400"
handler404 = "onboarding.api.handler404"
handler500 = "operations.outages.handler500"
