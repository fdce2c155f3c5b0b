"""Identity providers of company accounts: where their users prove who they are."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from common.crypto import EncryptedTextField
from tenants.models import Tenant

DEFAULT_SCOPES = "openid profile email"
DEFAULT_EMAIL_CLAIM = "email"
ENTRA_MULTI_TENANT_ALIASES = frozenset({"common", "organizations", "consumers"})
IDP_PAIR_TAKEN = gettext_noop(
    "An identity provider with this issuer and client ID is already registered. An app "
    "registration belongs to one company account: register a separate app for this one."
)


def issuer_key(issuer: str) -> str:
    """The issuer as compared for uniqueness: scheme and host in lower case, no default
    port, no trailing slash. ``iss`` itself is still compared exactly (OIDC Core 3.1.3.7);
    this only stops a second registration that differs by spelling alone."""
    parts = urlsplit(issuer.strip())
    host = (parts.hostname or "").lower()
    port = (
        parts.port
        if parts.port not in (None, 443 if parts.scheme.lower() == "https" else 80)
        else None
    )
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))[:255]


class IdPKind(models.TextChoices):
    ENTRA = "entra", "Microsoft Entra ID"
    OKTA = "okta", "Okta"
    PING = "ping", "Ping Identity"
    OIDC = "oidc", _("Other OpenID Connect provider")


class IdentityProvider(models.Model):
    tenant = models.ForeignKey(
        Tenant,
        verbose_name=_("company account"),
        on_delete=models.CASCADE,
        related_name="identity_providers",
    )
    name = models.CharField(
        verbose_name=_("name"),
        max_length=100,
        help_text=_("A name for this identity provider, unique within the account."),
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=10, choices=IdPKind.choices)
    client_id = models.CharField(
        _("client ID"),
        max_length=255,
        help_text=_(
            "Application (client) ID of the app you registered for the Onboarding Service."
        ),
    )
    client_secret = EncryptedTextField(
        verbose_name=_("client secret"),
        blank=True,
        help_text=_(
            "Client secret of that app. Stored encrypted and never shown again; leave empty to keep it."
        ),
    )
    scopes = models.CharField(verbose_name=_("scopes"), max_length=255, default=DEFAULT_SCOPES)
    email_claim = models.CharField(
        verbose_name=_("email claim"),
        max_length=64,
        default=DEFAULT_EMAIL_CLAIM,
        help_text=_(
            "ID-token claim that carries the user's e-mail; 'preferred_username' is tried when it is missing."
        ),
    )
    # Microsoft Entra ID
    entra_tenant_id = models.CharField(
        _("directory (tenant) ID"),
        max_length=36,
        blank=True,
        help_text=_("Directory (tenant) ID from the app's Overview page in Entra ID (a GUID)."),
    )
    # Okta
    okta_domain = models.CharField(
        verbose_name=_("okta domain"),
        max_length=255,
        blank=True,
        help_text=_("Your Okta domain, such as example.okta.com."),
    )
    okta_auth_server = models.CharField(
        _("Okta authorization server ID"),
        max_length=100,
        blank=True,
        help_text=_(
            "Optional: a custom authorization server's ID (such as 'default'). Empty: the org server."
        ),
    )
    # Ping and generic OpenID Connect
    ping_environment_id = models.CharField(
        _("PingOne environment ID"),
        max_length=36,
        blank=True,
        help_text=_(
            "PingOne only, instead of the issuer URL: the environment ID (a GUID) from the app's "
            "Configuration tab; the issuer is then <PingOne host>/<ID>/as."
        ),
    )
    issuer = models.URLField(
        verbose_name=_("issuer"),
        blank=True,
        help_text=_(
            "Issuer URL. Ping: your PingOne environment's issuer (…/as) or PingFederate's base URL.",
        ),
    )
    authorization_endpoint = models.URLField(verbose_name=_("authorization endpoint"), blank=True)
    token_endpoint = models.URLField(verbose_name=_("token endpoint"), blank=True)
    jwks_uri = models.URLField(_("JWKS URI"), blank=True)
    userinfo_endpoint = models.URLField(verbose_name=_("userinfo endpoint"), blank=True)
    #: ``effective_issuer`` when last validated: with ``client_id`` unique platform-wide,
    #: so no company can register another's app and shadow it (spec 2.1).
    resolved_issuer = models.CharField(  # noqa: DJ001 (null: SQLite adds the column in place)
        verbose_name=_("resolved issuer"), max_length=255, null=True, blank=True, editable=False
    )

    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)
    # The last "Test discovery" and the last one that succeeded (the guide's step 2 is
    # done when they are the same). Nullable without default: SQLite adds them in place.
    discovery_tested_at = models.DateTimeField(
        verbose_name=_("discovery tested at"), null=True, blank=True, editable=False
    )
    discovery_passed_at = models.DateTimeField(
        verbose_name=_("discovery passed at"), null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["tenant__name", "name"]
        verbose_name = _("identity provider")
        verbose_name_plural = _("identity providers")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="idp_unique_name_per_tenant"),
            # Expressions rather than ``fields``: SQLite then adds an index instead of
            # rebuilding the table, which the route triggers on this table forbid.
            models.UniqueConstraint(
                models.F("client_id"),
                models.F("resolved_issuer"),
                name="idp_unique_issuer_client_id",
                violation_error_message=IDP_PAIR_TAKEN,
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in IdPKind]), name="idp_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def discovery_ok(self) -> bool:
        return self.discovery_passed_at is not None and (
            self.discovery_passed_at == self.discovery_tested_at
        )

    def clean(self) -> None:
        """The kind's own rules (:data:`KIND_RULES`), then the scopes, then the one rule
        across companies: (issuer, client ID) registered once."""
        rules = KIND_RULES.get(self.kind)
        errors = rules(self) if rules is not None else {}
        if "openid" not in (self.scopes or "").split():
            errors["scopes"] = gettext("The scopes must include 'openid'.")
        if errors:
            raise ValidationError(errors)
        self.resolved_issuer = issuer_key(self.effective_issuer)
        # Checked here as well as by the constraint: forms leave ``resolved_issuer`` out
        # of their constraint checks, and the answer belongs on the client ID field.
        taken = IdentityProvider.objects.filter(
            client_id=self.client_id, resolved_issuer=self.resolved_issuer
        ).exclude(pk=self.pk)
        if taken.exists():
            raise ValidationError({"client_id": gettext(IDP_PAIR_TAKEN)})

    @property
    def effective_issuer(self) -> str:
        """The issuer ID tokens must carry (``iss``), derived per kind."""
        if self.kind == IdPKind.ENTRA:
            return f"{settings.ENTRA_AUTHORITY_URL.rstrip('/')}/{self.entra_tenant_id}/v2.0"
        if self.kind == IdPKind.OKTA:
            base = settings.OKTA_BASE_URL_TEMPLATE.format(domain=self.okta_domain).rstrip("/")
            return f"{base}/oauth2/{self.okta_auth_server}" if self.okta_auth_server else base
        if self.kind == IdPKind.PING and self.ping_environment_id:
            return f"{settings.PING_BASE_URL.rstrip('/')}/{self.ping_environment_id}/as"
        return self.issuer

    @property
    def uses_discovery(self) -> bool:
        return not (self.kind == IdPKind.OIDC and self.jwks_uri and self.token_endpoint)


# --- The rules of each kind: errors by field; a valid value is stored normalised. ---------
# The errors are said in the active language: the admin's reader's, English in commands.


def _guid(value: str) -> str | None:
    """``value`` as a GUID in its one spelling (lower case, with hyphens); None if it is none."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _entra_rules(idp: IdentityProvider) -> dict[str, str]:
    tid = (idp.entra_tenant_id or "").strip()
    if tid.lower() in ENTRA_MULTI_TENANT_ALIASES:
        return {
            "entra_tenant_id": gettext(
                "'{value}' is a multi-tenant alias; enter your directory (tenant) ID, a GUID."
            ).format(value=tid)
        }
    guid = _guid(tid)
    if guid is None:
        return {
            "entra_tenant_id": gettext(
                "Enter the directory (tenant) ID, a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47."
            )
        }
    idp.entra_tenant_id = guid
    return {}


