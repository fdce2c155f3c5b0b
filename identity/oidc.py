"""The OpenID Connect client: the only module that talks HTTP to identity providers.

Used by the device flow (tenant IdPs) and by the staff sign-in (the platform IdP). It
works from a plain :class:`ProviderConfig`, built from an ``IdentityProvider`` row by
:func:`provider_config` or from settings by ``identity.staff.staff_provider_config``.

Security decisions, and the attacks they stop:

* Every URL passes ``common.network.check_url`` (https in production, no private
  addresses: SSRF); redirects are never followed (a redirect would bypass that check);
  every request has a timeout and an overall deadline, and responses are read by
  streaming up to ``OUTBOUND_MAX_RESPONSE_BYTES`` (memory exhaustion by a hostile IdP).
* ID tokens (OIDC Core 3.1.3.7, RFC 8725): size-limited before parsing; ``alg`` pinned to
  the asymmetric algorithms the IdP advertises (``none`` and ``HS*`` never: the
  "HMAC signed with the public key" confusion); the key is looked up by ``kid`` in the
  IdP's JWKS, never taken from the token (``jwk``/``jku``/``x5u`` headers are ignored);
  ``iss`` exact, ``aud`` contains our client id, ``azp`` when there are several
  audiences, ``exp``/``iat``/``nbf`` with at most :data:`LEEWAY_SECONDS`, ``nonce``, and
  Entra's ``tid``.
* The JWKS is cached per issuer in the shared Django cache (every process benefits). An
  unknown ``kid`` causes at most one refresh per :data:`JWKS_REFRESH_INTERVAL` per
  issuer, single-flight across processes (``cache.add`` as a lock), so a flood of forged
  tokens cannot turn into a flood of requests to the IdP. When the IdP is unreachable the
  cached keys keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from common import metrics
from common.crypto import SealedSecret, SecretUnavailable, reveal
from common.network import DisallowedDestination, OutboundSession, check_url
from common.validators import normalize_email

logger = logging.getLogger(__name__)

Claims = dict[str, Any]

#: Signature algorithms an ID token may use at all; the IdP's advertised list is
#: intersected with this set. Symmetric (HS*) and ``none`` are deliberately absent.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: Clock skew tolerated on exp/iat/nbf (the issue allows at most two minutes).
LEEWAY_SECONDS = 120
#: ID tokens larger than this are refused before any parsing (real ones are a few KiB).
MAX_ID_TOKEN_BYTES = 16 * 1024
#: A JWKS younger than this is used without asking the IdP (no request on the hot path).
JWKS_MAX_AGE = 6 * 3600
#: How long a JWKS (or discovery document) is kept at all: a stale copy is still used
#: when the IdP cannot be reached.
STALE_KEEP_SECONDS = 7 * 24 * 3600
#: At most one JWKS refresh per issuer in this many seconds, whatever the tokens say.
JWKS_REFRESH_INTERVAL = 60
#: With nothing cached, a failed fetch is not retried for this long (an IdP that is
#: down is not asked once per incoming token).
COLD_RETRY_INTERVAL = 10
DISCOVERY_MAX_AGE = 3600
MAX_JWKS_KEYS = 50
MIN_RSA_BITS = 2048
USER_AGENT = "igel-onboarding-service (OpenID Connect client)"

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


def unverified_claims(token: object) -> dict[str, Any] | None:
    """The claims of a JWT **without** checking anything: only to choose which IdP's
    configuration to validate it against (``iss``, ``aud``). None when unreadable.

    Size-limited before decoding, and never raises, whatever the token holds.
    """
    if not isinstance(token, str) or _shape_error(token) is not None:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


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


#: Time source for claim checks and the refresh limit; tests replace it.
clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class ProviderConfig:
    """What this module needs to know about one IdP; independent of any model."""

    issuer: str
    client_id: str
    #: Plaintext, or still sealed as loaded from the database (revealed by redeem_code).
    client_secret: str | SealedSecret = ""
    scopes: str = "openid profile email"
    email_claim: str = "email"
    #: Entra directory id: the token's ``tid`` must equal it.
    entra_tenant_id: str | None = None
    # Explicit endpoints; with authorization, token and JWKS all set, no discovery.
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    jwks_uri: str = ""
    userinfo_endpoint: str = ""
    #: Further narrows the accepted algorithms (the staff sign-in allows RS256/ES256).
    allowed_algorithms: frozenset[str] = ASYMMETRIC_ALGORITHMS

    @property
    def uses_discovery(self) -> bool:
        return not (self.authorization_endpoint and self.token_endpoint and self.jwks_uri)

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass(frozen=True)
class ProviderMetadata:
    """The endpoints and capabilities in effect (from discovery or the explicit config)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    signing_algorithms: frozenset[str]
    token_auth_methods: tuple[str, ...]
    code_challenge_methods: tuple[str, ...] | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: RFC 9207: the IdP says it puts ``iss`` into every authorization response.
    iss_parameter_supported: bool = False


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and what to keep (server side) for the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Authentication:
    """The outcome of a successful code flow: validated claims and the user's e-mail."""

    claims: Claims
    email: str
    tokens: Mapping[str, Any] = field(repr=False)


