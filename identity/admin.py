"""Admin for identity providers: per-kind fields with what to register at the IdP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from unfold.admin import ModelAdmin
from unfold.decorators import action as unfold_action

from common.i18n import translated
from identity import services
from identity.conf import device_redirect_uri
from identity.forms import IdentityProviderForm
from identity.models import ExternalIdentity, IdentityProvider
from tenants.admin_scoping import NotFoundUnlessPermitted, TenantScopedAdmin

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec


def _register_help() -> str:
    steps = [
        (
            gettext("Redirect URI"),
            format_html(
                gettext("{uri} (type: Web)"),
                uri=format_html("<code>{}</code>", device_redirect_uri()),
            ),
        ),
        (gettext("Client type"), gettext("Web / confidential client with a client secret")),
        (gettext("Grant"), gettext("Authorization code, with PKCE (S256)")),
        (gettext("Scopes"), mark_safe("<code>openid profile email</code>")),  # noqa: S308 (constant)
    ]
    items = format_html_join("", "<li><strong>{}:</strong> {}</li>", steps)
    return format_html(
        "{}<ul>{}</ul>{}",
        gettext("Register an app for the Onboarding Service at your identity provider with:"),
        items,
        gettext(
            "Then enter its client ID and secret here and fill in the section of your provider's kind."
        ),
    )


# Where to register, per kind: HTML of our own (no input), translated where shown.
ENTRA_HELP = gettext_noop(
    "In Entra ID: <em>App registrations › New registration</em>, supported account types "
    "<em>this organizational directory only</em>, redirect URI of platform <em>Web</em>. "
    "Under <em>Token configuration › Add optional claim › ID</em> add <code>email</code> and "
    "<code>preferred_username</code>. Create a secret under <em>Certificates &amp; secrets</em>. "
    "The issuer is <code>https://login.microsoftonline.com/&lt;directory ID&gt;/v2.0</code>; "
    "tokens of any other directory are refused."
)
OKTA_HELP = gettext_noop(
    "In Okta: <em>Applications › Create App Integration › OIDC – Web Application</em>, grant "
    "<em>Authorization Code</em>, sign-in redirect URI as above, PKCE required. Issuer: "
    "<code>https://&lt;domain&gt;</code> (org server) or <code>https://&lt;domain&gt;/oauth2/&lt;ID&gt;</code>."
)
PING_HELP = gettext_noop(
    "PingOne: <em>Applications › Add › OIDC Web App</em>, response type <em>Code</em>, grant "
    "<em>Authorization Code</em>, PKCE <em>S256 required</em>, token endpoint authentication "
    "<em>Client Secret Basic</em> or <em>Post</em>; the issuer is shown on the app's "
    "<em>Configuration</em> tab (<code>https://auth.pingone.…/&lt;environment ID&gt;/as</code>); "
    "enter it, or just the environment ID. PingFederate: its base URL."
)
OIDC_HELP = gettext_noop(
    "Enter the issuer URL from the provider's discovery document "
    "(<code>/.well-known/openid-configuration</code>). Only for a provider without discovery: "
    "all of authorization endpoint, token endpoint and JWKS URI."
)


def _html_help(text: str) -> SafeString:
    return mark_safe(gettext(text))  # noqa: S308 (our constant text and its translation)


#: The name of the "Save and test discovery" button (Unfold names submit-line actions so).
TEST_DISCOVERY_BUTTON = "identity_identityprovider_save_and_test_discovery"


@admin.register(IdentityProvider)
class IdentityProviderAdmin(TenantScopedAdmin):
    form = IdentityProviderForm
    list_display = ["name", "tenant", "kind", "issuer_display", "secret_status"]
    list_filter = ["kind"]
    search_fields = ["name", "client_id", "tenant__name"]
    readonly_fields = [
        "secret_status",
        "issuer_display",
        "email_source",
        "discovery",
        "entra_help",
        "okta_help",
        "ping_help",
        "oidc_help",
    ]
    actions = ["test_discovery"]

    # Only the chosen kind's fields show (Unfold's conditional fields, an Alpine.js
    # expression over the form's values); the server still checks every kind's rules.
    conditional_fields = {
        "entra_help": "kind == 'entra'",
        "entra_tenant_id": "kind == 'entra'",
        "okta_help": "kind == 'okta'",
        "okta_domain": "kind == 'okta'",
        "okta_auth_server": "kind == 'okta'",
        "ping_help": "kind == 'ping'",
        "ping_environment_id": "kind == 'ping'",
        "oidc_help": "kind == 'oidc'",
        "issuer": "kind == 'ping' || kind == 'oidc'",
        "authorization_endpoint": "kind == 'oidc'",
        "token_endpoint": "kind == 'oidc'",
        "jwks_uri": "kind == 'oidc'",
        "userinfo_endpoint": "kind == 'oidc'",
    }
    actions_submit_line = ["save_and_test_discovery"]

    def get_fieldsets(
        self, request: HttpRequest, obj: IdentityProvider | None = None
    ) -> _FieldsetSpec:
        stored = ["secret_status"] if obj is not None else []
        fieldsets: _FieldsetSpec = [
            (
                None,
                {"fields": ["tenant", "name", "kind"], "description": _register_help()},
            ),
            (
                gettext("Your provider"),
                {
                    "fields": [
                        "entra_help",
                        "entra_tenant_id",
                        "okta_help",
                        "okta_domain",
                        "okta_auth_server",
                        "ping_help",
                        "oidc_help",
                        "issuer",
                        "ping_environment_id",
                        "authorization_endpoint",
                        "token_endpoint",
                        "jwks_uri",
                        "userinfo_endpoint",
                    ]
                },
            ),
            (
                gettext("The app you registered"),
                {"fields": ["client_id", "client_secret", *stored, "scopes", "email_claim"]},
            ),
        ]
        if obj is not None:
            fieldsets = [
                *fieldsets,
                (
                    gettext("In effect"),
                    {"fields": ["issuer_display", "email_source", "discovery"]},
                ),
            ]
        return fieldsets

    @admin.display(description=gettext_lazy("Where to register"))
    def entra_help(self, obj: IdentityProvider | None = None) -> str:
        return _html_help(ENTRA_HELP)

    @admin.display(description=gettext_lazy("Where to register"))
    def okta_help(self, obj: IdentityProvider | None = None) -> str:
        return _html_help(OKTA_HELP)

    @admin.display(description=gettext_lazy("Where to register"))
    def ping_help(self, obj: IdentityProvider | None = None) -> str:
        return _html_help(PING_HELP)

    @admin.display(description=gettext_lazy("Where to register"))
    def oidc_help(self, obj: IdentityProvider | None = None) -> str:
        return _html_help(OIDC_HELP)

    @admin.display(description=gettext_lazy("Discovery test"))
    def discovery(self, obj: IdentityProvider) -> str:
        if obj.discovery_tested_at is None:
            return gettext("Not tested yet: press “Save and test discovery”.")
        when = formats.date_format(
            timezone.localtime(obj.discovery_tested_at), gettext("Y-m-d H:i T")
        )
        if obj.discovery_ok:
            return gettext("The last test succeeded ({when}).").format(when=when)
        return gettext("The last test failed ({when}).").format(when=when)

    def get_readonly_fields(
        self, request: HttpRequest, obj: IdentityProvider | None = None
    ) -> list[str]:
        # A provider never moves to another company account.
        return [*self.readonly_fields, "tenant"] if obj else list(self.readonly_fields)

    @admin.display(description=gettext_lazy("Stored secret"))
    def secret_status(self, obj: IdentityProvider) -> str:
        if obj.client_secret:
            return gettext("A secret is stored (encrypted).")
        return gettext("None stored.")

    @admin.display(description=gettext_lazy("e-mail read from"))
    def email_source(self, obj: IdentityProvider) -> str:
        claim = obj.email_claim if obj.pk else "email"
        if claim == "preferred_username":
            source = gettext("The '{claim}' claim of the ID token (or UserInfo).")
        else:
            source = gettext(
                "The '{claim}' claim of the ID token (or UserInfo), else 'preferred_username' "
                "when it is absent."
            )
        refused = gettext(
            "A user whose 'email_verified' is present and not true is refused, never routed by "
            "another claim."
        )
        return f"{source.format(claim=claim)} {refused}"

    @admin.display(description=gettext_lazy("issuer in effect"))
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
        if TEST_DISCOVERY_BUTTON in request.POST:
            self._test_discovery(request, obj)

    @admin.action(
        description=gettext_lazy("Test discovery (fetch the discovery document and signing keys)")
    )
    def test_discovery(self, request: HttpRequest, queryset: QuerySet[IdentityProvider]) -> None:
        for idp in queryset:
            self._test_discovery(request, idp)

    @unfold_action(description=gettext_lazy("Save and test discovery"))
    def save_and_test_discovery(self, request: HttpRequest, obj: IdentityProvider) -> None:
        """A button beside "Save"; ``save_model`` runs the test once the provider is saved."""

    def _test_discovery(self, request: HttpRequest, idp: IdentityProvider) -> None:
        report = services.idp_test_discovery(idp)
        works = gettext("Discovery works") if report.ok else gettext("Discovery failed")
        rows = [(gettext("Result"), works)]
        rows += [(gettext("Problem"), translated(problem)) for problem in report.problems]
        for line in map(translated, report.found):
            label, _sep, value = line.partition(": ")
            rows.append((label, value) if value else (gettext("Found"), line))
        table = format_html(
            "<strong>{}</strong><table class='probe'>{}</table>",
            idp.name,
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )
        self.message_user(request, table, messages.SUCCESS if report.ok else messages.ERROR)


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(NotFoundUnlessPermitted, ModelAdmin):
    """Operators only: which IdP account signs in as which user (read-only, deletable)."""

    list_display = ["user", "email", "issuer", "subject", "last_login_at"]
    search_fields = ["email", "subject", "user__username"]
    readonly_fields = ["user", "issuer", "subject", "email", "created_at", "last_login_at"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(
        self, request: HttpRequest, obj: ExternalIdentity | None = None
    ) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ExternalIdentity | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ExternalIdentity | None = None
    ) -> bool:
        return request.user.is_active and request.user.is_superuser
