"""The route list's routing preview: which route, IdP and chain a device would get.

It asks :func:`onboarding.selectors.route_lookup`, the selector the device API uses, so
the answer is the one a device would receive now; and it shows only what the member's
own company accounts hold (an address another company routes is "not routed by you").
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from onboarding.reasons import reason_text
from onboarding.selectors import REASON_NOT_MAPPED, route_lookup
from tenants.models import OBS_ROLES
from tenants.selectors import tenants_for

NOT_YOURS = "No route of your company account serves this address."


def preview(request: HttpRequest, email: str) -> dict[str, Any]:
    """What the preview shows for ``email`` (never another company's route)."""
    lookup = route_lookup(email)
    mine = set(tenants_for(request.user, roles=OBS_ROLES).values_list("pk", flat=True))
    route = lookup.route if lookup.route is not None else lookup.matched
    if route is not None and route.tenant_id not in mine:
        route = None
    if lookup.route is not None and route is not None:
        return {"email": email, "ok": True, "route": route, "domain": lookup.domain}
    if route is None and lookup.event_tenant_id not in mine:
        reason = reason_text(REASON_NOT_MAPPED) if lookup.reason != "invalid_email" else ""
        text = reason_text(lookup.reason) if not reason else f"{reason}. {NOT_YOURS}"
        return {"email": email, "ok": False, "reason": text}
    return {"email": email, "ok": False, "reason": reason_text(lookup.reason), "route": route}


class RoutePreviewAdminMixin:
    """Mix into RouteAdmin: ``route/preview/?email=`` (a fragment for htmx, else a page)."""

    def get_urls(self):  # type: ignore[no-untyped-def]
        admin_site = self.admin_site  # type: ignore[attr-defined]
        return [
            path(
                "preview/",
                admin_site.admin_view(self.preview_view),
                name="onboarding_route_preview",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        model_admin: admin.ModelAdmin = self  # type: ignore[assignment]
        if not model_admin.has_view_permission(request):
            return TemplateResponse(request, "admin/onboarding/route/preview.html", {}, status=403)
        email = str(request.GET.get("email", "")).strip()[:254]
        context: dict[str, Any] = {"result": preview(request, email) if email else None}
        if request.headers.get("HX-Request"):
            return TemplateResponse(request, "admin/onboarding/route/preview.html", context)
        context.update(
            {
                **model_admin.admin_site.each_context(request),
                "opts": model_admin.model._meta,
                "title": "Routing preview",
                "email": email,
            }
        )
        return TemplateResponse(request, "admin/onboarding/route/preview_page.html", context)
