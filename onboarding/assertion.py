"""The onboarding assertion: the JWT this service signs as the token endpoint's ``access_token``.

It tells a UMS (or the proxy in front of it) who onboarded a device, to which route, and
which IdP vouched for the user (spec section 3, item 3). Every rule about it lives here:
its claims, the signing keys and their algorithms, the published JWKS, and verification.

Keys come from ``ONBOARDING_SIGNING_KEYS`` (or ``_FILE``): PEM private keys, one after
the other. The first signs, all are published, so a key is rotated by publishing the new
one second, moving it first once verifiers have seen it, and dropping the old one after
its last assertion expired (docs/ums-verification.md). The algorithm is pinned by the
key's type, EC P-256 → ES256 and RSA ≥ 2048 bits → RS256, and never taken from a token
(RFC 8725 section 3.1). ``kid`` is the key's RFC 7638 JWK thumbprint, so it is the same
wherever the key is loaded and changes whenever the key does.

With no keys configured (development only: settings refuse to start without them when
``DEBUG`` is off), an EC P-256 key is generated on first use and kept in the file
``ONBOARDING_DEVELOPMENT_KEY_FILE``. A file rather than the cache: the development cache
lives inside one process, while runserver's reloads and ``manage.py
verify_onboarding_assertion`` must all sign and verify with the same key; the file sits
next to the SQLite database, which is what those processes share.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from onboarding import conf
from onboarding.events import DeviceInfo
from onboarding.models import Route

logger = logging.getLogger(__name__)

#: The JOSE ``typ`` of an onboarding assertion (explicit typing, RFC 8725 section 3.11): no
#: other JWT this service might ever sign can pass for one.
TOKEN_TYPE = "onboarding+jwt"  # noqa: S105 (a media type, not a secret)
#: Claims without which a token is refused, whatever else it carries.
REQUIRED_CLAIMS = ("iss", "sub", "aud", "iat", "exp", "jti")
MIN_RSA_BITS = 2048
SETTING = "ONBOARDING_SIGNING_KEYS"

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
_PRIVATE_KEY_LABELS = frozenset({"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"})

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningKey:
    private_key: PrivateKey
    #: ``ES256`` or ``RS256``, from the key's type.
    algorithm: str
    #: The RFC 7638 thumbprint of the public key.
    kid: str

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public key as published (RFC 7517), with its ``kid``, ``alg`` and ``use``."""
        return {
            **public_jwk_members(self.private_key),
            "kid": self.kid,
            "alg": self.algorithm,
            "use": "sig",
        }


# --- Keys ------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsigned_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def public_jwk_members(
    key: PrivateKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
) -> dict[str, str]:
    """The required members of the public key's JWK (RFC 7518 section 6), nothing else."""
    public = (
        key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) else key
    )
    if isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            raise ValueError(f"Only P-256 keys are published, not {public.curve.name}.")
        numbers = public.public_numbers()
        size = 32  # coordinates keep their leading zeros (RFC 7518 section 6.2.1.2)
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(size, "big")),
            "y": _b64url(numbers.y.to_bytes(size, "big")),
        }
    rsa_numbers = public.public_numbers()
    return {
        "kty": "RSA",
        "n": _b64url(_unsigned_bytes(rsa_numbers.n)),
        "e": _b64url(_unsigned_bytes(rsa_numbers.e)),
    }


