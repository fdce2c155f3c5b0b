from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    # Device API (/api/v1/...), verification page (/device) and /oidc/callback/. First:
    # devices are the busiest callers, and a request resolved past the admin's patterns
    # pays for every pattern tried. It owns /api/ (any other address there is a JSON 404),
    # /device, /.well-known/ and /oidc/callback/ and nothing else.
    path("", include("onboarding.urls")),
    # Browsers ask for /favicon.ico on pages that name no icon (and on the API's docs).
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}favicon.svg")),
    # The language switch of every page posts to set_language (a cookie remembers it).
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Staff sign-in with the platform IdP; /oidc/callback/ is reserved for the device flow.
    path("staff/oidc/", include("identity.staff_urls")),
    # An invited member's one-time set-password link.
    path("", include("tenants.urls")),
]

if settings.BENCH_BASELINE:
    from config.bench import BaselineView, plain_view

    urlpatterns.insert(0, path("bench/baseline", BaselineView.as_view()))
    urlpatterns.insert(0, path("bench/plain", plain_view))

# JSON instead of HTML for errors under /api/ (DEBUG off); HTML pages elsewhere; an outage
# of the database or cache is a 503 (operations.outages). /healthz, /readyz and /metrics
# are answered by operations.middleware.ProbeMiddleware before URL routing.
handler400 = "onboarding.api.handler400"
handler403 = "common.views.permission_denied"
handler404 = "onboarding.api.handler404"
handler500 = "operations.outages.handler500"
