"""The route list's routing preview: which route, IdP and chain a device would get.

It asks :func:`onboarding.selectors.route_lookup`, the selector the device API uses, so
the answer is the one a device would receive now; and it shows only what the member's
own company accounts hold (an address another company routes is "not routed by you").
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext, gettext_noop

from onboarding import conf, device_flow
from onboarding.events import DeviceInfo
from onboarding.models import DeviceAuthorization
from onboarding.reasons import reason_text
from onboarding.selectors import REASON_NOT_MAPPED, hash_secret, route_lookup
from tenants.models import OBS_ROLES
from tenants.selectors import tenants_for

NOT_YOURS = gettext_noop("No route of your company account serves this address.")
#: What a trial's poll answered, in words.
POLL_TEXT = {
    device_flow.AUTHORIZATION_PENDING: gettext_noop(
        "Waiting: nobody has signed in with this code yet."
    ),
    device_flow.SLOW_DOWN: gettext_noop(
        "Waiting: checked too often, wait a few seconds before checking again."
    ),
    device_flow.EXPIRED_TOKEN: gettext_noop(
        "The code expired or was already used: start another trial."
    ),
    device_flow.ACCESS_DENIED: gettext_noop(
        "The sign-in was refused; the onboarding events say why."
    ),
    device_flow.INVALID_GRANT: gettext_noop(
        "The service no longer knows this code: start another trial."
    ),
}
NOT_ROUTED_BY_YOU = gettext_noop("This address is not routed by your company account.")
NO_LONGER_ROUTED = gettext_noop("This address can no longer be onboarded.")
TRIAL_DEVICE = DeviceInfo(hostname="admin-routing-preview", model="Trial from the admin")
_TRIALS = "onboarding-trials"


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
        text = reason_text(lookup.reason) if not reason else f"{reason}. {gettext(NOT_YOURS)}"
        return {"email": email, "ok": False, "reason": text}
    return {"email": email, "ok": False, "reason": reason_text(lookup.reason), "route": route}


if TYPE_CHECKING:
    from tenants.admin_scoping import TenantScopedAdmin

    # Typed as what it is mixed into (RouteAdmin's base); a plain object at run time.
    _RouteAdminBase = TenantScopedAdmin
else:
    _RouteAdminBase = object


class RoutePreviewAdminMixin(_RouteAdminBase):
    """Mix into RouteAdmin: ``route/preview/?email=`` (a fragment for htmx, else a page)."""

    def get_urls(self) -> list[URLPattern]:
        admin_site = self.admin_site
        return [
            path(
                "preview/",
                admin_site.admin_view(self.preview_view),
                name="onboarding_route_preview",
            ),
            path("try/", admin_site.admin_view(self.trial_start_view), name="onboarding_route_try"),
            path(
                "try/<int:pk>/",
                admin_site.admin_view(self.trial_view),
                name="onboarding_route_trial",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return TemplateResponse(request, "admin/onboarding/route/preview.html", {}, status=403)
        email = str(request.GET.get("email", "")).strip()[:254]
        context: dict[str, Any] = {"result": preview(request, email) if email else None}
        if request.headers.get("HX-Request"):
            return TemplateResponse(request, "admin/onboarding/route/preview.html", context)
        context.update(
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": gettext("Routing preview"),
                "email": email,
            }
        )
        return TemplateResponse(request, "admin/onboarding/route/preview_page.html", context)

    def trial_start_view(self, request: HttpRequest) -> HttpResponse:
        """ "Try a device onboarding": start a real device flow, as a device would."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        email = str(request.POST.get("email", "")).strip()[:254]
        if not preview(request, email).get("ok"):
            # Only an address a route of the member's own company serves.
            raise PermissionDenied(gettext(NOT_ROUTED_BY_YOU))
        try:
            started = device_flow.device_authorization_start(
                email=email, device=TRIAL_DEVICE, client_address=request.META.get("REMOTE_ADDR")
            )
        except device_flow.NotRoutable:
            raise PermissionDenied(gettext(NO_LONGER_ROUTED)) from None
        # The device code lives only in this member's session, as it would on the device.
        trials = request.session.setdefault(_TRIALS, {})
        trials[str(started.authorization.pk)] = started.device_code
        request.session.modified = True
        return HttpResponseRedirect(
            reverse("admin:onboarding_route_trial", args=[started.authorization.pk])
        )

    def trial_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The trial's code and link; "Check" polls the token endpoint's service once."""
        device_code = request.session.get(_TRIALS, {}).get(str(pk))
        if device_code is None:
            raise Http404(gettext("No such trial."))
        # By the code's hash too: a row the database lost (a crash under asynchronous
        # commit) can have its id given to another device's row.
        authorization = DeviceAuthorization.objects.filter(
            pk=pk, device_code_hash=hash_secret(device_code)
        ).first()
        if authorization is None:
            raise Http404(gettext("No such trial."))
        outcome = None
        if request.method == "POST":
            outcome = device_flow.device_token_poll(
                device_code=device_code, client_address=request.META.get("REMOTE_ADDR")
            )
        uri = conf.verification_uri()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Try a device onboarding"),
            "authorization": authorization,
            "verification_uri_complete": f"{uri}?user_code={authorization.display_user_code}",
            "answer": json.dumps(outcome.answer, indent=2) if outcome and outcome.answer else "",
            "waiting": _poll_text(outcome.error) if outcome and outcome.error else "",
        }
        return TemplateResponse(request, "admin/onboarding/route/trial.html", context)


def _poll_text(error: str) -> str:
    text = POLL_TEXT.get(error)
    return gettext(text) if text else error