def provider_config(idp: Any) -> ProviderConfig:
    """Build the config of a tenant's ``identity.models.IdentityProvider``."""
    from identity.models import IdPKind  # late: keeps this module importable without apps

    explicit = idp.kind == IdPKind.OIDC and not idp.uses_discovery
    return ProviderConfig(
        issuer=idp.effective_issuer,
        client_id=idp.client_id,
        client_secret=idp.client_secret or "",
        scopes=idp.scopes or "openid profile email",
        email_claim=idp.email_claim or "email",
        entra_tenant_id=idp.entra_tenant_id if idp.kind == IdPKind.ENTRA else None,
        authorization_endpoint=idp.authorization_endpoint if explicit else "",
        token_endpoint=idp.token_endpoint if explicit else "",
        jwks_uri=idp.jwks_uri if explicit else "",
        userinfo_endpoint=idp.userinfo_endpoint if explicit else "",
    )


# --- HTTP ---------------------------------------------------------------------------


#: The metrics label of each kind of request to an IdP (by the error code it fails with).
_OPERATIONS = {
    DISCOVERY_FAILED: "discovery",
    JWKS_UNAVAILABLE: "jwks",
    TOKEN_REQUEST_FAILED: "token",
    USERINFO_FAILED: "userinfo",
}


def _request(
    method: str,
    url: str,
    *,
    what: str,
    error_code: str,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """:func:`_request_once`, counted and timed for ``/metrics``."""
    operation = _OPERATIONS.get(error_code, "other")
    started = time.monotonic()
    outcome = "ok"
    try:
        status, content_type, body = _request_once(
            method, url, what=what, error_code=error_code, data=data, headers=headers
        )
        if status >= 400:
            outcome = f"http_{status // 100}xx"
        return status, content_type, body
    except OIDCError as exc:
        outcome = exc.code
        raise
    finally:
        metrics.IDP_REQUESTS.labels(operation, outcome).inc()
        metrics.IDP_DURATION.labels(operation).observe(time.monotonic() - started)


def _request_once(
    method: str,
    url: str,
    *,
    what: str,
    error_code: str,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """One bounded request: checked destination, no redirects, timeout, size limit.

    Returns (status, content type, body). Network failures raise ``OIDCError(error_code)``.
    """
    try:
        check_url(url)
    except DisallowedDestination as exc:
        raise OIDCError(DESTINATION_REFUSED, f"{what}: {exc}") from None
    timeout = float(settings.OUTBOUND_HTTP_TIMEOUT)
    limit = int(settings.OUTBOUND_MAX_RESPONSE_BYTES)
    # requests' timeout bounds each socket operation; the session's deadline bounds the
    # whole exchange (headers included), so an IdP dripping one byte at a time cannot
    # hold a worker for long. The session also connects only to vetted addresses.
    all_headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    too_slow = OIDCError(error_code, f"{what}: {url} took too long to answer.")
    with OutboundSession(deadline=2 * timeout) as session:
        try:
            with session.request(
                method,
                url,
                data=data,
                headers=all_headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise OIDCError(
                        RESPONSE_TOO_LARGE, f"{what}: the response is larger than {limit} bytes."
                    )
                body = bytearray()
                for chunk in response.iter_content(chunk_size=16384):
                    body.extend(chunk)
                    if len(body) > limit:
                        raise OIDCError(
                            RESPONSE_TOO_LARGE,
                            f"{what}: the response is larger than {limit} bytes.",
                        )
                status = response.status_code
                content_type = response.headers.get("Content-Type", "")
                location = response.headers.get("Location", "")
        except DisallowedDestination as exc:
            raise OIDCError(DESTINATION_REFUSED, f"{what}: {exc}") from None
        except requests.RequestException as exc:
            if session.expired:
                raise too_slow from None
            raise OIDCError(
                error_code, f"{what}: {url} could not be reached ({type(exc).__name__})."
            ) from None
        if session.expired:
            # The watchdog may have cut the body short without an error: never use it.
            raise too_slow
    if 300 <= status < 400:
        raise OIDCError(
            error_code,
            f"{what}: {url} answered with a redirect to {location or '(nowhere)'}; "
            "redirects are not followed, configure the final URL.",
        )
    return status, content_type, bytes(body)


def _json_object(body: bytes, *, what: str, code: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    # RecursionError: a few KiB of "[[[[..." from a hostile server would otherwise be a 500.
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise OIDCError(code, f"{what}: the response is not JSON.") from None
    if not isinstance(value, dict):
        raise OIDCError(code, f"{what}: the response is not a JSON object.")
    return value


def _get_json(
    url: str, *, what: str, error_code: str, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    status, _ctype, body = _request("GET", url, what=what, error_code=error_code, headers=headers)
    if status != 200:
        raise OIDCError(error_code, f"{what}: {url} answered HTTP {status}.")
    return _json_object(body, what=what, code=error_code)


def _cache_key(kind: str, *parts: str) -> str:
    # Hashed: issuers are arbitrary URLs, cache keys must stay short and safe (memcached).
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]
    return f"oidc:{kind}:{digest}"


# --- Discovery ------------------------------------------------------------------------


def fetch_discovery(config: ProviderConfig) -> dict[str, Any]:
    """Fetch and check the discovery document now (no cache)."""
    what = "Discovery"
    document = _get_json(config.discovery_url, what=what, error_code=DISCOVERY_FAILED)
    if document.get("issuer") != config.issuer:
        raise OIDCError(
            ISSUER_MISMATCH,
            f"{what}: the document at {config.discovery_url} names the issuer "
            f"{document.get('issuer')!r}, not {config.issuer!r}; the configured issuer must be "
            "exactly the one the IdP publishes.",
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str) or not value:
            raise OIDCError(DISCOVERY_FAILED, f"{what}: the document has no {name}.")
    return document


def discover(config: ProviderConfig, *, refresh: bool = False) -> dict[str, Any]:
    """The discovery document, from the shared cache when fresh.

    A stale copy is kept for :data:`STALE_KEEP_SECONDS` and used when the IdP cannot be
    reached; a failed refresh is retried at most once a minute.
    """
    key = _cache_key("discovery", config.discovery_url, config.issuer)
    cached = cache.get(key)
    now = clock()
    if not refresh and cached and now - cached["fetched_at"] < DISCOVERY_MAX_AGE:
        return cached["document"]
    if not refresh:
        if cached and not cache.add(key + ":retry", 1, timeout=JWKS_REFRESH_INTERVAL):
            return cached["document"]
        failure = cache.get(key + ":failed")
        if not cached and failure:
            raise OIDCError(failure[0], failure[1])
    try:
        document = fetch_discovery(config)
    except OIDCError as exc:
        if cached and exc.code != ISSUER_MISMATCH:
            logger.warning(
                "Using a stale discovery document for %s: %s", config.issuer, exc.message
            )
            return cached["document"]
        cache.set(key + ":failed", (exc.code, exc.message), timeout=COLD_RETRY_INTERVAL)
        raise
    cache.set(key, {"document": document, "fetched_at": now}, timeout=STALE_KEEP_SECONDS)
    return document


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def provider_metadata(config: ProviderConfig, *, refresh: bool = False) -> ProviderMetadata:
    """Endpoints and capabilities: from discovery, or from the explicit configuration."""
    if not config.issuer:
        raise OIDCError(CONFIG_ERROR, "No issuer is configured.")
    if not config.uses_discovery:
        return ProviderMetadata(
            issuer=config.issuer,
            authorization_endpoint=config.authorization_endpoint,
            token_endpoint=config.token_endpoint,
            jwks_uri=config.jwks_uri,
            userinfo_endpoint=config.userinfo_endpoint,
            # Without discovery nothing is advertised: any asymmetric algorithm whose key
            # type matches the JWKS key is accepted (never a symmetric one).
            signing_algorithms=ASYMMETRIC_ALGORITHMS & config.allowed_algorithms,
            token_auth_methods=("client_secret_basic",),
            code_challenge_methods=None,
        )
    document = discover(config, refresh=refresh)
    # Discovery requires this list; RS256 is the OIDC default when an IdP omits it.
    advertised = _string_list(document.get("id_token_signing_alg_values_supported")) or ("RS256",)
    return ProviderMetadata(
        issuer=config.issuer,
        authorization_endpoint=config.authorization_endpoint or document["authorization_endpoint"],
        token_endpoint=config.token_endpoint or document["token_endpoint"],
        jwks_uri=config.jwks_uri or document["jwks_uri"],
        userinfo_endpoint=config.userinfo_endpoint or str(document.get("userinfo_endpoint") or ""),
        signing_algorithms=frozenset(advertised)
        & ASYMMETRIC_ALGORITHMS
        & config.allowed_algorithms,
        token_auth_methods=_string_list(document.get("token_endpoint_auth_methods_supported"))
        or ("client_secret_basic",),
        code_challenge_methods=_string_list(document.get("code_challenge_methods_supported")),
        raw=document,
        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
        is True,
    )


# --- JWKS -----------------------------------------------------------------------------


def fetch_jwks(jwks_uri: str) -> list[dict[str, Any]]:
    """Fetch the JWKS now (no cache) and return its keys."""
    what = "JWKS"
    document = _get_json(jwks_uri, what=what, error_code=JWKS_UNAVAILABLE)
    keys = document.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise OIDCError(JWKS_UNAVAILABLE, f"{what}: {jwks_uri} has no 'keys' list.")
    if len(keys) > MAX_JWKS_KEYS:
        raise OIDCError(
            JWKS_UNAVAILABLE, f"{what}: {jwks_uri} lists more than {MAX_JWKS_KEYS} keys."
        )
    return keys


def _jwks_keys(config: ProviderConfig, jwks_uri: str) -> str:
    return _cache_key("jwks", config.issuer, jwks_uri)


def jwks_refresh_lock_key(config: ProviderConfig, jwks_uri: str) -> str:
    """The cache key of the single-flight lock (tests and operators may delete it)."""
    return _jwks_keys(config, jwks_uri) + ":lock"


def _refresh_jwks(
    config: ProviderConfig, jwks_uri: str, cached: dict[str, Any] | None, *, force: bool = False
) -> dict[str, Any] | None:
    """Fetch the JWKS if this process wins the lock and the last attempt is old enough.

    Returns the new cache entry, or None when no request was made or it failed (the
    caller keeps the cached keys). The last attempt is recorded before the request, so
    failures count against the limit too: a dead IdP is not hammered either. ``force``
    skips the age limit (never the lock): see :func:`signing_keys`.
    """
    key = _jwks_keys(config, jwks_uri)
    lock = jwks_refresh_lock_key(config, jwks_uri)
    # The lock's own expiry only matters if a process dies while holding it.
    if not cache.add(lock, 1, timeout=int(4 * float(settings.OUTBOUND_HTTP_TIMEOUT)) + 1):
        return None
    try:
        now = clock()
        # A cold cache retries a failed first fetch sooner than a refresh; but every
        # fetch counts toward the refresh limit, so a cold start followed by a flood of
        # unknown kids still makes at most one JWKS request a minute.
        attempt_key, interval = (
            (key + ":refreshed", JWKS_REFRESH_INTERVAL)
            if cached is not None
            else (key + ":cold", COLD_RETRY_INTERVAL)
        )
        last = cache.get(attempt_key)
        if not force and last is not None and now - last < interval:
            return None
        cache.set(attempt_key, now, timeout=STALE_KEEP_SECONDS)
        if cached is None:
            cache.set(key + ":refreshed", now, timeout=STALE_KEEP_SECONDS)
        cause = "forced" if force else "refresh" if cached is not None else "cold"
        try:
            keys = fetch_jwks(jwks_uri)
        except OIDCError as exc:
            metrics.JWKS_REFRESHES.labels("failed", cause).inc()
            logger.warning("JWKS refresh for %s failed: %s", config.issuer, exc.message)
            return None
        metrics.JWKS_REFRESHES.labels("ok", cause).inc()
        entry = {"keys": keys, "fetched_at": now}
        cache.set(key, entry, timeout=STALE_KEEP_SECONDS)
        return entry
    finally:
        cache.delete(lock)


def _wait_for_jwks(key: str, *, newer_than: float | None = None) -> dict[str, Any] | None:
    """Another process is fetching: wait for its result (newer than a copy), briefly."""
    deadline = time.monotonic() + 2 * float(settings.OUTBOUND_HTTP_TIMEOUT)
    while time.monotonic() < deadline:
        time.sleep(0.05)
        entry = cache.get(key)
        if entry is not None and (newer_than is None or entry["fetched_at"] > newer_than):
            return entry
    return None


def signing_keys(
    config: ProviderConfig, jwks_uri: str, *, want_kid: str | None = None, force: bool = False
) -> list[dict[str, Any]]:
    """The IdP's JWKS keys, from the cache when possible.

    Fetches when nothing is cached, when the copy is older than :data:`JWKS_MAX_AGE`,
    or when ``want_kid`` is not among the cached keys (key rotation) — the latter two at
    most once per :data:`JWKS_REFRESH_INTERVAL`. Raises only when there are no keys at all.

    ``force``: the token naming ``want_kid`` came from our own request to the IdP's token
    endpoint, so an unknown kid is the IdP's word that it rotated, not a forger's: one
    refresh is made even within the interval. A forger cannot use this, as each such
    token costs a code redemption for a sign-in state we issued (once each).
    """
    key = _jwks_keys(config, jwks_uri)
    entry = cache.get(key)
    if entry is not None:
        fresh = clock() - entry["fetched_at"] < JWKS_MAX_AGE
        known = want_kid is None or any(k.get("kid") == want_kid for k in entry["keys"])
        if fresh and known:
            return entry["keys"]
        forced = force and not known
        refreshed = _refresh_jwks(config, jwks_uri, entry, force=forced)
        if refreshed is None and forced and cache.get(jwks_refresh_lock_key(config, jwks_uri)):
            refreshed = _wait_for_jwks(key, newer_than=entry["fetched_at"])
        return (refreshed or cache.get(key) or entry)["keys"]
    entry = _refresh_jwks(config, jwks_uri, None)
    if entry is None:
        entry = _wait_for_jwks(key) if cache.get(jwks_refresh_lock_key(config, jwks_uri)) else None
    if entry is None:
        raise OIDCError(
            JWKS_UNAVAILABLE,
            f"The signing keys of {config.issuer} could not be fetched from {jwks_uri}.",
        )
    return entry["keys"]


# --- Authorization request and code redemption ------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(code_verifier: str) -> str:
    return _b64url(hashlib.sha256(code_verifier.encode("ascii")).digest())


def authorization_request(
    config: ProviderConfig,
    *,
    redirect_uri: str,
    login_hint: str | None = None,
    extra_params: Mapping[str, str] | None = None,
) -> AuthorizationRequest:
    """Build the URL that sends a browser to the IdP (code flow, PKCE S256 always).

    The caller keeps ``state``, ``nonce`` and ``code_verifier`` server-side (session or
    cache) and checks ``state`` on the callback before calling :func:`redeem_code`.
    """
    metadata = provider_metadata(config)
    endpoint = metadata.authorization_endpoint
    parts = urlsplit(endpoint)
    # Not fetched by us (the browser goes there), so no address check; but never send a
    # user to a plain-http login page in production.
    if parts.scheme not in ("https", "http") or (
        parts.scheme == "http" and settings.OUTBOUND_REQUIRE_HTTPS
    ):
        raise OIDCError(
            DESTINATION_REFUSED, f"The authorization endpoint {endpoint!r} must be an https URL."
        )
    if (
        metadata.code_challenge_methods is not None
        and "S256" not in metadata.code_challenge_methods
    ):
        logger.warning("%s does not advertise PKCE S256; sending it anyway.", config.issuer)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    params.update(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "scope": config.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(code_verifier),
            "code_challenge_method": "S256",
        }
    )
    if login_hint:
        params["login_hint"] = login_hint
    if extra_params:
        params.update(extra_params)
    url = urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urlencode(params, quote_via=quote), "")
    )
    return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=code_verifier)


def check_response_issuer(config: ProviderConfig, iss: object) -> None:
    """RFC 9207: the authorization response's ``iss`` must name this provider.

    Checked before the code (and the PKCE verifier) go anywhere, whenever the IdP sends
    ``iss`` or advertises ``authorization_response_iss_parameter_supported``: a response
    that another IdP produced (a mix-up attack) is refused instead of being redeemed.
    """
    metadata = provider_metadata(config)
    if iss is None or iss == "":
        if metadata.iss_parameter_supported:
            raise OIDCError(
                RESPONSE_ISSUER_MISMATCH,
                "The IdP advertises the 'iss' authorization-response parameter (RFC 9207), "
                "but the response has none.",
            )
        return
    if iss != metadata.issuer:
        shown = str(iss)[:200]
        raise OIDCError(
            RESPONSE_ISSUER_MISMATCH,
            f"The authorization response comes from {shown!r}, not {metadata.issuer!r} "
            "(RFC 9207 'iss').",
        )


def _oauth_error(body: bytes) -> str:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    if not isinstance(value, dict):
        return ""
    error = str(value.get("error", ""))[:100]
    description = str(value.get("error_description", ""))[:300]
    return f" ({error}: {description})" if description else f" ({error})" if error else ""


def redeem_code(
    config: ProviderConfig, *, code: str, code_verifier: str, redirect_uri: str
) -> dict[str, Any]:
    """Exchange an authorization code at the token endpoint; returns the token response.

    The client authenticates with ``client_secret_basic`` unless the IdP advertises only
    ``client_secret_post``. The response must carry an ``id_token`` (validate it with
    :func:`validate_id_token`).
    """
    metadata = provider_metadata(config)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    headers: dict[str, str] = {}
    methods = metadata.token_auth_methods
    try:
        # Decrypted here, where it is used, and nowhere else.
        client_secret = reveal(config.client_secret)
    except SecretUnavailable as exc:
        logger.error("Token request for %s not made: %s", config.issuer, exc)
        raise OIDCError(CONFIG_ERROR, f"The client secret of {config.issuer}: {exc}") from None
    if "client_secret_basic" in methods or not client_secret:
        if client_secret:
            # RFC 6749 2.3.1: form-encode both parts before base64.
            credentials = f"{quote(config.client_id, safe='')}:{quote(client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        else:
            data["client_id"] = config.client_id
    elif "client_secret_post" in methods:
        data["client_id"] = config.client_id
        data["client_secret"] = client_secret
    else:
        raise OIDCError(
            CONFIG_ERROR,
            f"The token endpoint accepts only {', '.join(methods)}; this service authenticates "
            "with client_secret_basic or client_secret_post.",
        )
    what = "Token request"
    status, _ctype, body = _request(
        "POST",
        metadata.token_endpoint,
        what=what,
        error_code=TOKEN_REQUEST_FAILED,
        data=data,
        headers=headers,
    )
    if status != 200:
        raise OIDCError(
            TOKEN_REQUEST_FAILED, f"{what}: the IdP answered HTTP {status}{_oauth_error(body)}."
        )
    tokens = _json_object(body, what=what, code=TOKEN_REQUEST_FAILED)
    if not isinstance(tokens.get("id_token"), str):
        raise OIDCError(
            TOKEN_REQUEST_FAILED,
            f"{what}: the response has no id_token (is 'openid' in the scopes?).",
        )
    return tokens


