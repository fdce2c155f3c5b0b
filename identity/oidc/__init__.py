"""The OpenID Connect client: the only code that talks HTTP to identity providers.

Used by the device flow (tenant IdPs) and by the staff sign-in (the platform IdP). It
works from a plain :class:`ProviderConfig`, built from an ``IdentityProvider`` row by
:func:`provider_config` or from settings by ``identity.staff.staff_provider_config``.

One idea per module, every public name re-exported here (callers import
``identity.oidc``, not the modules):

* ``errors``: :class:`OIDCError` and its stable codes.
* ``config``: :class:`ProviderConfig`, :func:`provider_config`.
* ``http``: every request to an IdP (checked destination, no redirects, timeouts, size
  limit, metrics).
* ``cache``: shared-cache keys and lifetimes; the clock (see :data:`clock`).
* ``discovery``: the discovery document, cached, and :func:`provider_metadata`.
* ``jwks``: the IdP's signing keys, cached, refreshed within limits.
* ``tokens``: ID-token validation (OIDC Core 3.1.3.7, RFC 8725).
* ``claims``: UserInfo and the user's e-mail; :func:`email_unverified`.
* ``flow``: the authorization request, the response's issuer, the code redemption.
* ``probe``: the admin's "Test discovery".

Each module's docstring names the security decisions it makes and the attacks they stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from identity.oidc.cache import COLD_RETRY_INTERVAL, STALE_KEEP_SECONDS
from identity.oidc.claims import (
    EMAIL_NOT_VERIFIED,
    email_from_claims,
    email_unverified,
    fetch_userinfo,
    resolve_email,
)
from identity.oidc.config import ASYMMETRIC_ALGORITHMS, ProviderConfig, provider_config
from identity.oidc.discovery import (
    DISCOVERY_MAX_AGE,
    DISCOVERY_RETRY_INTERVAL,
    ProviderMetadata,
    discover,
    fetch_discovery,
    provider_metadata,
)
from identity.oidc.errors import (
    CONFIG_ERROR,
    DESTINATION_REFUSED,
    DISCOVERY_FAILED,
    EXPIRED,
    HTTP_ERROR,
    INVALID_AUDIENCE,
    INVALID_AZP,
    INVALID_EMAIL,
    INVALID_ISSUER,
    INVALID_NONCE,
    INVALID_RESPONSE,
    INVALID_SIGNATURE,
    INVALID_TENANT,
    ISSUED_IN_FUTURE,
    ISSUER_MISMATCH,
    JWKS_UNAVAILABLE,
    MALFORMED_TOKEN,
    MISSING_CLAIM,
    NO_EMAIL,
    NOT_YET_VALID,
    RESPONSE_ISSUER_MISMATCH,
    RESPONSE_TOO_LARGE,
    TOKEN_REQUEST_FAILED,
    TOKEN_TOO_LARGE,
    TOO_OLD,
    TRANSIENT_ERRORS,
    UNKNOWN_KEY,
    UNSUPPORTED_ALGORITHM,
    USERINFO_FAILED,
    USERINFO_SUBJECT_MISMATCH,
    OIDCError,
)
from identity.oidc.flow import (
    Authentication,
    AuthorizationRequest,
    authorization_request,
    check_response_issuer,
    complete_authentication,
    pkce_challenge,
    redeem_code,
)
from identity.oidc.http import USER_AGENT
from identity.oidc.jwks import (
    JWKS_MAX_AGE,
    JWKS_REFRESH_INTERVAL,
    MAX_JWKS_KEYS,
    fetch_jwks,
    jwks_refresh_lock_key,
    signing_keys,
)
from identity.oidc.probe import ProbeReport, probe
from identity.oidc.tokens import (
    LEEWAY_SECONDS,
    MAX_ID_TOKEN_BYTES,
    MIN_RSA_BITS,
    Claims,
    unverified_claims,
    validate_id_token,
)

#: Time source for claim checks, cache ages and the refresh limits; tests replace it.
#: Every module reads it from here at each call (``identity.oidc.cache.now``).
clock: Callable[[], float] = time.time

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "COLD_RETRY_INTERVAL",
    "CONFIG_ERROR",
    "DESTINATION_REFUSED",
    "DISCOVERY_FAILED",
    "DISCOVERY_MAX_AGE",
    "DISCOVERY_RETRY_INTERVAL",
    "EMAIL_NOT_VERIFIED",
    "EXPIRED",
    "HTTP_ERROR",
    "INVALID_AUDIENCE",
    "INVALID_AZP",
    "INVALID_EMAIL",
    "INVALID_ISSUER",
    "INVALID_NONCE",
    "INVALID_RESPONSE",
    "INVALID_SIGNATURE",
    "INVALID_TENANT",
    "ISSUED_IN_FUTURE",
    "ISSUER_MISMATCH",
    "JWKS_MAX_AGE",
    "JWKS_REFRESH_INTERVAL",
    "JWKS_UNAVAILABLE",
    "LEEWAY_SECONDS",
    "MALFORMED_TOKEN",
    "MAX_ID_TOKEN_BYTES",
    "MAX_JWKS_KEYS",
    "MIN_RSA_BITS",
    "MISSING_CLAIM",
    "NOT_YET_VALID",
    "NO_EMAIL",
    "RESPONSE_ISSUER_MISMATCH",
    "RESPONSE_TOO_LARGE",
    "STALE_KEEP_SECONDS",
    "TOKEN_REQUEST_FAILED",
    "TOKEN_TOO_LARGE",
    "TOO_OLD",
    "TRANSIENT_ERRORS",
    "UNKNOWN_KEY",
    "UNSUPPORTED_ALGORITHM",
    "USERINFO_FAILED",
    "USERINFO_SUBJECT_MISMATCH",
    "USER_AGENT",
    "Authentication",
    "AuthorizationRequest",
    "Claims",
    "OIDCError",
    "ProbeReport",
    "ProviderConfig",
    "ProviderMetadata",
    "authorization_request",
    "check_response_issuer",
    "clock",
    "complete_authentication",
    "discover",
    "email_from_claims",
    "email_unverified",
    "fetch_discovery",
    "fetch_jwks",
    "fetch_userinfo",
    "jwks_refresh_lock_key",
    "pkce_challenge",
    "probe",
    "provider_config",
    "provider_metadata",
    "redeem_code",
    "resolve_email",
    "signing_keys",
    "unverified_claims",
    "validate_id_token",
]
