"""Company accounts (tenants), who belongs to them, and whether onboarding is on."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from common.validators import normalize_email


class Role(models.TextChoices):
    """Roles inside a company account, after the IGEL Customer Portal."""

    SUPER_ADMIN = "super_admin", _("Super admin (all of the account)")
    ACCOUNT_ADMIN = "account_admin", _("Account admin (members and roles)")
    OBS_ADMIN = "obs_admin", _("OBS admin (activation, identity providers, routes, chains)")


#: Roles that may manage onboarding: activation, IdPs, routes, mappings, chains, events.
OBS_ROLES = frozenset({Role.SUPER_ADMIN, Role.OBS_ADMIN})
#: Roles that may manage the account's members.
MEMBER_ROLES = frozenset({Role.SUPER_ADMIN, Role.ACCOUNT_ADMIN})
ALL_ROLES = frozenset(Role)


class Tenant(models.Model):
    slug = models.SlugField(
        verbose_name=_("slug"),
        max_length=63,
        unique=True,
        help_text=_("Short unique name of the company account."),
    )
    name = models.CharField(verbose_name=_("name"), max_length=200)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("company account")
        verbose_name_plural = _("company accounts")

    def __str__(self) -> str:
        return self.name

    @property
    def is_activated(self) -> bool:
        return Activation.objects.filter(tenant=self).exists()


class Membership(models.Model):
    """A person's role in a company account.

    Created for an e-mail address by an account admin before the person ever signs in
    (an invitation); ``user`` is linked when they first sign in with that address at the
    platform IdP, or when the operator adds them (``add_member``) and a local account
    with the address exists. A company's own action never links or changes an account.
    """

    tenant = models.ForeignKey(
        Tenant,
        verbose_name=_("company account"),
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    email = models.CharField(
        verbose_name=_("email"),
        max_length=254,
        help_text=_("The member's e-mail address, as their identity provider reports it."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
        editable=False,
    )
    role = models.CharField(verbose_name=_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["tenant__name", "email"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "tenant",
                name="membership_unique_email_per_tenant",
                violation_error_message=_("This person is already a member of the account."),
            ),
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="membership_email_lowercase"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(email)s (%(role)s) in %(company)s") % {
            "email": self.email,
            "role": self.get_role_display(),
            "company": self.tenant,
        }

    def clean(self) -> None:
        if self.email:
            try:
                self.email = normalize_email(self.email)
            except ValidationError as exc:
                raise ValidationError({"email": exc.messages}) from None


class Invitation(models.Model):
    """A one-time, expiring link with which an invited person sets a password.

    Only the SHA-256 of the token is stored. It belongs to one membership: accepting it
    creates the person's account and links that membership only (other companies'
    invitations for the address wait for the person's own sign-in or the operator).
    """

    membership = models.ForeignKey(
        Membership,
        verbose_name=_("membership"),
        on_delete=models.CASCADE,
        related_name="invitations",
    )
    token_hash = models.CharField(verbose_name=_("token hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    used_at = models.DateTimeField(verbose_name=_("used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return gettext("Invitation of %(email)s") % {"email": self.membership.email}


class Activation(models.Model):
    """The one-time activation of IGEL OS Onboarding for a company account."""

    tenant = models.OneToOneField(
        Tenant,
        verbose_name=_("company account"),
        on_delete=models.CASCADE,
        related_name="activation",
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("activated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    activated_by_email = models.EmailField(
        verbose_name=_("activated by email"),
        help_text=_("Who activated onboarding, kept even if the user is removed."),
    )
    activated_at = models.DateTimeField(verbose_name=_("activated at"), auto_now_add=True)

    class Meta:
        ordering = ["-activated_at"]
        verbose_name = _("activation")
        verbose_name_plural = _("activations")

    def __str__(self) -> str:
        return gettext("%(company)s activated by %(email)s") % {
            "company": self.tenant,
            "email": self.activated_by_email,
        }


class AuditOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class AuditEntry(models.Model):
    """Who changed what, through an operator command or the admin's route import.

    Written by ``tenants.audit`` and never changed afterwards. ``actor`` names the
    person as they were then ("os:deploy" for a shell account, "admin:bob" for a staff
    user) so the entry still says who after the account is gone; ``arguments`` never
    hold secrets (``tenants.audit.safe_arguments``).
    """

    at = models.DateTimeField(verbose_name=_("at"), default=timezone.now, db_index=True)
    tenant = models.ForeignKey(
        Tenant,
        verbose_name=_("company account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    tenant_slug = models.CharField(
        _("company account slug"),
        max_length=63,
        blank=True,
        help_text=_("Kept when the company account is deleted."),
    )
    actor = models.CharField(verbose_name=_("actor"), max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(verbose_name=_("action"), max_length=64)
    arguments = models.JSONField(verbose_name=_("arguments"), default=dict, blank=True)
    counts = models.JSONField(verbose_name=_("counts"), default=dict, blank=True)
    outcome = models.CharField(
        verbose_name=_("outcome"), max_length=10, choices=AuditOutcome.choices
    )
    message = models.TextField(verbose_name=_("message"), blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [models.Index(fields=["tenant", "-at"], name="audit_tenant_at")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=[o.value for o in AuditOutcome]),
                name="audit_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(action)s by %(actor)s: %(outcome)s") % {
            "action": self.action,
            "actor": self.actor,
            "outcome": self.get_outcome_display(),
        }