# --- ID token validation -----------------------------------------------------------------

_KEY_TYPES: dict[str, tuple[str, frozenset[str] | None]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}


def _key_fits(jwk: Mapping[str, Any], alg: str) -> bool:
    kty, curves = _KEY_TYPES[alg]
    if jwk.get("kty") != kty:
        return False
    if curves is not None and jwk.get("crv") not in curves:
        return False
    if jwk.get("use") not in (None, "sig"):
        return False
    if "alg" in jwk and jwk["alg"] != alg:
        return False
    ops = jwk.get("key_ops")
    return not (isinstance(ops, list) and "verify" not in ops)


def _candidates(keys: list[dict[str, Any]], alg: str, kid: str | None) -> list[dict[str, Any]]:
    fitting = [k for k in keys if _key_fits(k, alg)]
    if kid is not None:
        return [k for k in fitting if k.get("kid") == kid]
    # No kid: acceptable only if exactly one key could have made this signature.
    return fitting if len(fitting) == 1 else []


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


def _verify_signature(token: str, jwk: Mapping[str, Any], alg: str) -> bytes:
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg).key
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
    try:
        # The algorithm list is the one pinned value, so the header cannot choose another.
        decoded = jwt.PyJWS().decode_complete(token, key=key, algorithms=[alg])
    except jwt.InvalidSignatureError:
        raise OIDCError(INVALID_SIGNATURE, "The ID token's signature does not verify.") from None
    except jwt.PyJWTError as exc:
        raise OIDCError(MALFORMED_TOKEN, f"The ID token cannot be verified ({exc}).") from None
    return decoded["payload"]


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
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise OIDCError(MALFORMED_TOKEN, "The ID token's header cannot be read.") from None
    alg = header.get("alg")
    if "crit" in header:
        raise OIDCError(
            MALFORMED_TOKEN,
            "The ID token has critical header parameters this service does not know.",
        )
    metadata = provider_metadata(config)
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
    candidates = _candidates(keys, alg, kid)
    if not candidates:
        which = f"key {kid!r}" if kid else "a single key (the token has no 'kid')"
        raise OIDCError(UNKNOWN_KEY, f"The IdP's JWKS has no {which} for {alg}.")
    payload = _verify_signature(token, candidates[0], alg)

    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise OIDCError(MALFORMED_TOKEN, "The ID token's payload is not JSON.") from None
    if not isinstance(claims, dict):
        raise OIDCError(MALFORMED_TOKEN, "The ID token's payload is not a JSON object.")
    _check_claims(config, claims, nonce=nonce, max_age_iat=max_age_iat)
    return claims


