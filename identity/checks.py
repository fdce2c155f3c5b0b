"""System checks: a half-configured staff sign-in, or stored secrets that the configured keys
cannot decrypt, are reported at start-up (or before migrating), not at the first sign-in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from common.crypto import SecretUnavailable, reveal
from identity.conf import STAFF_SIGNING_ALGORITHMS


@register()
def staff_oidc_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if not settings.STAFF_OIDC_ENABLED:
        return []
    errors = []
    if not settings.OIDC_OP_ISSUER:
        errors.append(
            Error(
                "OIDC_OP_ISSUER is not set; without it ID tokens' 'iss' cannot be checked.",
                id="identity.E001",
            )
        )
    if not settings.OIDC_RP_CLIENT_SECRET:
        errors.append(
            Error(
                "OIDC_RP_CLIENT_SECRET is not set (or OIDC_RP_CLIENT_SECRET_FILE).",
                id="identity.E002",
            )
        )
    if settings.OIDC_RP_SIGN_ALGO not in STAFF_SIGNING_ALGORITHMS:
        allowed = " or ".join(STAFF_SIGNING_ALGORITHMS)
        errors.append(Error(f"OIDC_RP_SIGN_ALGO must be {allowed}.", id="identity.E003"))
    return errors


@register(Tags.database)
def stored_secrets_decrypt(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """One stored client secret decrypts with FIELD_ENCRYPTION_KEY (a restore with another
    key would otherwise be found at the first sign-in). Runs with ``check --database``
    and before ``migrate``."""
    from identity.models import IdentityProvider

    databases = kwargs.get("databases") or []
    if "default" not in databases:
        return []
    try:
        idp = IdentityProvider.objects.exclude(client_secret="").order_by("pk").first()
    except DatabaseError:
        return []  # not migrated yet: nothing stored to check
    if idp is None:
        return []
    try:
        reveal(idp.client_secret)
    except SecretUnavailable as exc:
        return [
            Error(
                f"The client secret of identity provider {idp.name!r} (tenant {idp.tenant_id}) "
                f"cannot be decrypted. {exc}",
                hint="Restore the FIELD_ENCRYPTION_KEY of the backup (comma-separated, the "
                "current key first, to keep both), or re-enter every IdP's client secret.",
                id="identity.E004",
            )
        ]
    return []
