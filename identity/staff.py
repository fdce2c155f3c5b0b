"""Staff sign-in to the admin through the platform's IdP (mozilla-django-oidc).

The library is configured by its own ``OIDC_*`` settings. It checks neither ``iss`` nor
``aud`` and matches users by e-mail; this backend replaces exactly those hooks:
tokens are redeemed and validated by ``identity.oidc`` (RS256/ES256 only, ``iss``,
``aud``, ``nonce``, times), people are recognised by (``iss``, ``sub``), and only those
whose verified e-mail was invited to a company account get in
(``identity.services.staff_sign_in``).

The callback is ``/staff/oidc/callback/``: ``/oidc/callback/`` belongs to the device flow.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from identity import oidc, services
from identity.conf import STAFF_SIGNING_ALGORITHMS

logger = logging.getLogger(__name__)


def staff_provider_config() -> oidc.ProviderConfig:
    """The platform IdP, from the mozilla-django-oidc settings."""
    if not settings.OIDC_OP_ISSUER:
        raise oidc.OIDCError(
            oidc.CONFIG_ERROR, "OIDC_OP_ISSUER must be set so that 'iss' can be checked."
        )
    algorithm = settings.OIDC_RP_SIGN_ALGO
    if algorithm not in STAFF_SIGNING_ALGORITHMS:
        allowed = " or ".join(STAFF_SIGNING_ALGORITHMS)
        raise oidc.OIDCError(
            oidc.CONFIG_ERROR, f"OIDC_RP_SIGN_ALGO must be {allowed}, not {algorithm!r}."
        )
    return oidc.ProviderConfig(
        issuer=settings.OIDC_OP_ISSUER,
        client_id=settings.OIDC_RP_CLIENT_ID,
        client_secret=settings.OIDC_RP_CLIENT_SECRET,
        scopes=settings.OIDC_RP_SCOPES,
        authorization_endpoint=settings.OIDC_OP_AUTHORIZATION_ENDPOINT,
        token_endpoint=settings.OIDC_OP_TOKEN_ENDPOINT,
        jwks_uri=settings.OIDC_OP_JWKS_ENDPOINT,
        userinfo_endpoint=settings.OIDC_OP_USER_ENDPOINT,
        allowed_algorithms=frozenset({algorithm}),
    )


class StaffOIDCAuthenticationRequestView(OIDCAuthenticationRequestView):
    """Starts the sign-in; the authorization endpoint may come from discovery."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.STAFF_OIDC_ENABLED:
            raise Http404("Sign-in with a company account is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc.provider_metadata(
                staff_provider_config()
            ).authorization_endpoint
        except oidc.OIDCError as exc:
            logger.error("Staff sign-in cannot start: %s", exc)
            return HttpResponse(
                gettext("Sign-in with a company account is unavailable right now."), status=503
            )
        return super().get(request)


class StaffOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with validation and user matching done right."""

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        # Only the callback view passes nonce and code_verifier; a code smuggled into
        # another login (the admin form's query string) is ignored.
        if request is None or kwargs.get("nonce") is None or kwargs.get("code_verifier") is None:
            return None
        if not settings.STAFF_OIDC_ENABLED:
            return None
        try:
            self._config = staff_provider_config()
            # RFC 9207, before mozilla-django-oidc sends the code anywhere.
            oidc.check_response_issuer(self._config, request.GET.get("iss"))
            return super().authenticate(request, **kwargs)
        except oidc.OIDCError as exc:
            logger.warning("Staff sign-in refused: %s", exc)
            return None

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        return oidc.redeem_code(
            self._config,
            code=payload["code"],
            code_verifier=payload["code_verifier"],
            redirect_uri=payload["redirect_uri"],
        )

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        # The token is the answer to our own token request (get_token): see validate_id_token.
        return oidc.validate_id_token(
            self._config, token, nonce=kwargs.get("nonce"), from_token_endpoint=True
        )

    def get_userinfo(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """The validated ID-token claims, with ``email`` resolved (UserInfo only if needed)."""
        claims = dict(payload)
        try:
            claims["email"], userinfo = oidc.resolve_email(
                self._config, payload, access_token=access_token or None
            )
        except oidc.OIDCError as exc:
            if exc.code not in (oidc.NO_EMAIL, oidc.INVALID_EMAIL):
                raise  # UserInfo failed: a refused sign-in, as before (authenticate logs it)
            raise SuspiciousOperation(exc.message) from None
        claims["email_verified"] = not oidc.email_unverified(payload, userinfo)
        return claims

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        # An IdP that says the address is unverified does not vouch for it: no invitation
        # can be accepted with it (the device flow's rule, oidc.email_unverified).
        return bool(claims.get("email")) and not oidc.email_unverified(claims)

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(
            external_identities__issuer=claims["iss"], external_identities__subject=claims["sub"]
        )

    def create_user(self, claims: dict[str, Any]) -> Any:
        return self._sign_in(claims)

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        return self._sign_in(claims)

    def _sign_in(self, claims: dict[str, Any]) -> Any:
        try:
            return services.staff_sign_in(
                issuer=claims["iss"], subject=claims["sub"], email=claims["email"]
            )
        except services.StaffSignInRefused as exc:
            # The library turns this into "no user" and logs it; the browser goes to the
            # failure URL (the login page with a neutral message).
            raise SuspiciousOperation(
                f"Staff sign-in refused for {claims['email']}: {exc}"
            ) from None