def _check_claims(
    config: ProviderConfig, claims: Claims, *, nonce: str | None, max_age_iat: int | None
) -> None:
    if claims.get("iss") != config.issuer:
        raise OIDCError(
            INVALID_ISSUER,
            f"The ID token was issued by {claims.get('iss')!r}, not {config.issuer!r}.",
        )
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise OIDCError(MISSING_CLAIM, "The ID token has no valid 'sub' claim.")
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

    now = clock()
    exp = _number(claims, "exp", required=True)
    iat = _number(claims, "iat", required=True)
    nbf = _number(claims, "nbf", required=False)
    assert exp is not None and iat is not None
    if now > exp + LEEWAY_SECONDS:
        raise OIDCError(EXPIRED, "The ID token has expired.")
    if iat > now + LEEWAY_SECONDS:
        raise OIDCError(ISSUED_IN_FUTURE, "The ID token claims to be issued in the future.")
    if nbf is not None and nbf > now + LEEWAY_SECONDS:
        raise OIDCError(NOT_YET_VALID, "The ID token is not valid yet ('nbf').")
    if max_age_iat is not None and now - iat > max_age_iat + LEEWAY_SECONDS:
        raise OIDCError(TOO_OLD, f"The ID token was issued more than {max_age_iat} seconds ago.")

    if nonce is not None:
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not hmac.compare_digest(
            token_nonce.encode(), nonce.encode()
        ):
            raise OIDCError(
                INVALID_NONCE, "The ID token's nonce does not match the sign-in request."
            )

    if config.entra_tenant_id:
        tid = claims.get("tid")
        if not isinstance(tid, str) or tid.lower() != config.entra_tenant_id.lower():
            raise OIDCError(
                INVALID_TENANT, "The ID token comes from another Entra directory ('tid')."
            )


