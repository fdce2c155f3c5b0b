"""Admin for identity providers: per-kind fields with what to register at the IdP."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from unfold.admin import ModelAdmin

from identity import services
from identity.forms import IdentityProviderForm
from identity.models import ExternalIdentity, IdentityProvider
from tenants.admin_scoping import NotFoundUnlessPermitted, TenantScopedAdmin


def redirect_uri() -> str:
    return f"{settings.BASE_URL}/oidc/callback/"


def _register_help() -> str:
    steps = [
        ("Redirect URI", format_html("<code>{}</code> (type: Web)", redirect_uri())),
        ("Client type", "Web / confidential client with a client secret"),
        ("Grant", "Authorization code, with PKCE (S256)"),
        ("Scopes", mark_safe("<code>openid profile email</code>")),  # noqa: S308 (constant)
    ]
    items = format_html_join("", "<li><strong>{}:</strong> {}</li>", steps)
    return format_html(
        "Register an app for the Onboarding Service at your identity provider with:<ul>{}</ul>"
        "Then enter its client ID and secret here and fill in the section of your provider's kind.",
        items,
    )


ENTRA_HELP = mark_safe(  # noqa: S308 (constant text, no input)
    "In Entra ID: <em>App registrations › New registration</em>, supported account types "
    "<em>this organizational directory only</em>, redirect URI of platform <em>Web</em>. "
    "Under <em>Token configuration › Add optional claim › ID</em> add <code>email</code> and "
    "<code>preferred_username</code>. Create a secret under <em>Certificates &amp; secrets</em>. "
    "The issuer is <code>https://login.microsoftonline.com/&lt;directory ID&gt;/v2.0</code>; "
    "tokens of any other directory are refused."
)
OKTA_HELP = mark_safe(  # noqa: S308 (constant text, no input)
    "In Okta: <em>Applications › Create App Integration › OIDC – Web Application</em>, grant "
    "<em>Authorization Code</em>, sign-in redirect URI as above, PKCE required. Issuer: "
    "<code>https://&lt;domain&gt;</code> (org server) or <code>https://&lt;domain&gt;/oauth2/&lt;ID&gt;</code>."
)
PING_HELP = mark_safe(  # noqa: S308 (constant text, no input)
    "PingOne: <em>Applications › Add › OIDC Web App</em>, response type <em>Code</em>, grant "
    "<em>Authorization Code</em>, PKCE <em>S256 required</em>, token endpoint authentication "
    "<em>Client Secret Basic</em> or <em>Post</em>; the issuer is shown on the app's "
    "<em>Configuration</em> tab (<code>https://auth.pingone.…/&lt;environment ID&gt;/as</code>); "
    "enter it, or just the environment ID. PingFederate: its base URL. Other providers: the issuer URL from their discovery document."
)
EXPLICIT_HELP = mark_safe(  # noqa: S308 (constant text, no input)
    "Only for a provider without discovery (<code>/.well-known/openid-configuration</code>): "
    "all of authorization endpoint, token endpoint and JWKS URI."
)


@admin.register(IdentityProvider)
class IdentityProviderAdmin(TenantScopedAdmin):
    form = IdentityProviderForm
    list_display = ["name", "tenant", "kind", "issuer_display", "secret_status"]
    list_filter = ["kind"]
    search_fields = ["name", "client_id", "tenant__name"]
    readonly_fields = ["secret_status", "issuer_display", "email_source"]
    actions = ["test_discovery"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None):  # type: ignore[no-untyped-def]
        return [
            (
                None,
                {
                    "fields": [
                        "tenant",
                        "name",
                        "kind",
                        "client_id",
                        "client_secret",
                        "secret_status",
                        "scopes",
                        "email_claim",
                    ],
                    "description": _register_help(),
                },
            ),
            ("Microsoft Entra ID", {"fields": ["entra_tenant_id"], "description": ENTRA_HELP}),
            ("Okta", {"fields": ["okta_domain", "okta_auth_server"], "description": OKTA_HELP}),
            (
                "Ping Identity or another OpenID Connect provider",
                {"fields": ["issuer", "ping_environment_id"], "description": PING_HELP},
            ),
            (
                "Other OpenID Connect provider without discovery",
                {
                    "fields": [
                        "authorization_endpoint",
                        "token_endpoint",
                        "jwks_uri",
                        "userinfo_endpoint",
                    ],
                    "description": EXPLICIT_HELP,
                    "classes": ["collapse"],
                },
            ),
            ("In effect", {"fields": ["issuer_display", "email_source"]}),
        ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(db_field, models.URLField):
            kwargs["assume_scheme"] = "https"  # IdP URLs without a scheme mean https
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):  # type: ignore[no-untyped-def]
        # A provider never moves to another company account.
        return [*self.readonly_fields, "tenant"] if obj else self.readonly_fields

    @admin.display(description="client secret")
    def secret_status(self, obj: IdentityProvider) -> str:
        return "set" if obj.client_secret else "not set"

    @admin.display(description="e-mail read from")
    def email_source(self, obj: IdentityProvider) -> str:
        claim = obj.email_claim if obj.pk else "email"
        fallback = (
            "" if claim == "preferred_username" else ", else 'preferred_username' when it is absent"
        )
        return (
            f"The '{claim}' claim of the ID token (or UserInfo){fallback}. A user whose"
            " 'email_verified' is present and not true is refused, never routed by another claim."
        )

    @admin.display(description="issuer in effect")
    def issuer_display(self, obj: IdentityProvider) -> str:
        return obj.effective_issuer if obj.pk else "—"

    def save_model(
        self, request: HttpRequest, obj: IdentityProvider, form: IdentityProviderForm, change: bool
    ) -> None:
        data = {
            name: form.cleaned_data[name]
            for name in services.EDITABLE_FIELDS
            if name in form.cleaned_data
        }
        secret = form.cleaned_data.get("client_secret") or None
        if change:
            services.idp_update(idp=obj, client_secret=secret, **data)
        else:
            created = services.idp_create(
                tenant=form.cleaned_data["tenant"], client_secret=secret or "", **data
            )
            obj.pk = created.pk
            obj.refresh_from_db()
            obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: IdentityProvider) -> None:
        services.idps_delete(IdentityProvider.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[IdentityProvider]) -> None:
        services.idps_delete(queryset)

    @admin.action(description="Test discovery (fetch the discovery document and signing keys)")
    def test_discovery(self, request: HttpRequest, queryset: QuerySet[IdentityProvider]) -> None:
        for idp in queryset:
            report = services.idp_test_discovery(idp)
            if report.ok:
                self.message_user(
                    request, f"{idp.name}: OK. " + " ".join(report.found), messages.SUCCESS
                )
            else:
                details = " ".join(report.problems)
                found = (" Found: " + " ".join(report.found)) if report.found else ""
                self.message_user(request, f"{idp.name}: failed. {details}{found}", messages.ERROR)


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(NotFoundUnlessPermitted, ModelAdmin):
    """Operators only: which IdP account signs in as which user (read-only, deletable)."""

    list_display = ["user", "email", "issuer", "subject", "last_login_at"]
    search_fields = ["email", "subject", "user__username"]
    readonly_fields = ["user", "issuer", "subject", "email", "created_at", "last_login_at"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser
