"""The authorization-code flow: the authorization request (state, nonce, PKCE S256), the
authorization response's issuer (RFC 9207) and the code redemption at the token
endpoint; :func:`complete_authentication` does a callback's whole work in one call."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit, urlunsplit

from django.conf import settings

from common.crypto import SecretUnavailable, reveal
from identity.oidc import http
from identity.oidc.claims import resolve_email
from identity.oidc.config import ProviderConfig
from identity.oidc.discovery import ProviderMetadata, provider_metadata
from identity.oidc.errors import (
    CONFIG_ERROR,
    DESTINATION_REFUSED,
    RESPONSE_ISSUER_MISMATCH,
    TOKEN_REQUEST_FAILED,
    OIDCError,
)
from identity.oidc.tokens import Claims, validate_id_token

logger = logging.getLogger(__name__)


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
    parts = _browser_endpoint(metadata)
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


def _browser_endpoint(metadata: ProviderMetadata) -> SplitResult:
    """The authorization endpoint, split; refused unless https (or http while allowed).

    Not fetched by us (the browser goes there), so no address check; but never send a
    user to a plain-http login page in production.
    """
    endpoint = metadata.authorization_endpoint
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or (
        parts.scheme == "http" and settings.OUTBOUND_REQUIRE_HTTPS
    ):
        raise OIDCError(
            DESTINATION_REFUSED, f"The authorization endpoint {endpoint!r} must be an https URL."
        )
    return parts


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
    client_data, headers = _client_authentication(config, metadata.token_auth_methods)
    data.update(client_data)
    what = "Token request"
    status, _ctype, body = http.request(
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
    tokens = http.json_object(body, what=what, code=TOKEN_REQUEST_FAILED)
    if not isinstance(tokens.get("id_token"), str):
        raise OIDCError(
            TOKEN_REQUEST_FAILED,
            f"{what}: the response has no id_token (is 'openid' in the scopes?).",
        )
    return tokens


def _client_authentication(
    config: ProviderConfig, methods: tuple[str, ...]
) -> tuple[dict[str, str], dict[str, str]]:
    """How the token request proves it is us: (form fields, headers) to add.

    ``client_secret_basic`` unless the IdP advertises only ``client_secret_post``; a
    client without a secret only names itself.
    """
    try:
        # Decrypted here, where it is used, and nowhere else.
        client_secret = reveal(config.client_secret)
    except SecretUnavailable as exc:
        logger.error("Token request for %s not made: %s", config.issuer, exc)
        raise OIDCError(CONFIG_ERROR, f"The client secret of {config.issuer}: {exc}") from None
    if not client_secret:
        return {"client_id": config.client_id}, {}
    if "client_secret_basic" in methods:
        # RFC 6749 2.3.1: form-encode both parts before base64.
        credentials = f"{quote(config.client_id, safe='')}:{quote(client_secret, safe='')}"
        return {}, {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    if "client_secret_post" in methods:
        return {"client_id": config.client_id, "client_secret": client_secret}, {}
    raise OIDCError(
        CONFIG_ERROR,
        f"The token endpoint accepts only {', '.join(methods)}; this service authenticates "
        "with client_secret_basic or client_secret_post.",
    )


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