# --- UserInfo and the e-mail ------------------------------------------------------------


def fetch_userinfo(
    config: ProviderConfig, *, access_token: str, expected_sub: str
) -> dict[str, Any]:
    """The UserInfo response; its ``sub`` must equal the ID token's (OIDC Core 5.3.2)."""
    metadata = provider_metadata(config)
    if not metadata.userinfo_endpoint:
        raise OIDCError(USERINFO_FAILED, f"{config.issuer} has no UserInfo endpoint.")
    what = "UserInfo"
    status, ctype, body = _request(
        "GET",
        metadata.userinfo_endpoint,
        what=what,
        error_code=USERINFO_FAILED,
        headers={"Authorization": f"Bearer {access_token}"},
    )
    if status != 200:
        raise OIDCError(USERINFO_FAILED, f"{what}: the IdP answered HTTP {status}.")
    if ctype.lower().startswith("application/jwt"):
        raise OIDCError(
            USERINFO_FAILED, f"{what}: signed UserInfo responses are not supported; ask for JSON."
        )
    info = _json_object(body, what=what, code=USERINFO_FAILED)
    if info.get("sub") != expected_sub:
        raise OIDCError(
            USERINFO_SUBJECT_MISMATCH, f"{what}: the response is about another subject."
        )
    return info


