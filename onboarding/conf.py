"""Settings of the device flow, with their defaults.

Read through these helpers (not ``settings.X`` directly) so the service runs with
nothing configured; each may be overridden in ``config/settings.py`` or a test.
"""

from __future__ import annotations

from django.conf import settings

from identity.conf import device_redirect_uri

#: (requests, seconds) per limit; ``ONBOARDING_RATE_LIMITS`` in settings overrides entries.
#: Per-address limits are generous because one office NAT may front many devices.
#: Per-e-mail limits count per (e-mail, client address), or only failures, so nobody can
#: spend a victim's budget from their own address (issue 15 #8).
DEFAULT_RATE_LIMITS: dict[str, tuple[int, int]] = {
    "authorize_address": (120, 60),
    # Per (e-mail, client address).
    "authorize_email": (30, 600),
    # Per e-mail, from any address: only requests answered "cannot be onboarded".
    "authorize_email_failures": (30, 600),
    "token_address": (1200, 60),
    # Per device code, counted after the interval check (too-fast polls get slow_down).
    "token_device_code": (60, 60),
    "lookup_address": (120, 60),
    # Per (e-mail, client address); the e-mail is the one the valid ID token carries.
    "lookup_email": (60, 600),
    # Failed user-code entries on the verification page (RFC 8628 section 5.1): per
    # client address, and all of the platform's together, so guessing from many
    # addresses stays bounded.
    "user_code_address": (20, 600),
    "user_code_platform": (1000, 600),
    "callback_address": (60, 60),
}


def rate_limit_ipv6_prefix() -> int:
    """IPv6 clients share one rate-limit bucket per network of this prefix length."""
    return int(settings.RATE_LIMIT_IPV6_PREFIX)


def device_code_expires_in() -> int:
    return int(getattr(settings, "DEVICE_CODE_EXPIRES_IN", 600))


def device_code_interval() -> int:
    return int(getattr(settings, "DEVICE_CODE_INTERVAL", 5))


def device_code_async_commit() -> bool:
    """Whether a new device code's row is committed without waiting for the disk."""
    return bool(getattr(settings, "DEVICE_CODE_ASYNC_COMMIT", True))


def slow_down_step() -> int:
    """Seconds added to a device code's interval on ``slow_down`` (RFC 8628 section 3.5)."""
    return int(getattr(settings, "DEVICE_CODE_SLOW_DOWN_STEP", 5))


def max_interval() -> int:
    """A device ignoring ``slow_down`` forever cannot push its interval past this."""
    return int(getattr(settings, "DEVICE_CODE_MAX_INTERVAL", 60))


def poll_slack() -> float:
    """Seconds a poll may arrive early before it counts as too fast (network jitter)."""
    return float(getattr(settings, "DEVICE_CODE_POLL_SLACK", 0.5))


def sign_in_timeout() -> int:
    """How long the OIDC state of one sign-in stays valid (seconds)."""
    return int(getattr(settings, "ONBOARDING_SIGN_IN_TIMEOUT", 600))


def lookup_max_token_age() -> int:
    """Maximum age (``iat``) of an ID token presented to the lookup endpoint, seconds."""
    return int(getattr(settings, "ONBOARDING_LOOKUP_MAX_TOKEN_AGE", 600))


def max_body_bytes() -> int:
    return int(getattr(settings, "ONBOARDING_MAX_BODY_BYTES", 64 * 1024))


def rate_limit(name: str) -> tuple[int, int]:
    overrides = getattr(settings, "ONBOARDING_RATE_LIMITS", None) or {}
    count, period = overrides.get(name, DEFAULT_RATE_LIMITS[name])
    return int(count), int(period)


def event_batch_seconds() -> float:
    return float(getattr(settings, "ONBOARDING_EVENT_BATCH_SECONDS", 0))


def event_retention_days() -> int:
    return int(getattr(settings, "ONBOARDING_EVENT_RETENTION_DAYS", 90))


def base_url() -> str:
    return str(settings.BASE_URL).rstrip("/")


def redirect_uri() -> str:
    """The redirect URI registered at every tenant IdP (spec section 3)."""
    return device_redirect_uri()


def verification_uri() -> str:
    return base_url() + "/device"


def assertion_lifetime() -> int:
    """Seconds an onboarding assertion is valid (its ``exp`` - ``iat``, the ``expires_in``)."""
    return int(settings.ONBOARDING_ASSERTION_LIFETIME)


def jwks_max_age() -> int:
    """Seconds clients may cache the published keys and the server metadata."""
    return int(settings.ONBOARDING_JWKS_MAX_AGE)
