"""What the client knows about one IdP (:class:`ProviderConfig`), independent of any model,
and how a tenant's ``IdentityProvider`` row becomes one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.crypto import SealedSecret

if TYPE_CHECKING:
    from identity.models import IdentityProvider

#: Signature algorithms an ID token may use at all; the IdP's advertised list is
#: intersected with this set. Symmetric (HS*) and ``none`` are deliberately absent.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


@dataclass(frozen=True)
class ProviderConfig:
    """What the client needs to know about one IdP; independent of any model."""

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


def provider_config(idp: IdentityProvider) -> ProviderConfig:
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
