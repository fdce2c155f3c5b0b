"""Error pages a person reads (the device API answers JSON instead: ``onboarding.api``).

They carry the admin's look (Unfold's sign-in layout, the site's colours and favicon)
and always a way back: to the admin home for staff, to the device page for everyone else.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext, gettext_noop

FORBIDDEN_TEXT = gettext_noop(
    "Your account may not open this page. Your role in the company account decides what you"
    " can change; an account admin or super admin can change roles."
)


def error_page(request: HttpRequest, *, status: int, title: str, text: str) -> HttpResponse:
    user = getattr(request, "user", None)
    staff = bool(user and user.is_active and user.is_staff)
    context = {
        **admin.site.each_context(request),
        "title": title,
        "text": text,
        "back_url": "/admin/" if staff else "/device",
        "back_label": gettext("Back to the admin home")
        if staff
        else gettext("Back to device onboarding"),
    }
    response = TemplateResponse(request, "error.html", context, status=status)
    return response.render()


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    detail = str(exception) if exception and str(exception) else ""
    return error_page(
        request,
        status=403,
        title=gettext("You may not open this page"),
        text=f"{detail} {gettext(FORBIDDEN_TEXT)}".strip(),
    )


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' lock-out page (``AXES_LOCKOUT_CALLABLE``), with the admin's look."""
    from axes.helpers import get_client_username, get_cool_off, get_failure_limit

    context = {
        **admin.site.each_context(request),
        "title": gettext("Sign-in locked"),
        "failure_limit": get_failure_limit(request, credentials),
        "username": get_client_username(request, credentials) or "",
        "cooloff_timedelta": get_cool_off(request),
    }
    response = TemplateResponse(
        request,
        settings.AXES_LOCKOUT_TEMPLATE,
        context,
        # django-axes sets its defaults on the settings object (axes.conf).
        status=settings.AXES_HTTP_RESPONSE_CODE,  # type: ignore[misc]
    )
    return response.render()
