"""ID-token validation (OIDC Core 3.1.3.7, RFC 8725).

Size-limited before parsing; ``alg`` pinned to the asymmetric algorithms the IdP
advertises (``none`` and ``HS*`` never: the "HMAC signed with the public key"
confusion); the key is looked up by ``kid`` in the IdP's JWKS, never taken from the
token (``jwk``/``jku``/``x5u`` headers are ignored); ``iss`` exact, ``aud`` contains our
client id, ``azp`` when there are several audiences, ``exp``/``iat``/``nbf`` with at most
:data:`LEEWAY_SECONDS`, ``nonce``, and Entra's ``tid``.
"""

from __future__ import annotations

import binascii
import dataclasses
import functools
import hmac
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import jwt
import jwt.utils
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from identity.oidc.cache import now
from identity.oidc.config import ProviderConfig
from identity.oidc.discovery import provider_metadata
from identity.oidc.errors import (
    EXPIRED,
    INVALID_AUDIENCE,
    INVALID_AZP,
    INVALID_ISSUER,
    INVALID_NONCE,
    INVALID_SIGNATURE,
    INVALID_TENANT,
    ISSUED_IN_FUTURE,
    MALFORMED_TOKEN,
    MISSING_CLAIM,
    NOT_YET_VALID,
    TOKEN_TOO_LARGE,
    TOO_OLD,
    UNKNOWN_KEY,
    UNSUPPORTED_ALGORITHM,
    OIDCError,
)
from identity.oidc.jwks import candidates, signing_keys

Claims = dict[str, Any]

#: Clock skew tolerated on exp/iat/nbf (the issue allows at most two minutes).
LEEWAY_SECONDS = 120
#: ID tokens larger than this are refused before any parsing (real ones are a few KiB).
MAX_ID_TOKEN_BYTES = 16 * 1024
MIN_RSA_BITS = 2048


def unverified_claims(token: object) -> dict[str, Any] | None:
    """The claims of a JWT **without** checking anything: only to choose which IdP's
    configuration to validate it against (``iss``, ``aud``). None when unreadable.

    Size-limited before decoding, and never raises, whatever the token holds.
    """
    if not isinstance(token, str) or _shape_error(token) is not None:
        return None
    parts = _unverified(token)
    return dict(parts.claims) if parts is not None and parts.claims is not None else None


@dataclasses.dataclass(frozen=True)
class _Parts:
    """A JWT read but not verified: what choosing candidates and verifying need."""

    header: dict[str, Any]
    #: None when the payload is not a JSON object.
    claims: dict[str, Any] | None
    payload: bytes
    signing_input: bytes
    signature: bytes


_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")


class _PyJWS(jwt.PyJWS):
    """PyJWT's JWS reader, with each segment's characters checked by one regular
    expression: PyJWT checks them one by one in Python, a quarter of reading and
    validating an ID token (``make bench-profile``). The checks are PyJWT's own, in
    its order (tests/identity/test_id_token_segments.py holds the two together)."""

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        # Up to two "=" (some issuers pad), and then only on a whole 4-character group.
        if padding > 2 or (padding and len(segment) % 4 != 0):
            raise jwt.DecodeError(f"Invalid {name} padding")
        if len(stripped) % 4 == 1 or _BASE64URL.fullmatch(stripped) is None:
            raise jwt.DecodeError(f"Invalid {name} padding")
        try:
            decoded = jwt.utils.base64url_decode(stripped)
        except (TypeError, binascii.Error) as err:
            raise jwt.DecodeError(f"Invalid {name} padding") from err
        # Canonical only: no second spelling of the same bytes (unused low bits set).
        if jwt.utils.base64url_encode(decoded) != stripped:
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


#: The PyJWT releases whose segment reading _PyJWS was compared with (the differential
#: test runs against the installed one). Under any other, PyJWT's own reader is used: a
#: later release may check more, and must not be overridden unread.
_SEGMENT_READER_TESTED = ((2, 9), (2, 15))


def _tested_pyjwt(version: str) -> bool:
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    low, high = _SEGMENT_READER_TESTED
    return low <= major_minor <= high


#: One PyJWS for the process (as PyJWT's own module functions keep): each new one builds
#: every algorithm object again. Its calls keep no state between them.
_JWS = _PyJWS() if _tested_pyjwt(jwt.__version__) else jwt.PyJWS()


