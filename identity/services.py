"""Writes of the identity app: tenants' identity providers and staff sign-in accounts.

The admin, the ``configure_idp`` command and the staff sign-in backend call these, so
their rules hold whatever the entry point.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from identity import oidc
from identity.models import ExternalIdentity, IdentityProvider, IdPKind
from tenants.models import Membership, Tenant
from tenants.services import free_username

SECRET_REQUIRED = gettext_noop(
    "Enter the client secret of the app you registered (the service is a confidential client)."  # noqa: S105 (a message)
)

#: Fields that belong to one kind only; they are emptied when the kind does not use them,
#: so a provider switched from Entra to Okta keeps no stale directory id.
KIND_FIELDS: dict[str, frozenset[str]] = {
    IdPKind.ENTRA: frozenset({"entra_tenant_id"}),
    IdPKind.OKTA: frozenset({"okta_domain", "okta_auth_server"}),
    IdPKind.PING: frozenset({"issuer", "ping_environment_id"}),
    IdPKind.OIDC: frozenset(
        {"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"}
    ),
}
ALL_KIND_FIELDS = frozenset().union(*KIND_FIELDS.values())
EDITABLE_FIELDS = (
    frozenset({"name", "kind", "client_id", "scopes", "email_claim"}) | ALL_KIND_FIELDS
)
#: Fields that decide where the client secret is sent and for which app it was issued.
#: Changing any of them without typing the secret again would let whoever edits the
#: provider point the token endpoint at their own server and receive the stored secret.
SECRET_BOUND_FIELDS = ("kind", "client_id", *sorted(ALL_KIND_FIELDS))
KEY_RETYPE_AFTER_MOVE = gettext_noop(
    "You changed the {fields}: enter the client secret again. A stored secret is only ever"
    " sent to the provider it was entered for."
)


def _apply(idp: IdentityProvider, fields: dict[str, Any]) -> None:
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"Unknown identity provider fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(idp, name, value.strip() if isinstance(value, str) else value)
    for name in ALL_KIND_FIELDS - KIND_FIELDS.get(idp.kind, frozenset()):
        setattr(idp, name, "")


@transaction.atomic
def idp_create(
    *, tenant: Tenant, name: str, kind: str, client_id: str, client_secret: str, **fields: Any
) -> IdentityProvider:
    """Create a tenant's identity provider; ``fields`` are the kind's own (see the model)."""
    idp = IdentityProvider(tenant=tenant)
    error = idp_secret_error(idp, client_secret=client_secret, changed=[])
    if error:
        raise ValidationError({"client_secret": error})
    _apply(idp, {"name": name, "kind": kind, "client_id": client_id, **fields})
    idp.client_secret = client_secret
    idp.full_clean()
    idp.save()
    return idp


def secret_bound_changes(idp: IdentityProvider, fields: dict[str, Any]) -> list[str]:
    """Which of ``SECRET_BOUND_FIELDS`` the change ``fields`` makes to the stored ``idp``.

    Compared with the row in the database (a form may already have set the new values on
    the instance), after the same normalisation ``idp_update`` applies.
    """
    if idp.pk is None:
        return []
    stored = IdentityProvider.objects.get(pk=idp.pk)
    changed = IdentityProvider.objects.get(pk=idp.pk)
    _apply(changed, fields)
    try:
        changed.clean()  # the same GUID or domain typed in capitals is no change
    except ValidationError:
        pass  # reported by the save itself
    return [name for name in SECRET_BOUND_FIELDS if getattr(changed, name) != getattr(stored, name)]


def idp_secret_error(
    idp: IdentityProvider, *, client_secret: str | None, changed: list[str]
) -> str | None:
    """Why ``idp`` cannot be saved without a client secret typed now; None when it can.

    The one rule for every entry point (the admin form shows it on the field, the
    services raise it): the service is a confidential client, so a provider needs a
    secret; a stored one is kept only while none of the ``changed`` fields (see
    :func:`secret_bound_changes`) decides where it goes.
    """
    if client_secret:
        return None
    if changed:
        return secret_required_again_error(changed)
    if not idp.client_secret:
        return gettext(SECRET_REQUIRED)
    return None


def secret_required_again_error(changed: list[str]) -> str:
    labels = [
        str(getattr(IdentityProvider._meta.get_field(name), "verbose_name", name))
        for name in changed
    ]
    return gettext(KEY_RETYPE_AFTER_MOVE).format(fields=", ".join(labels))


@transaction.atomic
def idp_update(
    *, idp: IdentityProvider, client_secret: str | None = None, **fields: Any
) -> IdentityProvider:
    """Change an identity provider; an empty or None ``client_secret`` keeps the stored one.

    Keeping it is allowed only while the provider's address and client stay the same:
    a change of kind, client ID, issuer, any endpoint, Okta domain, Entra directory or
    Ping environment needs the secret typed again (``secret_bound_changes``).
    """
    changed = secret_bound_changes(idp, fields)
    error = idp_secret_error(idp, client_secret=client_secret, changed=changed)
    if error:
        raise ValidationError({"client_secret": error})
    _apply(idp, fields)
    if client_secret:
        idp.client_secret = client_secret
    if changed:
        # Another address: the last discovery test says nothing about it.
        idp.discovery_tested_at = idp.discovery_passed_at = None
    idp.full_clean()
    idp.save()
    return idp


def idp_save(
    *, tenant: Tenant, name: str, client_secret: str | None = None, **fields: Any
) -> tuple[IdentityProvider, bool]:
    """Create the provider named ``name`` in ``tenant``, or update it. Returns (idp, created)."""
    existing = IdentityProvider.objects.filter(tenant=tenant, name=name).first()
    if existing is None:
        return idp_create(
            tenant=tenant, name=name, client_secret=client_secret or "", **fields
        ), True
    return idp_update(idp=existing, client_secret=client_secret, **fields), False


def idp_test_discovery(idp: IdentityProvider) -> oidc.ProbeReport:
    """Fetch discovery and JWKS now and remember the outcome (the home page's checklist)."""
    report = oidc.probe(oidc.provider_config(idp))
    now = timezone.now()
    idp.discovery_tested_at = now
    if report.ok:
        idp.discovery_passed_at = now
    IdentityProvider.objects.filter(pk=idp.pk).update(
        discovery_tested_at=now, discovery_passed_at=idp.discovery_passed_at
    )
    return report


# --- Staff sign-in ---------------------------------------------------------------------

NO_MEMBERSHIP = "No company account has invited this e-mail address."
SUBJECT_CHANGED = (
    "This account is linked to another sign-in at the company IdP; an operator must resolve it."
)
SUPERUSER_NOT_LINKED = "Operator accounts are not linked to sign-ins at the company IdP."


class StaffSignInRefused(Exception):
    """The IdP vouched for the person, but they may not enter the admin (the reason says why)."""


@transaction.atomic
def staff_sign_in(*, issuer: str, subject: str, email: str) -> AbstractBaseUser:
    """The staff user for a verified platform-IdP identity; links pending invitations.

    A returning person is recognised by (issuer, subject) only. A new one is accepted
    only if an account admin invited their (verified) e-mail beforehand: the user is
    created, or — when the invitation is already linked to a local account with that
    address — that account is used, unless it is a superuser (an IdP account must never
    become a platform operator by e-mail). Every sign-in links invitations for the
    current e-mail that no one has accepted yet. Without any membership: refused.
    """
    User = get_user_model()
    # Lock the invitations before looking up the identity: two first sign-ins of one
    # person at once then run one after the other, and the second finds the identity
    # the first created instead of colliding with it.
    invitations = list(Membership.objects.select_for_update().filter(email=email))
    identity = (
        ExternalIdentity.objects.select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is not None:
        user = identity.user
    else:
        linked_users = {m.user_id for m in invitations if m.user_id is not None}
        if not invitations:
            raise StaffSignInRefused(NO_MEMBERSHIP)
        if len(linked_users) > 1:
            raise StaffSignInRefused(
                "This e-mail address is linked to several accounts; an operator must resolve it."
            )
        if linked_users:
            user = User.objects.get(pk=linked_users.pop())
            if user.is_superuser:
                raise StaffSignInRefused(SUPERUSER_NOT_LINKED)
            if ExternalIdentity.objects.filter(user=user, issuer=issuer).exists():
                # Another IdP account of the same issuer already signs in as this user: an
                # e-mail address that was reassigned must not inherit someone's access.
                raise StaffSignInRefused(SUBJECT_CHANGED)
        else:
            user = User.objects.create_user(username=free_username(email), email=email)
            user.set_unusable_password()
        identity = ExternalIdentity(user=user, issuer=issuer, subject=subject)
    if not user.is_active:
        raise StaffSignInRefused("This account is deactivated.")
    Membership.objects.filter(email=email, user__isnull=True).update(user=user)
    if not user.is_superuser and not Membership.objects.filter(user=user).exists():
        raise StaffSignInRefused(NO_MEMBERSHIP)
    if not user.is_staff or not user.email:
        user.is_staff = True
        user.email = user.email or email
    user.save()
    identity.email = email
    identity.last_login_at = timezone.now()
    identity.save()
    return user
