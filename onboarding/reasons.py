"""Onboarding failure reasons in words, for the people who read events (admin, home page).

Events store short codes (``onboarding.events``, ``onboarding.selectors``) so that they
can be filtered and counted; a customer reads these sentences instead.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

from onboarding import events, selectors

REASON_TEXT: dict[str, str] = {
    selectors.REASON_INVALID_EMAIL: gettext_noop(
        "The address typed on the device is not an e-mail address"
    ),
    selectors.REASON_NOT_MAPPED: gettext_noop("The e-mail address is not mapped to any route"),
    selectors.REASON_ROUTE_DISABLED: gettext_noop("The user's route is disabled"),
    selectors.REASON_TENANT_NOT_ACTIVATED: gettext_noop(
        "IGEL OS Onboarding is not activated for the company"
    ),
    selectors.REASON_DOMAIN_UNVERIFIED: gettext_noop(
        "The address's domain is not verified for the company"
    ),
    events.REASON_INVALID_REQUEST: gettext_noop(
        "The device sent an incomplete or malformed request"
    ),
    events.REASON_RATE_LIMITED: gettext_noop("Too many attempts from this device or network"),
    events.REASON_UNKNOWN_DEVICE_CODE: gettext_noop(
        "The device used a code the service does not know"
    ),
    events.REASON_EXPIRED: gettext_noop(
        "The user did not finish signing in before the code expired"
    ),
    events.REASON_ALREADY_USED: gettext_noop(
        "The device asked again after it had received its route"
    ),
    events.REASON_DENIED: gettext_noop("The sign-in was refused"),
    events.REASON_DEVICE_REJECTED: gettext_noop("The user said the device is not theirs"),
    events.REASON_SIGN_IN_CANCELLED: gettext_noop(
        "The user cancelled the sign-in at the identity provider"
    ),
    events.REASON_IDP_ERROR: gettext_noop("The identity provider answered with an error"),
    events.REASON_IDP_UNAVAILABLE: gettext_noop("The identity provider could not be reached"),
    events.REASON_INVALID_ID_TOKEN: gettext_noop(
        "The identity provider's answer failed the security checks"
    ),
    events.REASON_NO_EMAIL: gettext_noop(
        "The identity provider did not say the user's e-mail address"
    ),
    events.REASON_NOT_REGISTERED: gettext_noop(
        "The signed-in user's e-mail address is not mapped to a route"
    ),
    events.REASON_OTHER_TENANT: gettext_noop("The user signed in as someone of another company"),
    events.REASON_OTHER_IDP: gettext_noop(
        "The user signed in at another identity provider than the route's"
    ),
    events.REASON_STATE_UNKNOWN: gettext_noop(
        "A sign-in came back that was unknown or already used"
    ),
    events.REASON_ROUTE_UNAVAILABLE: gettext_noop(
        "The route changed or was removed during the sign-in"
    ),
    events.REASON_NO_IDP: gettext_noop("The route has no identity provider"),
}


def reason_text(code: str) -> str:
    """The sentence for ``code`` in the active language; an unknown code (from a newer
    version) stays readable."""
    if not code:
        return ""
    text = REASON_TEXT.get(code)
    return gettext(text) if text else code.replace("_", " ").capitalize()