def _okta_rules(idp: IdentityProvider) -> dict[str, str]:
    errors = {}
    domain = (idp.okta_domain or "").strip().lower()
    if not domain or "/" in domain or " " in domain:
        errors["okta_domain"] = gettext(
            "Enter your Okta domain without https://, such as example.okta.com."
        )
    else:
        idp.okta_domain = domain
    if idp.okta_auth_server and not re.fullmatch(r"[A-Za-z0-9_-]+", idp.okta_auth_server):
        errors["okta_auth_server"] = gettext(
            "An authorization server ID has only letters, digits, '-' and '_'."
        )
    return errors


def _ping_rules(idp: IdentityProvider) -> dict[str, str]:
    environment = (idp.ping_environment_id or "").strip()
    if idp.issuer and environment:
        return {
            "ping_environment_id": gettext(
                "Enter either the issuer URL or the PingOne environment ID, not both."
            )
        }
    if environment:
        guid = _guid(environment)
        if guid is None:
            return {
                "ping_environment_id": gettext(
                    "Enter the PingOne environment ID, a GUID from the app's Configuration tab."
                )
            }
        idp.ping_environment_id = guid
    elif not idp.issuer:
        return {
            "issuer": gettext(
                "Enter the issuer URL of your PingOne environment or PingFederate server, "
                "or the PingOne environment ID."
            )
        }
    return {}


