"""System checks: a half-configured staff sign-in is reported at start-up, not at login."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def staff_oidc_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if not getattr(settings, "STAFF_OIDC_ENABLED", False):
        return []
    errors = []
    if not settings.OIDC_OP_ISSUER:
        errors.append(
            Error(
                "OIDC_OP_ISSUER is not set; without it ID tokens' 'iss' cannot be checked.",
                id="identity.E001",
            )
        )
    if not settings.OIDC_RP_CLIENT_SECRET:
        errors.append(
            Error(
                "OIDC_RP_CLIENT_SECRET is not set (or OIDC_RP_CLIENT_SECRET_FILE).",
                id="identity.E002",
            )
        )
    if settings.OIDC_RP_SIGN_ALGO not in ("RS256", "ES256"):
        errors.append(Error("OIDC_RP_SIGN_ALGO must be RS256 or ES256.", id="identity.E003"))
    return errors