EMAIL_NOT_VERIFIED = (
    "The IdP says the user's e-mail address is not verified ('email_verified' is not true)."
)


def email_not_verified(*sources: Mapping[str, Any] | None) -> bool:
    """Whether any source states ``email_verified`` as anything but the JSON boolean true.

    Absent means "not stated" (Entra never sends it) and passes. Present, only ``true``
    counts: the string ``"False"`` (or ``"true"``, ``1``) is not a JSON boolean and an IdP
    sending it is not vouching for anything (OIDC Core 5.1 types the claim as boolean).
    """
    return any(
        source is not None and "email_verified" in source and source["email_verified"] is not True
        for source in sources
    )


def email_from_claims(
    config: ProviderConfig, claims: Mapping[str, Any], userinfo: Mapping[str, Any] | None = None
) -> str:
    """The user's e-mail: the configured claim, else ``preferred_username``; normalised.

    Sources in order: the configured claim in the ID token, then in UserInfo, then
    ``preferred_username`` likewise (the contract's fallback when the e-mail claim is
    absent). When either source says the address is not verified (``email_verified``
    present and not ``true``), the sign-in fails: no fallback then, since many IdPs
    (node-oidc-provider, Keycloak) put a login the user chose into
    ``preferred_username``, and an IdP that just said it has not verified the user's
    address must not route them as another one. The result is lower-cased (domain in
    A-label form).
    """
    if email_not_verified(claims, userinfo):
        raise OIDCError(NO_EMAIL, EMAIL_NOT_VERIFIED)
    sources = [claims] + ([userinfo] if userinfo else [])
    names = [config.email_claim] + (
        ["preferred_username"] if config.email_claim != "preferred_username" else []
    )
    seen_invalid: str | None = None
    for name in names:
        for source in sources:
            value = source.get(name)
            if not isinstance(value, str) or not value:
                continue
            try:
                return normalize_email(value.strip())
            except ValidationError:
                seen_invalid = name
    if seen_invalid:
        raise OIDCError(INVALID_EMAIL, f"The '{seen_invalid}' claim is not an e-mail address.")
    raise OIDCError(
        NO_EMAIL,
        f"Neither the ID token nor UserInfo has a usable '{config.email_claim}' or 'preferred_username' claim.",
    )