def jwk_thumbprint(members: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace; base64url."""
    canonical = json.dumps(dict(sorted(members.items())), separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _load_block(label: str, pem: str, where: str) -> SigningKey:
    if label == "ENCRYPTED PRIVATE KEY":
        raise ImproperlyConfigured(
            f"{where} is encrypted; give it unencrypted and protect the file instead."
        )
    if label not in _PRIVATE_KEY_LABELS:
        raise ImproperlyConfigured(f"{where} is a {label}, not a private key.")
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise ImproperlyConfigured(f"{where} does not parse as a PEM private key.") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ImproperlyConfigured(
                f"{where} is an EC key on {key.curve.name}; only P-256 (ES256) is supported."
            )
        algorithm = "ES256"
    elif isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ImproperlyConfigured(
                f"{where} is an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are needed."
            )
        algorithm = "RS256"
    else:
        raise ImproperlyConfigured(
            f"{where} is a {type(key).__name__.lstrip('_')}; use EC P-256 or RSA (at least 2048 bits)."
        )
    return SigningKey(
        private_key=key, algorithm=algorithm, kid=jwk_thumbprint(public_jwk_members(key))
    )


@lru_cache(maxsize=8)
def parse_signing_keys(text: str, source: str = SETTING) -> tuple[SigningKey, ...]:
    """The keys of a PEM text, in order; ImproperlyConfigured naming the bad block.

    Text outside the blocks must be blank: a block missing its END line is an error, not
    a key silently left out of a rotation.
    """
    blocks = list(_PEM_BLOCK.finditer(text))
    if not blocks:
        raise ImproperlyConfigured(
            f"{source}: no PEM private key found (-----BEGIN PRIVATE KEY-----)."
        )
    if _PEM_BLOCK.sub("", text).strip():
        raise ImproperlyConfigured(
            f"{source}: there is text outside the PEM blocks (a block without its END line?)."
        )
    keys: list[SigningKey] = []
    for number, match in enumerate(blocks, start=1):
        key = _load_block(match.group(1), match.group(0), f"{source}: block {number}")
        for earlier, other in enumerate(keys, start=1):
            if other.kid == key.kid:
                raise ImproperlyConfigured(
                    f"{source}: block {number} is the same key as block {earlier}."
                )
        keys.append(key)
    return tuple(keys)


def _create_development_key(path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")  # mode 0600
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        try:
            # Atomic and never replaces: of two processes racing here, the first key wins
            # and both go on to read it.
            os.link(temporary, path)
        except FileExistsError:
            return
    finally:
        os.unlink(temporary)
    logger.warning(
        "Generated a development key for onboarding assertions in %s. "
        "Set ONBOARDING_SIGNING_KEYS in production.",
        path,
    )


def _development_key() -> SigningKey:
    configured = settings.ONBOARDING_DEVELOPMENT_KEY_FILE
    if not configured:
        raise ImproperlyConfigured(
            f"{SETTING} is not set, and no development key is generated with DEBUG off."
        )
    path = Path(str(configured))
    if not path.exists():
        _create_development_key(path)
    return parse_signing_keys(path.read_text(encoding="ascii"), str(path))[0]


def signing_keys() -> tuple[SigningKey, ...]:
    """The configured keys (the first signs), or the development key when none are."""
    configured = settings.ONBOARDING_SIGNING_KEYS
    if configured:
        return parse_signing_keys(configured)
    return (_development_key(),)


def public_jwks() -> dict[str, list[dict[str, str]]]:
    """The JWKS published at ``/.well-known/jwks.json``: every key, public parts only."""
    return {"keys": [key.public_jwk for key in signing_keys()]}


# --- Issuing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Assertion:
    token: str
    jti: str
    #: Seconds from issue to ``exp``: the token response's ``expires_in``.
    expires_in: int


def assertion_issue(
    *,
    route: Route,
    user: str,
    fingerprints: list[str],
    identity_provider_issuer: str,
    device: DeviceInfo,
    structure_tag: str,
    now: datetime.datetime | None = None,
) -> Assertion:
    """Sign the assertion that ``user`` was onboarded to ``route`` (spec section 3).

    ``aud`` is the route's UMS hostname exactly as configured (case preserved, as the
    device is told); ``fingerprints`` are the chain's SHA-256 fingerprints, root first.
    """
    issued_at = int((now or timezone.now()).timestamp())
    lifetime = conf.assertion_lifetime()
    jti = secrets.token_urlsafe(16)
    claims: dict[str, Any] = {
        "iss": conf.base_url(),
        "sub": user,
        "aud": route.ums_hostname,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": jti,
        "tenant": route.tenant.slug,
        "display_name": route.display_name,
        "ums_port": route.ums_port,
        "target": str(route.target),
        "certificate_fingerprints_sha256": list(fingerprints),
        "device": asdict(device),
        "structure_tag": structure_tag,
        "idp": identity_provider_issuer,
    }
    key = signing_keys()[0]
    token = jwt.encode(
        claims,
        key.private_key,
        algorithm=key.algorithm,
        headers={"kid": key.kid, "typ": TOKEN_TYPE},
    )
    return Assertion(token=token, jti=jti, expires_in=lifetime)


# --- Verifying ------------------------------------------------------------------------


class AssertionInvalid(Exception):
    """The token is not a valid onboarding assertion of this service; the message says why."""


def _decode_failure(exc: jwt.InvalidTokenError, audience: str | None) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "it has expired (exp is in the past)."
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "it was issued in the future (iat or nbf); check the clocks."
    if isinstance(exc, jwt.InvalidSignatureError):
        return "its signature does not verify: it was altered or signed by another key."
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"it is not meant for {audience!r} (aud)."
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"it was not issued by {conf.base_url()!r} (iss)."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"it has no {exc.claim!r} claim."
    return f"it is malformed: {exc}"


def assertion_verify(token: str, *, audience: str | None = None, leeway: int = 0) -> dict[str, Any]:
    """The claims of ``token`` if this service signed it and it is valid now.

    Checked: ``typ``; ``kid`` names a published key and ``alg`` is that key's algorithm;
    the signature; ``iss`` = ``BASE_URL``; ``exp``/``iat``; every claim of
    ``REQUIRED_CLAIMS``; and ``aud`` when ``audience`` is given (exact string match).
    Raises :class:`AssertionInvalid` with a one-line reason.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise AssertionInvalid("it is not a JWT (header.payload.signature, base64url).") from None
    if header.get("typ") != TOKEN_TYPE:
        raise AssertionInvalid(f"its type is {header.get('typ')!r}, not {TOKEN_TYPE!r}.")
    key = next((k for k in signing_keys() if k.kid == header.get("kid")), None)
    if key is None:
        raise AssertionInvalid(f"its key {header.get('kid')!r} is not one this service publishes.")
    if header.get("alg") != key.algorithm:
        raise AssertionInvalid(
            f"its algorithm {header.get('alg')!r} is not its key's {key.algorithm}."
        )
    try:
        return jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=[key.algorithm],
            issuer=conf.base_url(),
            audience=audience,
            leeway=leeway,
            options={"require": list(REQUIRED_CLAIMS), "verify_aud": audience is not None},
        )
    except jwt.InvalidTokenError as exc:
        raise AssertionInvalid(_decode_failure(exc, audience)) from None
