"""Routing records (the "record set for the OBS routing") and onboarding events."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from certificates.models import CertificateChain
from common.validators import normalize_domain, normalize_email, validate_hostname
from identity.models import IdentityProvider
from tenants.models import Tenant

DEFAULT_UMS_PORT = 8443

# Marked with gettext_noop and translated where raised, so they stay plain str for the
# commands and tests that reuse them.
ROUTE_TENANT_NOT_ACTIVE = gettext_noop(
    "IGEL OS Onboarding is not activated for this company account yet; "
    "activate it before creating routes."
)
ROUTE_IDP_OTHER_TENANT = gettext_noop("This identity provider belongs to another company account.")
ROUTE_CHAIN_OTHER_TENANT = gettext_noop(
    "This certificate chain belongs to another company account."
)
ROUTE_CHAIN_REPLACED = gettext_noop(
    "This certificate chain has been replaced; choose the current one."
)
ROUTE_ICG_END_CERTIFICATE = gettext_noop(
    "For an ICG, the chain must hold every certificate of the ICG's chain except the end "
    "certificate; certificate {position} ({subject}) is an end certificate. Upload the chain without it."
)


class Target(models.TextChoices):
    UMS = "ums", _("UMS (devices connect directly)")
    ICG = "icg", _("IGEL Cloud Gateway (ICG)")


class Route(models.Model):
    tenant = models.ForeignKey(
        Tenant, verbose_name=_("company account"), on_delete=models.CASCADE, related_name="routes"
    )
    display_name = models.CharField(
        verbose_name=_("display name"),
        max_length=200,
        help_text=_("Display name for the UMS to which your user's device will be routed."),
    )
    ums_hostname = models.CharField(
        _("UMS hostname"),
        max_length=253,
        validators=[validate_hostname],  # type: ignore[list-item]  # returns the value; Django ignores it,
        help_text=_(
            "Hostname (fully qualified domain name) or IP address by which the endpoint devices reach the UMS. "
            "With an ICG, use the External Address of the ICG. Case-sensitive: write it exactly as in the UMS."
        ),
    )
    ums_port = models.PositiveIntegerField(
        _("UMS port"),
        default=DEFAULT_UMS_PORT,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text=_(
            "Port under which the UMS can be reached; the UMS web server's default is 8443. "
            "With an ICG, use the External Port of the ICG."
        ),
    )
    target = models.CharField(
        verbose_name=_("target"),
        max_length=3,
        choices=Target.choices,
        default=Target.UMS,
        help_text=_("Whether devices are sent to the UMS itself or to an IGEL Cloud Gateway."),
    )
    identity_provider = models.ForeignKey(
        IdentityProvider,
        verbose_name=_("identity provider"),
        on_delete=models.PROTECT,
        related_name="routes",
        help_text=_("The identity provider with which the mapped users sign in."),
    )
    certificate_chain = models.ForeignKey(
        CertificateChain,
        verbose_name=_("certificate chain"),
        on_delete=models.PROTECT,
        related_name="routes",
        help_text=_(
            "Root certificate chain of the UMS (Download Certificate Chain in the UMS Web App), or for an ICG "
            "every certificate of the ICG's chain except the end certificate."
        ),
    )
    enabled = models.BooleanField(
        verbose_name=_("enabled"),
        default=True,
        help_text=_("Devices are routed only while the route is enabled."),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        ordering = ["tenant__name", "display_name"]
        verbose_name = _("route")
        verbose_name_plural = _("routes")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "display_name"],
                name="route_unique_name_per_tenant",
                violation_error_message=_(
                    "This company account already has a route with this display name."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(ums_port__gte=1, ums_port__lte=65535), name="route_port_range"
            ),
            models.CheckConstraint(
                condition=models.Q(target__in=[t.value for t in Target]), name="route_target_valid"
            ),
            # That identity_provider and certificate_chain belong to ``tenant`` is enforced
            # by triggers (migration 0002), as Django has no composite foreign keys.
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.tenant_id and self._state.adding and not self.tenant.is_activated:
            errors["tenant"] = gettext(ROUTE_TENANT_NOT_ACTIVE)
        if (
            self.tenant_id
            and self.identity_provider_id
            and self.identity_provider.tenant_id != self.tenant_id
        ):
            errors["identity_provider"] = gettext(ROUTE_IDP_OTHER_TENANT)
        if self.tenant_id and self.certificate_chain_id:
            if self.certificate_chain.tenant_id != self.tenant_id:
                errors["certificate_chain"] = gettext(ROUTE_CHAIN_OTHER_TENANT)
            elif self.certificate_chain.replaced_at is not None:
                errors["certificate_chain"] = gettext(ROUTE_CHAIN_REPLACED)
            elif self.target == Target.ICG:
                # A chain accepted for a UMS may include the server's own certificate; the
                # vendor guide forbids that for an ICG, so switching the target re-checks.
                leaf = self.certificate_chain.certificates.filter(is_ca=False).first()
                if leaf is not None:
                    errors["certificate_chain"] = gettext(ROUTE_ICG_END_CERTIFICATE).format(
                        position=leaf.position + 1, subject=leaf.subject
                    )
        if errors:
            raise ValidationError(errors)


MAPPING_TENANT_HELP = _(
    "The route's company account, kept with the row so uniqueness is per account."
)


class MappedUser(models.Model):
    """One e-mail address routed to one route.

    Unique within a company account here; across accounts ``onboarding.services``
    decides (spec 2.1): first come, first served, except that the account that verified
    the address's domain may always map it, since only its rows route there.
    """

    route = models.ForeignKey(
        Route, verbose_name=_("route"), on_delete=models.CASCADE, related_name="mapped_users"
    )
    tenant = models.ForeignKey(
        Tenant,
        verbose_name=_("company account"),
        on_delete=models.CASCADE,
        related_name="+",
        editable=False,
        help_text=MAPPING_TENANT_HELP,
    )
    email = models.CharField(
        _("e-mail address"),
        max_length=254,
        help_text=_("E-mail address of the user as it is known to your identity provider."),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["email"]
        verbose_name = _("mapped user")
        verbose_name_plural = _("mapped users")
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "tenant",
                name="mapped_user_unique_email_per_tenant",
                violation_error_message=_("This e-mail address is already mapped to a route."),
            ),
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="mapped_user_email_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        _take_route_tenant(self)
        try:
            self.email = normalize_email(self.email)
        except ValidationError as exc:
            raise ValidationError({"email": exc.messages}) from None


class MappedDomain(models.Model):
    """One domain routed to one route: every address of the domain, unless mapped itself.

    Unique within a company account; across accounts see :class:`MappedUser`.
    """

    route = models.ForeignKey(
        Route, verbose_name=_("route"), on_delete=models.CASCADE, related_name="mapped_domains"
    )
    tenant = models.ForeignKey(
        Tenant,
        verbose_name=_("company account"),
        on_delete=models.CASCADE,
        related_name="+",
        editable=False,
        help_text=MAPPING_TENANT_HELP,
    )
    domain = models.CharField(
        verbose_name=_("domain"),
        max_length=253,
        help_text=_(
            "Domain that includes all e-mail addresses of this domain, such as example.com."
        ),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        verbose_name = _("mapped domain")
        verbose_name_plural = _("mapped domains")
        constraints = [
            models.UniqueConstraint(
                Lower("domain"),
                "tenant",
                name="mapped_domain_unique_domain_per_tenant",
                violation_error_message=_("This domain is already mapped to a route."),
            ),
            models.CheckConstraint(
                condition=models.Q(domain=Lower("domain")), name="mapped_domain_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.domain

    def clean(self) -> None:
        _take_route_tenant(self)
        try:
            self.domain = normalize_domain(self.domain)
        except ValidationError as exc:
            raise ValidationError({"domain": exc.messages}) from None


def _take_route_tenant(mapping: MappedUser | MappedDomain) -> None:
    """A mapping belongs to its route's company account (a trigger checks it, too)."""
    try:
        route = mapping.route
    except Route.DoesNotExist:
        return  # the import checks rows before their route exists
    if route is not None and route.tenant_id:
        mapping.tenant_id = route.tenant_id


