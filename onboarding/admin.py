from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest

from onboarding.models import MappedDomain, MappedUser, OnboardingEvent, Route
from tenants.admin_scoping import TenantScopedAdmin, TenantScopedInline
from tenants.models import OBS_ROLES


class MappedUserInline(TenantScopedInline, admin.TabularInline):
    model = MappedUser
    extra = 1
    fields = ["email"]
    verbose_name = "mapped user"
    verbose_name_plural = "Mapped Users — individual users routed to this UMS"


class MappedDomainInline(TenantScopedInline, admin.TabularInline):
    model = MappedDomain
    extra = 1
    fields = ["domain"]
    verbose_name = "mapped domain"
    verbose_name_plural = "Mapped Domains — all e-mail addresses of these domains"


@admin.register(Route)
class RouteAdmin(TenantScopedAdmin):
    """The "record set for the OBS routing" of the vendor guide, one route per UMS / ICG."""

    roles = OBS_ROLES
    list_display = [
        "display_name",
        "tenant",
        "ums_hostname",
        "ums_port",
        "target",
        "identity_provider",
        "user_count",
        "domain_count",
        "enabled",
    ]
    list_filter = ["enabled", "target", "tenant"]
    search_fields = [
        "display_name",
        "ums_hostname",
        "mapped_users__email",
        "mapped_domains__domain",
    ]
    list_select_related = ["tenant", "identity_provider"]
    autocomplete_fields: list[str] = []
    inlines = [MappedUserInline, MappedDomainInline]
    fieldsets = [
        (None, {"fields": ["tenant", "display_name", "enabled"]}),
        ("UMS / ICG", {"fields": ["ums_hostname", "ums_port", "target"]}),
        ("Sign-in and trust", {"fields": ["identity_provider", "certificate_chain"]}),
    ]
    actions = ["enable_routes", "disable_routes"]

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return (
            super()
            .get_queryset(request)
            .annotate(
                _users=Count("mapped_users", distinct=True),
                _domains=Count("mapped_domains", distinct=True),
            )
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "certificate_chain":
            # A replaced chain stays in history but is never offered again.
            kwargs["queryset"] = db_field.related_model.objects.filter(replaced_at__isnull=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # A route never moves between company accounts.
        return ["tenant"] if obj else []

    @admin.display(description="Users", ordering="_users")
    def user_count(self, obj: Route) -> int:
        return obj._users  # type: ignore[attr-defined]

    @admin.display(description="Domains", ordering="_domains")
    def domain_count(self, obj: Route) -> int:
        return obj._domains  # type: ignore[attr-defined]

    @admin.action(description="Enable the selected routes")
    def enable_routes(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        count = queryset.update(enabled=True)
        self.message_user(request, f"{count} route(s) enabled.")

    @admin.action(description="Disable the selected routes")
    def disable_routes(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        count = queryset.update(enabled=False)
        self.message_user(request, f"{count} route(s) disabled.")


@admin.register(MappedUser)
class MappedUserAdmin(TenantScopedAdmin):
    roles = OBS_ROLES
    list_display = ["email", "route", "tenant"]
    list_filter = ["route__tenant"]
    search_fields = ["email", "route__display_name"]
    list_select_related = ["route__tenant"]

    @admin.display(description="Company account", ordering="route__tenant__name")
    def tenant(self, obj: MappedUser) -> str:
        return str(obj.route.tenant)


@admin.register(MappedDomain)
class MappedDomainAdmin(TenantScopedAdmin):
    roles = OBS_ROLES
    list_display = ["domain", "route", "tenant"]
    list_filter = ["route__tenant"]
    search_fields = ["domain", "route__display_name"]
    list_select_related = ["route__tenant"]

    @admin.display(description="Company account", ordering="route__tenant__name")
    def tenant(self, obj: MappedDomain) -> str:
        return str(obj.route.tenant)


@admin.register(OnboardingEvent)
class OnboardingEventAdmin(TenantScopedAdmin):
    """Read-only log of onboarding attempts for the account's staff."""

    roles = OBS_ROLES
    list_display = [
        "created_at",
        "action",
        "result",
        "reason",
        "email",
        "route",
        "device_hostname",
        "client_address",
    ]
    list_filter = ["result", "action", "reason", "tenant", "created_at"]
    search_fields = ["email", "device_hostname", "device_serial", "reason"]
    list_select_related = ["route"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in OnboardingEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