#: Without discovery these three are all needed; the first missing one carries the error.
_EXPLICIT_ENDPOINTS = ("jwks_uri", "token_endpoint", "authorization_endpoint")


def _oidc_rules(idp: IdentityProvider) -> dict[str, str]:
    errors = {}
    if not idp.issuer:
        errors["issuer"] = gettext(
            "Enter the issuer URL; it must match the 'iss' claim of the ID tokens."
        )
    missing = [name for name in _EXPLICIT_ENDPOINTS if not getattr(idp, name)]
    if missing and len(missing) < len(_EXPLICIT_ENDPOINTS):
        errors[missing[0]] = gettext(
            "Without discovery, the authorization endpoint, token endpoint and JWKS URI are all "
            "needed."
        )
    return errors


#: The rules of each kind, run by ``IdentityProvider.clean``.
KIND_RULES: dict[str, Callable[[IdentityProvider], dict[str, str]]] = {
    IdPKind.ENTRA: _entra_rules,
    IdPKind.OKTA: _okta_rules,
    IdPKind.PING: _ping_rules,
    IdPKind.OIDC: _oidc_rules,
}


class ExternalIdentity(models.Model):
    """A staff user's account at the platform IdP: matched by (issuer, subject).

    Never by e-mail: an e-mail address can be reassigned or, at some IdPs, edited by the
    user; ``sub`` is stable and unique per issuer (OIDC Core 2), so it is what a returning
    person is recognised by. The e-mail is used once, to accept membership invitations.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="external_identities",
    )
    issuer = models.CharField(verbose_name=_("issuer"), max_length=255)
    subject = models.CharField(verbose_name=_("subject"), max_length=255)
    email = models.EmailField(
        verbose_name=_("email"), blank=True, help_text=_("The verified e-mail at the last sign-in.")
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    last_login_at = models.DateTimeField(verbose_name=_("last login at"), null=True, blank=True)

    class Meta:
        verbose_name = _("external identity")
        verbose_name_plural = _("external identities")
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="external_identity_unique_issuer_subject"
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(subject)s at %(issuer)s") % {
            "subject": self.subject,
            "issuer": self.issuer,
        }
