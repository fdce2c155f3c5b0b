"""Invitations: a one-time, expiring set-password link for a member without an account.

Without staff sign-in through a platform IdP, an invited address had no way to get a
password. An invitation link lets the person choose one; accepting it creates their
account (staff, no other flags) and links the one membership it was issued for.

Who sees the link: the person, by e-mail (``EMAIL_URL``; the console in development),
and the operator (``add_member ... --send-invite`` prints it). Never the company admin
who invited: whoever holds the link becomes that address's account, and an account
created that way is later joined to the person's other companies when they sign in at
the platform IdP (``identity.services.staff_sign_in``), so a company admin holding
another company's person's link could take over that person's access.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop, ngettext

from tenants.models import Invitation, Membership
from tenants.services import free_username

LINK_INVALID = gettext_noop(
    "This invitation link is not valid: it was used already, has expired or was replaced"
    " by a newer one. Ask the person who invited you to send a new invitation."
)
ALREADY_LINKED = gettext_noop("This member already has an account; no invitation is needed.")
ACCOUNT_EXISTS = gettext_noop(
    "An account with this e-mail address exists already. Sign in with it; the platform"
    " operator can link it to the invitation (manage.py add_member)."
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return f"{str(settings.BASE_URL).rstrip('/')}/invitation/{token}/"


def email_configured() -> bool:
    """Whether invitations can be e-mailed (``EMAIL_URL`` set, or development)."""
    return bool(settings.INVITATION_EMAIL_ENABLED)


@dataclass(frozen=True)
class Issued:
    invitation: Invitation
    url: str
    emailed: bool


@transaction.atomic
def invitation_create(*, membership: Membership) -> tuple[Invitation, str]:
    """A fresh link for ``membership`` (earlier unused ones stop working). Returns the URL."""
    if membership.user_id is not None:
        raise ValidationError(gettext(ALREADY_LINKED))
    Invitation.objects.filter(membership=membership, used_at__isnull=True).delete()
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    invitation = Invitation.objects.create(
        membership=membership,
        token_hash=_hash(token),
        created_at=now,
        expires_at=now + timedelta(hours=settings.INVITATION_EXPIRES_HOURS),
    )
    return invitation, invitation_url(token)


def invitation_send(*, membership: Membership) -> Issued:
    """Create a link and e-mail it to the member when e-mail is configured.

    The e-mail is written in the language active for whoever invites (the admin's
    choice; English from the command line): the invited person's is not known yet.
    """
    invitation, url = invitation_create(membership=membership)
    emailed = False
    if email_configured():
        hours = int(settings.INVITATION_EXPIRES_HOURS)
        words = {
            "company": membership.tenant.name,
            "role": membership.get_role_display(),
            "hours": hours,
        }
        send_mail(
            subject=gettext("You are invited to %(company)s in IGEL OS Onboarding") % words,
            message=(
                gettext("You were invited as %(role)s of %(company)s.") % words
                + "\n\n"
                + ngettext(
                    "Choose your password here (the link works once, for %(hours)s hour):",
                    "Choose your password here (the link works once, for %(hours)s hours):",
                    hours,
                )
                % words
                + f"\n{url}\n\n"
                + gettext("If you did not expect this, ignore this e-mail.")
                + "\n"
            ),
            from_email=None,
            recipient_list=[membership.email],
        )
        emailed = True
    return Issued(invitation, url, emailed)


def invitation_for_token(token: str) -> Invitation | None:
    """The usable invitation for ``token`` (unused, unexpired, member not yet linked)."""
    if not token or len(token) > 200:
        return None
    invitation = (
        Invitation.objects.select_related("membership__tenant")
        .filter(token_hash=_hash(token), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if invitation is None or invitation.membership.user_id is not None:
        return None
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, password: str) -> AbstractBaseUser:
    """Create the invited person's account with ``password`` and link the membership.

    Raises ``ValidationError`` for an unusable link, an address that already has an
    account (never taken over: its owner is someone who knows its password), or a
    password the validators refuse.
    """
    found = invitation_for_token(token)
    if found is None:
        raise ValidationError(gettext(LINK_INVALID))
    invitation = Invitation.objects.select_for_update().get(pk=found.pk)
    membership = Membership.objects.select_for_update().get(pk=invitation.membership_id)
    if invitation.used_at is not None or membership.user_id is not None:
        raise ValidationError(gettext(LINK_INVALID))
    User = get_user_model()
    if User.objects.filter(email__iexact=membership.email).exists():
        raise ValidationError(gettext(ACCOUNT_EXISTS))
    user = User(username=free_username(membership.email), email=membership.email, is_staff=True)
    password_validation.validate_password(password, user)
    user.set_password(password)
    user.save()
    membership.user = user
    membership.save(update_fields=["user"])
    invitation.used_at = timezone.now()
    invitation.save(update_fields=["used_at"])
    return user
