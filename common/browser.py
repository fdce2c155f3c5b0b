"""Browser-only middleware, passed through by the device endpoints.

A device asking ``/api/v1/device/authorize``, ``/device/token`` or ``/onboarding/lookup``
has no session, no signed-in user, no flash messages and no time-zone cookie. Each middleware below is Django's (or ours) for every other request, and hands a
device API request straight on: together they were some 10 % of a pending poll
(``make bench-profile``). They are subclasses, so Django's checks still find them where
they must be. (Django's clickjacking check and django-axes' want their own classes by
name; they cost little.)

What every request keeps: the request log, probes, security headers, host checking
(``CommonMiddleware``), the request's language (``LocaleMiddleware``: error descriptions
follow Accept-Language), CSRF (the device views are exempt, as before) and the outage
answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse

from common.timezone import ViewerTimeZoneMiddleware

#: The device endpoints (with or without the trailing slash devices differ on).
DEVICE_PATHS = frozenset(
    {"/api/v1/device/authorize", "/api/v1/device/token", "/api/v1/onboarding/lookup"}
)


def is_device_request(request: HttpRequest) -> bool:
    path = request.path_info
    return (path[:-1] if path.endswith("/") else path) in DEVICE_PATHS


class _PassDeviceRequests:
    def __call__(self, request: HttpRequest) -> Any:
        if is_device_request(request):
            next_step: Callable[[HttpRequest], HttpResponse] = self.get_response  # type: ignore[attr-defined]
            return next_step(request)
        return super().__call__(request)  # type: ignore[misc]


class BrowserSessionMiddleware(_PassDeviceRequests, SessionMiddleware):
    pass


class BrowserAuthenticationMiddleware(_PassDeviceRequests, AuthenticationMiddleware):
    pass


class BrowserTimeZoneMiddleware(_PassDeviceRequests, ViewerTimeZoneMiddleware):
    pass


class BrowserMessageMiddleware(_PassDeviceRequests, MessageMiddleware):
    pass
