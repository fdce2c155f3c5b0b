"""What can go wrong talking to an IdP or validating what it sent: one exception, stable codes."""

from __future__ import annotations

# Stable error codes: callers and tests match on these, messages may change.
CONFIG_ERROR = "config_error"
DESTINATION_REFUSED = "destination_refused"
HTTP_ERROR = "http_error"
RESPONSE_TOO_LARGE = "response_too_large"
INVALID_RESPONSE = "invalid_response"
DISCOVERY_FAILED = "discovery_failed"
ISSUER_MISMATCH = "issuer_mismatch"
JWKS_UNAVAILABLE = "jwks_unavailable"
TOKEN_REQUEST_FAILED = "token_request_failed"  # noqa: S105 (error code)
USERINFO_FAILED = "userinfo_failed"
USERINFO_SUBJECT_MISMATCH = "userinfo_subject_mismatch"
TOKEN_TOO_LARGE = "token_too_large"  # noqa: S105 (error code)
MALFORMED_TOKEN = "malformed_token"  # noqa: S105 (error code)
UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
UNKNOWN_KEY = "unknown_key"
INVALID_SIGNATURE = "invalid_signature"
INVALID_ISSUER = "invalid_issuer"
INVALID_AUDIENCE = "invalid_audience"
INVALID_AZP = "invalid_azp"
MISSING_CLAIM = "missing_claim"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
ISSUED_IN_FUTURE = "issued_in_future"
TOO_OLD = "too_old"
INVALID_NONCE = "invalid_nonce"
INVALID_TENANT = "invalid_tenant"
NO_EMAIL = "no_email"
INVALID_EMAIL = "invalid_email"
RESPONSE_ISSUER_MISMATCH = "response_issuer_mismatch"


class OIDCError(Exception):
    """Anything that went wrong talking to an IdP or validating what it sent.

    ``code`` is one of the module's constants (stable); ``message`` says, for an operator,
    exactly what failed. Neither ever contains a secret or a whole token.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


#: Failures that say nothing about the user or the token (the IdP or our configuration
#: is at fault, or the network): a caller may let the user try again.
TRANSIENT_ERRORS = frozenset(
    {
        CONFIG_ERROR,
        DESTINATION_REFUSED,
        HTTP_ERROR,
        RESPONSE_TOO_LARGE,
        INVALID_RESPONSE,
        DISCOVERY_FAILED,
        ISSUER_MISMATCH,
        JWKS_UNAVAILABLE,
        TOKEN_REQUEST_FAILED,
        USERINFO_FAILED,
    }
)
