"""Which e-mail address a validated sign-in is for: the configured claim, UserInfo when the
ID token lacks it, ``preferred_username`` as the fallback; and when an IdP's word that the
address is unverified stops the sign-in (device and staff sign-in alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from common.validators import normalize_email
from identity.oidc import http
from identity.oidc.config import ProviderConfig
from identity.oidc.discovery import provider_metadata
from identity.oidc.errors import (
    INVALID_EMAIL,
    NO_EMAIL,
    USERINFO_FAILED,
    USERINFO_SUBJECT_MISMATCH,
    OIDCError,
)


def fetch_userinfo(
    config: ProviderConfig, *, access_token: str, expected_sub: str
) -> dict[str, Any]:
    """The UserInfo response; its ``sub`` must equal the ID token's (OIDC Core 5.3.2)."""
    metadata = provider_metadata(config)
    if not metadata.userinfo_endpoint:
        raise OIDCError(USERINFO_FAILED, f"{config.issuer} has no UserInfo endpoint.")
    what = "UserInfo"
    status, ctype, body = http.request(
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
    info = http.json_object(body, what=what, code=USERINFO_FAILED)
    if info.get("sub") != expected_sub:
        raise OIDCError(
            USERINFO_SUBJECT_MISMATCH, f"{what}: the response is about another subject."
        )
    return info


EMAIL_NOT_VERIFIED = (
    "The IdP says the user's e-mail address is not verified ('email_verified' is not true)."
)


def email_unverified(*sources: Mapping[str, Any] | None) -> bool:
    """Whether any source states ``email_verified`` as anything but the JSON boolean true.

    Absent means "not stated" (Entra never sends it) and passes. Present, only ``true``
    counts: the string ``"False"`` (or ``"true"``, ``1``) is not a JSON boolean and an IdP
    sending it is not vouching for anything (OIDC Core 5.1 types the claim as boolean).
    The one rule for the device flow (:func:`email_from_claims`) and the staff sign-in
    (``identity.staff``).
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
    if email_unverified(claims, userinfo):
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
        if access_token is None or email_unverified(claims):
            raise  # the ID token's "not verified" is final: UserInfo cannot undo it
    userinfo = fetch_userinfo(config, access_token=access_token, expected_sub=claims["sub"])
    return email_from_claims(config, claims, userinfo), userinfo
