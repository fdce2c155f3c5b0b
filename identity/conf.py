"""What the identity app derives from settings, in one place for every app that needs it."""

from __future__ import annotations

from django.conf import settings

#: The only algorithms the platform IdP may sign staff ID tokens with (issue 4);
#: ``OIDC_RP_SIGN_ALGO`` picks one. Checked at start-up (``identity.E003``) and at sign-in.
STAFF_SIGNING_ALGORITHMS = ("RS256", "ES256")


def device_redirect_uri() -> str:
    """The redirect URI every tenant IdP registers for the device flow (spec section 3).

    The admin shows it to whoever registers the app; the device flow sends it. Built at
    each call, so it follows ``BASE_URL``.
    """
    return str(settings.BASE_URL).rstrip("/") + "/oidc/callback/"
