"""Writes for company accounts: creating them, their members, activating onboarding."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext, gettext_noop

from common.validators import normalize_email
from tenants.models import OBS_ROLES, Activation, Membership, Role, Tenant

if TYPE_CHECKING:
    from tenants.selectors import AnyUser

# English constants (the commands print them, the tests reuse them), translated where
# they reach a person.
ACTIVATION_ROLE_REQUIRED = gettext_noop(
    "Only a member with the super_admin or obs_admin role can activate IGEL OS Onboarding."
)
SUPER_ADMIN_GRANT_REQUIRED = gettext_noop(
    "Only a super admin of the account can grant or take away the super admin role."
)
SUPER_ADMIN_REMOVE_REQUIRED = gettext_noop(
    "Only a super admin of the account can remove a super admin."
)
LAST_SUPER_ADMIN = gettext_noop(
    "A company account always keeps at least one super admin: make another member super"
    " admin first."
)


@transaction.atomic
def tenant_create(*, slug: str, name: str) -> Tenant:
    tenant = Tenant(slug=slug, name=name)
    tenant.full_clean()
    tenant.save()
    return tenant


def free_username(email: str) -> str:
    """A free username for a new account of ``email``: the address, else with a suffix."""
    User = get_user_model()
    max_length = getattr(User._meta.get_field(User.USERNAME_FIELD), "max_length", None) or 150
    base = email[:max_length]
    candidate, n = base, 1
    while User.objects.filter(**{User.USERNAME_FIELD: candidate}).exists():
        n += 1
        suffix = f"-{n}"
        candidate = base[: max_length - len(suffix)] + suffix
    return candidate


def _link_user(membership: Membership) -> None:
    """Link a membership to the local account with the same e-mail, if exactly one exists.

    Operator only (``membership_save`` with ``by=None``): it attaches someone's account
    and makes it staff, which no company may do to a person by typing their address.
    """
    if membership.user_id:
        return
    users = list(
        get_user_model().objects.filter(email__iexact=membership.email, is_active=True)[:2]
    )
    if len(users) == 1:
        membership.user = users[0]
        if not users[0].is_staff:
            users[0].is_staff = True
            users[0].save(update_fields=["is_staff"])


@transaction.atomic
def membership_save(
    *,
    tenant: Tenant,
    email: str,
    role: Role | str,
    by: AnyUser | None = None,
) -> tuple[Membership, bool]:
    """Add a member (an invitation if they have no account yet) or change their role.

    ``by`` is the staff user making the change (None for an operator command); only a
    super admin may grant or revoke super_admin, so an account admin cannot raise
    themselves above the role they were given.

    A company's invitation never touches an existing account: it stays an e-mail until
    that person signs in at the platform IdP with the verified address
    (``identity.services.staff_sign_in``), or the operator links it (``add_member``).
    Otherwise any company could attach another company's person by e-mail and turn
    ``is_staff`` back on after the operator cleared it.
    """
    email = normalize_email(email)
    existing = Membership.objects.select_for_update().filter(tenant=tenant, email=email).first()
    if by is not None and not may_change_role(
        by, existing or Membership(tenant=tenant, role=""), role
    ):
        raise ValidationError({"role": gettext(SUPER_ADMIN_GRANT_REQUIRED)})
    if existing is not None and role != Role.SUPER_ADMIN and leaves_no_super_admin([existing]):
        raise ValidationError({"role": gettext(LAST_SUPER_ADMIN)})
    membership = existing or Membership(tenant=tenant, email=email)
    membership.role = role
    membership.full_clean()
    if by is None:
        _link_user(membership)
    membership.save()
    return membership, existing is None


def _is_super_admin(user: AnyUser, tenant: Tenant) -> bool:
    if not user.is_authenticated:
        return False
    return (
        bool(user.is_superuser)
        or Membership.objects.filter(tenant=tenant, user=user, role=Role.SUPER_ADMIN).exists()
    )


def may_change_role(user: AnyUser, membership: Membership, new_role: str) -> bool:
    touches_super = new_role == Role.SUPER_ADMIN or membership.role == Role.SUPER_ADMIN
    return not touches_super or _is_super_admin(user, membership.tenant)


def may_remove_member(user: AnyUser, membership: Membership) -> bool:
    """Removing a super admin is taking the role away: only a super admin may do it.

    Otherwise an account admin could delete a super admin and invite the address again
    with a lesser role, which ``may_change_role`` refuses as a change.
    """
    return may_change_role(user, membership, membership.role)


def leaves_no_super_admin(memberships: Iterable[Membership]) -> bool:
    """Whether removing (or demoting) ``memberships`` takes a company's last super admin.

    Counted per company over the whole set, so a bulk delete of every super admin is
    caught even though each row alone would leave another one.
    """
    leaving: dict[int, set[int]] = {}
    for membership in memberships:
        if membership.role == Role.SUPER_ADMIN and membership.pk is not None:
            leaving.setdefault(membership.tenant_id, set()).add(membership.pk)
    for tenant_id, pks in leaving.items():
        supers = Membership.objects.filter(tenant_id=tenant_id, role=Role.SUPER_ADMIN)
        if not supers.exclude(pk__in=pks).exists():
            return True
    return False


def membership_removal_error(
    memberships: Iterable[Membership], *, by: AnyUser | None = None
) -> str | None:
    """Why ``by`` (None: the operator) may not remove ``memberships``, or None if they may."""
    memberships = list(memberships)
    if by is not None and not all(may_remove_member(by, m) for m in memberships):
        return gettext(SUPER_ADMIN_REMOVE_REQUIRED)
    if leaves_no_super_admin(memberships):
        return gettext(LAST_SUPER_ADMIN)
    return None


@transaction.atomic
def memberships_delete(*, memberships: Iterable[Membership], by: AnyUser | None = None) -> int:
    """Remove members, under the same rules as changing their role (one or many at once).

    The companies' super admin rows are locked first, so two admins removing the last two
    super admins at the same moment cannot both succeed.
    """
    pks = [m.pk for m in memberships]
    locked = list(
        Membership.objects.select_for_update()
        .filter(pk__in=pks)
        .select_related("tenant")
        .order_by("pk")
    )
    tenant_ids = {m.tenant_id for m in locked}
    list(
        Membership.objects.select_for_update()
        .filter(tenant_id__in=tenant_ids, role=Role.SUPER_ADMIN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    error = membership_removal_error(locked, by=by)
    if error:
        raise ValidationError(error)
    Membership.objects.filter(pk__in=[m.pk for m in locked]).delete()
    return len(locked)


def onboarding_activate(
    *, tenant: Tenant, by_email: str, by_user: AnyUser | None = None
) -> tuple[Activation, bool]:
    """Activate onboarding once. Returns (activation, created); a second call changes nothing.

    The activator must hold super_admin or obs_admin in the tenant (platform operators
    act through a member's e-mail, so the record always names a person of the company).
    """
    by_email = normalize_email(by_email)
    existing = Activation.objects.filter(tenant=tenant).first()
    if existing:
        return existing, False
    member = Membership.objects.filter(
        tenant=tenant, email=by_email, role__in=list(OBS_ROLES)
    ).first()
    user = by_user if by_user is not None and by_user.is_authenticated else None
    if member is None and not (user is not None and user.is_superuser):
        raise ValidationError(gettext(ACTIVATION_ROLE_REQUIRED))
    try:
        with transaction.atomic():
            activation = Activation.objects.create(
                tenant=tenant,
                activated_by=user or (member.user if member else None),
                activated_by_email=by_email,
            )
    except IntegrityError:
        # Two activations raced; the one-per-tenant constraint let exactly one through.
        return Activation.objects.get(tenant=tenant), False
    return activation, True