def resolve_email(
    config: ProviderConfig, claims: Mapping[str, Any], *, access_token: str | None
) -> tuple[str, dict[str, Any] | None]:
    """The e-mail (see :func:`email_from_claims`) and the UserInfo response it needed.

    UserInfo is asked only when the validated ID-token ``claims`` hold no usable
    e-mail and there is an ``access_token``; without one, the claims' error stands.
    """
    try:
        return email_from_claims(config, claims), None
    except OIDCError:
        if access_token is None or email_not_verified(claims):
            raise  # the ID token's "not verified" is final: UserInfo cannot undo it
    userinfo = fetch_userinfo(config, access_token=access_token, expected_sub=claims["sub"])
    return email_from_claims(config, claims, userinfo), userinfo


def complete_authentication(
    config: ProviderConfig, *, code: str, code_verifier: str, redirect_uri: str, nonce: str
) -> Authentication:
    """The callback's work in one call: redeem, validate, e-mail (UserInfo if needed)."""
    tokens = redeem_code(config, code=code, code_verifier=code_verifier, redirect_uri=redirect_uri)
    claims = validate_id_token(config, tokens["id_token"], nonce=nonce, from_token_endpoint=True)
    access_token = tokens.get("access_token")
    email, _userinfo = resolve_email(
        config, claims, access_token=access_token if isinstance(access_token, str) else None
    )
    return Authentication(claims=claims, email=email, tokens=tokens)


# --- Diagnostics ----------------------------------------------------------------------------


@dataclass
class ProbeReport:
    ok: bool
    found: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def probe(config: ProviderConfig) -> ProbeReport:
    """Fetch discovery and JWKS now (bypassing the cache) and say what was found or failed.

    For the admin's "Test discovery" action; a successful probe also warms the cache.
    """
    report = ProbeReport(ok=False)
    try:
        metadata = provider_metadata(config, refresh=True)
    except OIDCError as exc:
        report.problems.append(exc.message)
        return report
    source = "discovery" if config.uses_discovery else "the explicit endpoints"
    report.found.append(f"Issuer {metadata.issuer} ({source}).")
    report.found.append(f"Authorization endpoint: {metadata.authorization_endpoint}")
    report.found.append(f"Token endpoint: {metadata.token_endpoint}")
    report.found.append(f"UserInfo endpoint: {metadata.userinfo_endpoint or '(none)'}")
    report.found.append(f"JWKS URI: {metadata.jwks_uri}")
    if not metadata.signing_algorithms:
        advertised = metadata.raw.get("id_token_signing_alg_values_supported")
        report.problems.append(
            f"No usable ID-token signing algorithm is advertised ({advertised!r})."
        )
    else:
        report.found.append(f"Signing algorithms: {', '.join(sorted(metadata.signing_algorithms))}")
    methods = metadata.token_auth_methods
    if "client_secret_basic" not in methods and "client_secret_post" not in methods:
        report.problems.append(
            f"The token endpoint offers neither client_secret_basic nor client_secret_post ({', '.join(methods)})."
        )
    if (
        metadata.code_challenge_methods is not None
        and "S256" not in metadata.code_challenge_methods
    ):
        report.problems.append("PKCE S256 is not advertised (code_challenge_methods_supported).")
    try:
        keys = fetch_jwks(metadata.jwks_uri)
    except OIDCError as exc:
        report.problems.append(exc.message)
        return report
    usable = [k for k in keys if any(_key_fits(k, alg) for alg in metadata.signing_algorithms)]
    kids = ", ".join(str(k.get("kid", "(no kid)")) for k in usable)
    report.found.append(
        f"JWKS: {len(keys)} key(s), {len(usable)} usable for signatures ({kids or 'none'})."
    )
    if not usable:
        report.problems.append("The JWKS has no signing key for the advertised algorithms.")
    else:
        cache.set(
            _jwks_keys(config, metadata.jwks_uri),
            {"keys": keys, "fetched_at": clock()},
            timeout=STALE_KEEP_SECONDS,
        )
    report.ok = not report.problems
    return report
