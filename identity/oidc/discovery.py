"""Discovery (OpenID Connect Discovery 1.0): the endpoints and capabilities of an IdP.

The document is cached per issuer in the shared cache; a stale copy keeps working while
the IdP cannot be reached. An IdP without discovery is described by its explicit
endpoints instead (:func:`provider_metadata` decides which).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext_noop

from common.i18n import Phrase
from identity.oidc import http
from identity.oidc.cache import (
    COLD_RETRY_INTERVAL,
    STALE_KEEP_SECONDS,
    cache_key,
    forget_local,
    now,
    shared_entry,
)
from identity.oidc.config import ASYMMETRIC_ALGORITHMS, ProviderConfig
from identity.oidc.errors import CONFIG_ERROR, DISCOVERY_FAILED, ISSUER_MISMATCH, OIDCError

logger = logging.getLogger(__name__)

#: A discovery document younger than this is used without asking the IdP.
DISCOVERY_MAX_AGE = 3600
#: Once the cached document is older than :data:`DISCOVERY_MAX_AGE`, at most one refresh
#: per issuer in this many seconds (the others keep using the cached copy).
DISCOVERY_RETRY_INTERVAL = 60


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


# What failed, as Phrases (common.i18n): English in logs, translated in the admin.
OTHER_ISSUER = gettext_noop(
    "{what}: the document at {url} names the issuer {named}, not {issuer}; the configured "
    "issuer must be exactly the one the IdP publishes."
)
FIELD_MISSING = gettext_noop("{what}: the document has no {name}.")
NO_ISSUER = gettext_noop("No issuer is configured.")


def fetch_discovery(config: ProviderConfig) -> dict[str, Any]:
    """Fetch and check the discovery document now (no cache)."""
    what = "Discovery"
    document = http.get_json(config.discovery_url, what=what, error_code=DISCOVERY_FAILED)
    if document.get("issuer") != config.issuer:
        raise OIDCError(
            ISSUER_MISMATCH,
            Phrase(
                OTHER_ISSUER,
                what=what,
                url=config.discovery_url,
                named=repr(document.get("issuer")),
                issuer=repr(config.issuer),
            ),
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str) or not value:
            raise OIDCError(DISCOVERY_FAILED, Phrase(FIELD_MISSING, what=what, name=name))
    return document


def discover(config: ProviderConfig, *, refresh: bool = False) -> dict[str, Any]:
    """The discovery document, from the shared cache when fresh.

    A stale copy is kept for :data:`STALE_KEEP_SECONDS` and used when the IdP cannot be
    reached; a refresh is tried at most once per :data:`DISCOVERY_RETRY_INTERVAL`.
    """
    key = cache_key("discovery", config.discovery_url, config.issuer)
    cached = shared_entry(key)
    checked_at = now()
    if not refresh and cached and checked_at - cached["fetched_at"] < DISCOVERY_MAX_AGE:
        return cached["document"]
    if not refresh:
        if cached and not cache.add(key + ":retry", 1, timeout=DISCOVERY_RETRY_INTERVAL):
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
    cache.set(key, {"document": document, "fetched_at": checked_at}, timeout=STALE_KEEP_SECONDS)
    forget_local(key)
    return document


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def provider_metadata(config: ProviderConfig, *, refresh: bool = False) -> ProviderMetadata:
    """Endpoints and capabilities: from discovery, or from the explicit configuration."""
    if not config.issuer:
        raise OIDCError(CONFIG_ERROR, Phrase(NO_ISSUER))
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