@functools.lru_cache(maxsize=64)
def _unverified(token: str) -> _Parts | None:
    """The parts of a JWT, unverified (None when unreadable), read once per token:
    choosing the candidate IdPs, the rate-limit bucket, the key and the signature check
    all ask (PyJWT's decoding checks every character in Python). Callers copy what they
    change."""
    try:
        decoded = _JWS.decode_complete(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        return None
    try:
        claims = json.loads(decoded["payload"])
    except (ValueError, UnicodeDecodeError, RecursionError):
        claims = None
    return _Parts(
        header=decoded["header"],
        claims=claims if isinstance(claims, dict) else None,
        payload=decoded["payload"],
        signing_input=token.rsplit(".", 1)[0].encode(),
        signature=decoded["signature"],
    )


def _shape_error(token: object) -> OIDCError | None:
    """Why ``token`` cannot be a signed JWT of a sane size, before any decoding; None if it may."""
    if not isinstance(token, str) or not token:
        return OIDCError(MALFORMED_TOKEN, "No ID token was given.")
    if len(token) > MAX_ID_TOKEN_BYTES:
        return OIDCError(
            TOKEN_TOO_LARGE, f"The ID token is larger than {MAX_ID_TOKEN_BYTES} bytes."
        )
    if token.count(".") != 2 or not token.isascii():
        return OIDCError(
            MALFORMED_TOKEN, "The ID token is not a signed JWT (three base64url parts)."
        )
    return None


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise OIDCError(MISSING_CLAIM, f"The ID token has no '{name}' claim.")
        return None
    # Python's json accepts NaN and Infinity; NaN compares false with everything, so an
    # "exp": NaN would never expire.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OIDCError(MALFORMED_TOKEN, f"The ID token's '{name}' claim is not a number.")
    return float(value)


_PUBLIC_KEY_TYPES = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


@functools.lru_cache(maxsize=128)
def _key_object(jwk_json: str, alg: str) -> Any:
    # The same JWK arrives with every token of its IdP: its key object is made once.
    return jwt.PyJWK(json.loads(jwk_json), algorithm=alg).key


def _verify_signature(token: str, jwk: Mapping[str, Any], alg: str) -> bytes:
    try:
        key = _key_object(json.dumps(jwk, sort_keys=True), alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise OIDCError(
            UNKNOWN_KEY, f"The IdP's key {jwk.get('kid')!r} cannot be used ({exc})."
        ) from None
    if not isinstance(key, _PUBLIC_KEY_TYPES):
        # A JWK with private parameters ("d") yields a private key, which cannot verify
        # (an AttributeError deep in PyJWT) and means the IdP leaked its signing key.
        raise OIDCError(
            UNKNOWN_KEY,
            f"The IdP's key {jwk.get('kid')!r} contains private key material; it is not trusted.",
        )
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise OIDCError(
            UNKNOWN_KEY,
            f"The IdP's key {jwk.get('kid')!r} is a weak RSA key ({key.key_size} bits).",
        )
    parts = _unverified(token)
    if parts is None or parts.header.get("alg") != alg:
        raise OIDCError(MALFORMED_TOKEN, "The ID token cannot be read.")
    # The token as PyJWT already read it (``_unverified``), checked by PyJWT's algorithm
    # for ``alg``: the one pinned value (the caller checked it is the header's and allowed
    # for this IdP), so the header cannot choose another. What decode_complete would do
    # after reading the token again.
    try:
        algorithm = _JWS.get_algorithm_by_name(alg)
        verified = algorithm.verify(
            parts.signing_input, algorithm.prepare_key(key), parts.signature
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise OIDCError(MALFORMED_TOKEN, f"The ID token cannot be verified ({exc}).") from None
    if not verified:
        raise OIDCError(INVALID_SIGNATURE, "The ID token's signature does not verify.")
    return parts.payload


def validate_id_token(
    config: ProviderConfig,
    token: str,
    *,
    nonce: str | None = None,
    max_age_iat: int | None = None,
    from_token_endpoint: bool = False,
) -> Claims:
    """Validate an ID token per OIDC Core 3.1.3.7 and RFC 8725; return its claims.

    ``nonce``: the value sent in the authorization request (required for the code flow;
    None only where no request of ours preceded the token). ``max_age_iat``: refuse tokens
    issued longer ago than this many seconds (replay window for tokens that devices
    present). Raises :class:`OIDCError`; makes no request when the cache is warm, and at
    most the rate-limited JWKS refresh otherwise. ``from_token_endpoint``: the token is
    the answer to our own token request, so an unknown ``kid`` may force one refresh.
    """
    shape_error = _shape_error(token)
    if shape_error is not None:
        raise shape_error
    header = _header(token)
    metadata = provider_metadata(config)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in metadata.signing_algorithms:
        allowed = ", ".join(sorted(metadata.signing_algorithms)) or "none usable"
        raise OIDCError(
            UNSUPPORTED_ALGORITHM,
            f"The ID token is signed with {alg!r}; accepted for this IdP: {allowed}.",
        )
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
        raise OIDCError(MALFORMED_TOKEN, "The ID token's 'kid' is not a short string.")
    keys = signing_keys(config, metadata.jwks_uri, want_kid=kid, force=from_token_endpoint)
    fitting = candidates(keys, alg, kid)
    if not fitting:
        which = f"key {kid!r}" if kid else "a single key (the token has no 'kid')"
        raise OIDCError(UNKNOWN_KEY, f"The IdP's JWKS has no {which} for {alg}.")
    claims = _payload_claims(_verify_signature(token, fitting[0], alg))
    _check_claims(config, claims, nonce=nonce, max_age_iat=max_age_iat)
    return claims


def _header(token: str) -> dict[str, Any]:
    """The token's JOSE header, refused when it cannot be read or makes demands we ignore."""
    parts = _unverified(token)
    # (PyJWT's own reading of the header also refuses a "kid" that is not a string.)
    if parts is None or not isinstance(parts.header.get("kid", ""), str):
        raise OIDCError(MALFORMED_TOKEN, "The ID token's header cannot be read.")
    header = dict(parts.header)
    if "crit" in header:
        raise OIDCError(
            MALFORMED_TOKEN,
            "The ID token has critical header parameters this service does not know.",
        )
    return header


def _payload_claims(payload: bytes) -> Claims:
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise OIDCError(MALFORMED_TOKEN, "The ID token's payload is not JSON.") from None
    if not isinstance(claims, dict):
        raise OIDCError(MALFORMED_TOKEN, "The ID token's payload is not a JSON object.")
    return claims


def _check_claims(
    config: ProviderConfig, claims: Claims, *, nonce: str | None, max_age_iat: int | None
) -> None:
    """Each rule in turn; the first that fails raises (the order decides which error shows)."""
    _check_issuer_and_subject(config, claims)
    _check_audience(config, claims)
    _check_times(claims, max_age_iat=max_age_iat)
    if nonce is not None:
        _check_nonce(claims, nonce)
    if config.entra_tenant_id:
        _check_entra_tenant(claims, config.entra_tenant_id)


def _check_issuer_and_subject(config: ProviderConfig, claims: Claims) -> None:
    if claims.get("iss") != config.issuer:
        raise OIDCError(
            INVALID_ISSUER,
            f"The ID token was issued by {claims.get('iss')!r}, not {config.issuer!r}.",
        )
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise OIDCError(MISSING_CLAIM, "The ID token has no valid 'sub' claim.")


def _check_audience(config: ProviderConfig, claims: Claims) -> None:
    """``aud`` holds our client ID; with several audiences (or any ``azp``), ``azp`` is us."""
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if (
        not audiences
        or not all(isinstance(a, str) for a in audiences)
        or config.client_id not in audiences
    ):
        raise OIDCError(
            INVALID_AUDIENCE,
            "The ID token is not meant for this service (its 'aud' lacks our client ID).",
        )
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != config.client_id:
        raise OIDCError(INVALID_AZP, "The ID token's authorized party ('azp') is not this service.")


def _check_times(claims: Claims, *, max_age_iat: int | None) -> None:
    """``exp``, ``iat`` and ``nbf`` with :data:`LEEWAY_SECONDS` of clock skew either way."""
    current = now()
    exp = _number(claims, "exp", required=True)
    iat = _number(claims, "iat", required=True)
    nbf = _number(claims, "nbf", required=False)
    assert exp is not None and iat is not None
    if current > exp + LEEWAY_SECONDS:
        raise OIDCError(EXPIRED, "The ID token has expired.")
    if iat > current + LEEWAY_SECONDS:
        raise OIDCError(ISSUED_IN_FUTURE, "The ID token claims to be issued in the future.")
    if nbf is not None and nbf > current + LEEWAY_SECONDS:
        raise OIDCError(NOT_YET_VALID, "The ID token is not valid yet ('nbf').")
    if max_age_iat is not None and current - iat > max_age_iat + LEEWAY_SECONDS:
        raise OIDCError(TOO_OLD, f"The ID token was issued more than {max_age_iat} seconds ago.")


def _check_nonce(claims: Claims, nonce: str) -> None:
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(
        token_nonce.encode(), nonce.encode()
    ):
        raise OIDCError(INVALID_NONCE, "The ID token's nonce does not match the sign-in request.")


def _check_entra_tenant(claims: Claims, entra_tenant_id: str) -> None:
    tid = claims.get("tid")
    if not isinstance(tid, str) or tid.lower() != entra_tenant_id.lower():
        raise OIDCError(INVALID_TENANT, "The ID token comes from another Entra directory ('tid').")