class EventAction(models.TextChoices):
    AUTHORIZE = "authorize", _("Device started onboarding")
    SIGN_IN = "sign_in", _("User signed in")
    TOKEN = "token", _("Device received its route")
    LOOKUP = "lookup", _("Device looked up its route with an ID token")


class EventResult(models.TextChoices):
    SUCCESS = "success", _("Success")
    FAILURE = "failure", _("Failure")


class OnboardingEvent(models.Model):
    """One step of one onboarding attempt, for the account's staff to read."""

    tenant = models.ForeignKey(
        Tenant,
        verbose_name=_("company account"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="onboarding_events",
    )
    route = models.ForeignKey(
        Route,
        verbose_name=_("route"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(verbose_name=_("action"), max_length=16, choices=EventAction.choices)
    result = models.CharField(verbose_name=_("result"), max_length=8, choices=EventResult.choices)
    reason = models.CharField(
        verbose_name=_("reason"),
        max_length=64,
        blank=True,
        help_text=_("Why it failed, as a short code."),
    )
    detail = models.TextField(verbose_name=_("detail"), blank=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True)
    structure_tag = models.CharField(verbose_name=_("structure tag"), max_length=128, blank=True)
    device_hostname = models.CharField(
        verbose_name=_("device hostname"), max_length=128, blank=True
    )
    device_serial = models.CharField(verbose_name=_("device serial"), max_length=128, blank=True)
    device_model = models.CharField(verbose_name=_("device model"), max_length=128, blank=True)
    device_os_version = models.CharField(
        verbose_name=_("device os version"), max_length=128, blank=True
    )
    client_address = models.GenericIPAddressField(
        verbose_name=_("client address"), null=True, blank=True
    )
    # When it happened, not when it was written (events may be written in batches).
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now, db_index=True
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("onboarding event")
        verbose_name_plural = _("onboarding events")
        indexes = [models.Index(fields=["tenant", "-created_at"], name="event_tenant_created")]

    def __str__(self) -> str:
        return (
            f"{self.get_action_display()}: {self.get_result_display()}"
            f" ({self.email or gettext('unknown')})"
        )


class DeviceAuthorizationState(models.TextChoices):
    PENDING = "pending", _("Waiting for the user to sign in")
    APPROVED = "approved", _("Signed in; waiting for the device to poll")
    DENIED = "denied", _("Denied")
    CONSUMED = "consumed", _("Route delivered to the device")


class DeviceAuthorization(models.Model):
    """One device's onboarding in progress (RFC 8628 device authorization).

    Only the SHA-256 of the ``device_code`` is stored: a database leak must not let
    anyone poll for another company's route. The ``user_code`` is stored as its 8
    characters without the dash. State changes happen through conditional UPDATEs in
    ``onboarding.device_flow`` so that several server processes never both win a race
    (two polls consuming one code, two callbacks using one OIDC state).
    """

    # Unique through Meta.constraints, not unique=True: on PostgreSQL that would add a
    # second (pattern) index that no query uses and every new code's INSERT maintains.
    device_code_hash = models.CharField(
        verbose_name=_("device code hash"), max_length=64, editable=False
    )
    user_code = models.CharField(verbose_name=_("user code"), max_length=8, editable=False)
    tenant = models.ForeignKey(
        Tenant,
        verbose_name=_("company account"),
        on_delete=models.CASCADE,
        related_name="device_authorizations",
    )
    route = models.ForeignKey(
        Route,
        verbose_name=_("route"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The requested e-mail's route; after sign-in, the signed-in user's route."),
    )
    email = models.CharField(_("requested e-mail"), max_length=254)
    structure_tag = models.CharField(verbose_name=_("structure tag"), max_length=128, blank=True)
    device_hostname = models.CharField(
        verbose_name=_("device hostname"), max_length=128, blank=True
    )
    device_serial = models.CharField(verbose_name=_("device serial"), max_length=128, blank=True)
    device_model = models.CharField(verbose_name=_("device model"), max_length=128, blank=True)
    device_os_version = models.CharField(
        verbose_name=_("device os version"), max_length=128, blank=True
    )
    client_address = models.GenericIPAddressField(
        verbose_name=_("client address"), null=True, blank=True
    )

    state = models.CharField(
        verbose_name=_("state"),
        max_length=10,
        choices=DeviceAuthorizationState.choices,
        default=DeviceAuthorizationState.PENDING,
    )
    interval = models.PositiveIntegerField(
        verbose_name=_("interval"), help_text=_("Minimum seconds between polls.")
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(verbose_name=_("expires at"), db_index=True)
    last_polled_at = models.DateTimeField(verbose_name=_("last polled at"), null=True, blank=True)

    # The sign-in in progress: the OIDC state (hashed, single use) is bound to this
    # authorization and to the identity provider the browser was sent to.
    # NULL, not "", while no sign-in is under way: the unique index holds set states only.
    oidc_state_hash = models.CharField(  # noqa: DJ001
        verbose_name=_("oidc state hash"),
        max_length=64,
        null=True,
        blank=True,
        editable=False,
    )
    oidc_nonce = models.CharField(
        verbose_name=_("oidc nonce"), max_length=128, blank=True, editable=False
    )
    oidc_code_verifier = models.CharField(
        verbose_name=_("oidc code verifier"), max_length=128, blank=True, editable=False
    )
    oidc_identity_provider = models.ForeignKey(
        IdentityProvider,
        verbose_name=_("oidc identity provider"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # a partial index (Meta.indexes)
    )
    oidc_started_at = models.DateTimeField(verbose_name=_("oidc started at"), null=True, blank=True)

    authenticated_email = models.CharField(
        verbose_name=_("authenticated email"), max_length=254, blank=True
    )
    failure_reason = models.CharField(verbose_name=_("failure reason"), max_length=64, blank=True)
    decided_at = models.DateTimeField(verbose_name=_("decided at"), null=True, blank=True)
    consumed_at = models.DateTimeField(verbose_name=_("consumed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("device authorization")
        verbose_name_plural = _("device authorizations")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in DeviceAuthorizationState]),
                name="device_authorization_state_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(interval__gte=1), name="device_authorization_interval_positive"
            ),
            models.UniqueConstraint(
                fields=["device_code_hash"], name="device_authorization_device_code_unique"
            ),
            models.UniqueConstraint(
                fields=["user_code"], name="device_authorization_user_code_unique"
            ),
            # Set only while a sign-in is under way: a new code's INSERT writes no entry.
            models.UniqueConstraint(
                fields=["oidc_state_hash"],
                condition=models.Q(oidc_state_hash__isnull=False),
                name="device_authorization_oidc_state_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["oidc_identity_provider"],
                condition=models.Q(oidc_identity_provider__isnull=False),
                name="device_authorization_idp",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_user_code} ({self.get_state_display()})"

    @property
    def display_user_code(self) -> str:
        return f"{self.user_code[:4]}-{self.user_code[4:]}"

    def is_expired(self, now: datetime.datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.expires_at


class ImportJobState(models.TextChoices):
    QUEUED = "queued", _("Waiting for a worker")
    RUNNING = "running", _("Checking the file")
    CHECKED = "checked", _("Checked: waiting for Apply or Cancel")
    APPLYING = "applying", _("Applying")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class ImportJobPhase(models.TextChoices):
    CHECK = "check", _("Check (dry run)")
    APPLY = "apply", _("Apply")


class ImportJob(models.Model):
    """One route import from the admin, run by ``manage.py run_jobs`` (``onboarding.job_runner``).

    The uploaded file and its chain files wait in the configured storage (names in
    ``file`` and ``chain_files``) until the job ends; then they are deleted and the names
    emptied. ``phase`` says what a queued job does when a worker claims it: check the file
    (a dry run, ending ``checked``) or apply it (ending ``done``). ``attempts`` counts
    claims: every write of a worker is conditional on the count it claimed with, so a
    worker taken for dead can never overwrite the job's later state.
    """

    tenant = models.ForeignKey(
        Tenant, verbose_name=_("company account"), on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    file = models.FileField(verbose_name=_("file"), max_length=255, blank=True, editable=False)
    file_name = models.CharField(_("file"), max_length=255)
    file_size = models.BigIntegerField(verbose_name=_("file size"), default=0)
    format = models.CharField(verbose_name=_("format"), max_length=4)
    chain_files = models.JSONField(
        verbose_name=_("chain files"),
        default=dict,
        blank=True,
        help_text=_("Uploaded chain file name -> stored name."),
    )
    prune = models.BooleanField(verbose_name=_("prune"), default=False)
    phase = models.CharField(
        verbose_name=_("phase"),
        max_length=5,
        choices=ImportJobPhase.choices,
        default=ImportJobPhase.CHECK,
    )
    state = models.CharField(
        verbose_name=_("state"),
        max_length=10,
        choices=ImportJobState.choices,
        default=ImportJobState.QUEUED,
    )
    cancel_requested = models.BooleanField(verbose_name=_("cancel requested"), default=False)
    progress_stage = models.CharField(verbose_name=_("progress stage"), max_length=200, blank=True)
    progress_done = models.BigIntegerField(verbose_name=_("progress done"), default=0)
    progress_total = models.BigIntegerField(verbose_name=_("progress total"), null=True, blank=True)
    report = models.JSONField(verbose_name=_("report"), null=True, blank=True)
    message = models.TextField(verbose_name=_("message"), blank=True)
    worker = models.CharField(verbose_name=_("worker"), max_length=200, blank=True)
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(verbose_name=_("heartbeat at"), null=True, blank=True)
    checked_at = models.DateTimeField(verbose_name=_("checked at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("route import")
        verbose_name_plural = _("route imports")
        indexes = [models.Index(fields=["state", "created_at"], name="import_job_state_created")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in ImportJobState]),
                name="import_job_state_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(phase__in=[p.value for p in ImportJobPhase]),
                name="import_job_phase_valid",
            ),
        ]

    def __str__(self) -> str:
        return gettext("Import of %(file)s (%(state)s)") % {
            "file": self.file_name,
            "state": self.get_state_display(),
        }
