"""Onboarding failure reasons in words, for the people who read events (admin, home page).

Events store short codes (``onboarding.events``, ``onboarding.selectors``) so that they
can be filtered and counted; a customer reads these sentences instead.
"""

from __future__ import annotations

from onboarding import events, selectors

REASON_TEXT: dict[str, str] = {
    selectors.REASON_INVALID_EMAIL: "The address typed on the device is not an e-mail address",
    selectors.REASON_NOT_MAPPED: "The e-mail address is not mapped to any route",
    selectors.REASON_ROUTE_DISABLED: "The user's route is disabled",
    selectors.REASON_TENANT_NOT_ACTIVATED: "IGEL OS Onboarding is not activated for the company",
    selectors.REASON_DOMAIN_UNVERIFIED: "The address's domain is not verified for the company",
    events.REASON_INVALID_REQUEST: "The device sent an incomplete or malformed request",
    events.REASON_RATE_LIMITED: "Too many attempts from this device or network",
    events.REASON_UNKNOWN_DEVICE_CODE: "The device used a code the service does not know",
    events.REASON_EXPIRED: "The user did not finish signing in before the code expired",
    events.REASON_ALREADY_USED: "The device asked again after it had received its route",
    events.REASON_DENIED: "The sign-in was refused",
    events.REASON_DEVICE_REJECTED: "The user said the device is not theirs",
    events.REASON_SIGN_IN_CANCELLED: "The user cancelled the sign-in at the identity provider",
    events.REASON_IDP_ERROR: "The identity provider answered with an error",
    events.REASON_IDP_UNAVAILABLE: "The identity provider could not be reached",
    events.REASON_INVALID_ID_TOKEN: "The identity provider's answer failed the security checks",
    events.REASON_NO_EMAIL: "The identity provider did not say the user's e-mail address",
    events.REASON_NOT_REGISTERED: "The signed-in user's e-mail address is not mapped to a route",
    events.REASON_OTHER_TENANT: "The user signed in as someone of another company",
    events.REASON_OTHER_IDP: "The user signed in at another identity provider than the route's",
    events.REASON_STATE_UNKNOWN: "A sign-in came back that was unknown or already used",
    events.REASON_ROUTE_UNAVAILABLE: "The route changed or was removed during the sign-in",
    events.REASON_NO_IDP: "The route has no identity provider",
}


def reason_text(code: str) -> str:
    """The sentence for ``code``; an unknown code (from a newer version) stays readable."""
    if not code:
        return ""
    return REASON_TEXT.get(code, code.replace("_", " ").capitalize())
