"""Routing records (the "record set for the OBS routing") and onboarding events."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from certificates.models import CertificateChain
from common.validators import normalize_domain, normalize_email, validate_hostname
from identity.models import IdentityProvider
from tenants.models import Tenant

DEFAULT_UMS_PORT = 8443

ROUTE_TENANT_NOT_ACTIVE = (
    "IGEL OS Onboarding is not activated for this company account yet; "
    "activate it before creating routes."
)
ROUTE_IDP_OTHER_TENANT = "This identity provider belongs to another company account."
ROUTE_CHAIN_OTHER_TENANT = "This certificate chain belongs to another company account."
ROUTE_CHAIN_REPLACED = "This certificate chain has been replaced; choose the current one."
ROUTE_ICG_END_CERTIFICATE = (
    "For an ICG, the chain must hold every certificate of the ICG's chain except the end "
    "certificate; certificate {position} ({subject}) is an end certificate. Upload the chain without it."
)


class Target(models.TextChoices):
    UMS = "ums", "UMS (devices connect directly)"
    ICG = "icg", "IGEL Cloud Gateway (ICG)"


class Route(models.Model):
    tenant = models.ForeignKey(
        Tenant, verbose_name="company account", on_delete=models.CASCADE, related_name="routes"
    )
    display_name = models.CharField(
        max_length=200,
        help_text="Display name for the UMS to which your user's device will be routed.",
    )
    ums_hostname = models.CharField(
        "UMS hostname",
        max_length=253,
        validators=[validate_hostname],  # type: ignore[list-item]  # returns the value; Django ignores it,
        help_text=(
            "Hostname (fully qualified domain name) or IP address by which the endpoint devices reach the UMS. "
            "With an ICG, use the External Address of the ICG. Case-sensitive: write it exactly as in the UMS."
        ),
    )
    ums_port = models.PositiveIntegerField(
        "UMS port",
        default=DEFAULT_UMS_PORT,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text=(
            "Port under which the UMS can be reached; the UMS web server's default is 8443. "
            "With an ICG, use the External Port of the ICG."
        ),
    )
    target = models.CharField(
        max_length=3,
        choices=Target.choices,
        default=Target.UMS,
        help_text="Whether devices are sent to the UMS itself or to an IGEL Cloud Gateway.",
    )
    identity_provider = models.ForeignKey(
        IdentityProvider,
        on_delete=models.PROTECT,
        related_name="routes",
        help_text="The identity provider with which the mapped users sign in.",
    )
    certificate_chain = models.ForeignKey(
        CertificateChain,
        on_delete=models.PROTECT,
        related_name="routes",
        help_text=(
            "Root certificate chain of the UMS (Download Certificate Chain in the UMS Web App), or for an ICG "
            "every certificate of the ICG's chain except the end certificate."
        ),
    )
    enabled = models.BooleanField(
        default=True, help_text="Devices are routed only while the route is enabled."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__name", "display_name"]
        verbose_name = "route"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "display_name"],
                name="route_unique_name_per_tenant",
                violation_error_message="This company account already has a route with this display name.",
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
            errors["tenant"] = ROUTE_TENANT_NOT_ACTIVE
        if (
            self.tenant_id
            and self.identity_provider_id
            and self.identity_provider.tenant_id != self.tenant_id
        ):
            errors["identity_provider"] = ROUTE_IDP_OTHER_TENANT
        if self.tenant_id and self.certificate_chain_id:
            if self.certificate_chain.tenant_id != self.tenant_id:
                errors["certificate_chain"] = ROUTE_CHAIN_OTHER_TENANT
            elif self.certificate_chain.replaced_at is not None:
                errors["certificate_chain"] = ROUTE_CHAIN_REPLACED
            elif self.target == Target.ICG:
                # A chain accepted for a UMS may include the server's own certificate; the
                # vendor guide forbids that for an ICG, so switching the target re-checks.
                leaf = self.certificate_chain.certificates.filter(is_ca=False).first()
                if leaf is not None:
                    errors["certificate_chain"] = ROUTE_ICG_END_CERTIFICATE.format(
                        position=leaf.position + 1, subject=leaf.subject
                    )
        if errors:
            raise ValidationError(errors)


MAPPING_TENANT_HELP = "The route's company account, kept with the row so uniqueness is per account."


class MappedUser(models.Model):
    """One e-mail address routed to one route.

    Unique within a company account here; across accounts ``onboarding.services``
    decides (spec 2.1): first come, first served, except that the account that verified
    the address's domain may always map it, since only its rows route there.
    """

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="mapped_users")
    tenant = models.ForeignKey(
        Tenant,
        verbose_name="company account",
        on_delete=models.CASCADE,
        related_name="+",
        editable=False,
        help_text=MAPPING_TENANT_HELP,
    )
    email = models.CharField(
        "e-mail address",
        max_length=254,
        help_text="E-mail address of the user as it is known to your identity provider.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        verbose_name = "mapped user"
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "tenant",
                name="mapped_user_unique_email_per_tenant",
                violation_error_message="This e-mail address is already mapped to a route.",
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

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="mapped_domains")
    tenant = models.ForeignKey(
        Tenant,
        verbose_name="company account",
        on_delete=models.CASCADE,
        related_name="+",
        editable=False,
        help_text=MAPPING_TENANT_HELP,
    )
    domain = models.CharField(
        max_length=253,
        help_text="Domain that includes all e-mail addresses of this domain, such as example.com.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        verbose_name = "mapped domain"
        constraints = [
            models.UniqueConstraint(
                Lower("domain"),
                "tenant",
                name="mapped_domain_unique_domain_per_tenant",
                violation_error_message="This domain is already mapped to a route.",
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
    AUTHORIZE = "authorize", "Device started onboarding"
    SIGN_IN = "sign_in", "User signed in"
    TOKEN = "token", "Device received its route"
    LOOKUP = "lookup", "Device looked up its route with an ID token"


class EventResult(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class OnboardingEvent(models.Model):
    """One step of one onboarding attempt, for the account's staff to read."""

    tenant = models.ForeignKey(
        Tenant,
        verbose_name="company account",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="onboarding_events",
    )
    route = models.ForeignKey(
        Route, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16, choices=EventAction.choices)
    result = models.CharField(max_length=8, choices=EventResult.choices)
    reason = models.CharField(
        max_length=64, blank=True, help_text="Why it failed, as a short code."
    )
    detail = models.TextField(blank=True)
    email = models.CharField("e-mail", max_length=254, blank=True)
    structure_tag = models.CharField(max_length=128, blank=True)
    device_hostname = models.CharField(max_length=128, blank=True)
    device_serial = models.CharField(max_length=128, blank=True)
    device_model = models.CharField(max_length=128, blank=True)
    device_os_version = models.CharField(max_length=128, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "onboarding event"
        indexes = [models.Index(fields=["tenant", "-created_at"], name="event_tenant_created")]

    def __str__(self) -> str:
        return (
            f"{self.get_action_display()}: {self.get_result_display()} ({self.email or 'unknown'})"
        )


class DeviceAuthorizationState(models.TextChoices):
    PENDING = "pending", "Waiting for the user to sign in"
    APPROVED = "approved", "Signed in; waiting for the device to poll"
    DENIED = "denied", "Denied"
    CONSUMED = "consumed", "Route delivered to the device"


class DeviceAuthorization(models.Model):
    """One device's onboarding in progress (RFC 8628 device authorization).

    Only the SHA-256 of the ``device_code`` is stored: a database leak must not let
    anyone poll for another company's route. The ``user_code`` is stored as its 8
    characters without the dash. State changes happen through conditional UPDATEs in
    ``onboarding.device_flow`` so that several server processes never both win a race
    (two polls consuming one code, two callbacks using one OIDC state).
    """

    device_code_hash = models.CharField(max_length=64, unique=True, editable=False)
    user_code = models.CharField(max_length=8, unique=True, editable=False)
    tenant = models.ForeignKey(
        Tenant,
        verbose_name="company account",
        on_delete=models.CASCADE,
        related_name="device_authorizations",
    )
    route = models.ForeignKey(
        Route,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The requested e-mail's route; after sign-in, the signed-in user's route.",
    )
    email = models.CharField("requested e-mail", max_length=254)
    structure_tag = models.CharField(max_length=128, blank=True)
    device_hostname = models.CharField(max_length=128, blank=True)
    device_serial = models.CharField(max_length=128, blank=True)
    device_model = models.CharField(max_length=128, blank=True)
    device_os_version = models.CharField(max_length=128, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)

    state = models.CharField(
        max_length=10,
        choices=DeviceAuthorizationState.choices,
        default=DeviceAuthorizationState.PENDING,
    )
    interval = models.PositiveIntegerField(help_text="Minimum seconds between polls.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)

    # The sign-in in progress: the OIDC state (hashed, single use) is bound to this
    # authorization and to the identity provider the browser was sent to.
    oidc_state_hash = models.CharField(
        max_length=64, null=True, blank=True, unique=True, editable=False
    )
    oidc_nonce = models.CharField(max_length=128, blank=True, editable=False)
    oidc_code_verifier = models.CharField(max_length=128, blank=True, editable=False)
    oidc_identity_provider = models.ForeignKey(
        IdentityProvider, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    oidc_started_at = models.DateTimeField(null=True, blank=True)

    authenticated_email = models.CharField(max_length=254, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "device authorization"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in DeviceAuthorizationState]),
                name="device_authorization_state_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(interval__gte=1), name="device_authorization_interval_positive"
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
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Checking the file"
    CHECKED = "checked", "Checked: waiting for Apply or Cancel"
    APPLYING = "applying", "Applying"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ImportJobPhase(models.TextChoices):
    CHECK = "check", "Check (dry run)"
    APPLY = "apply", "Apply"


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
        Tenant, verbose_name="company account", on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(max_length=255, blank=True, editable=False)
    file_name = models.CharField("file", max_length=255)
    file_size = models.BigIntegerField(default=0)
    format = models.CharField(max_length=4)
    chain_files = models.JSONField(
        default=dict, blank=True, help_text="Uploaded chain file name -> stored name."
    )
    prune = models.BooleanField(default=False)
    phase = models.CharField(
        max_length=5, choices=ImportJobPhase.choices, default=ImportJobPhase.CHECK
    )
    state = models.CharField(
        max_length=10, choices=ImportJobState.choices, default=ImportJobState.QUEUED
    )
    cancel_requested = models.BooleanField(default=False)
    progress_stage = models.CharField(max_length=200, blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "route import"
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
        return f"Import of {self.file_name} ({self.get_state_display()})"
