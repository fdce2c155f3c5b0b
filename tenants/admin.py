from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_lazy, gettext_noop, ngettext
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from common.i18n import translated
from common.validators import normalize_email
from tenants import invitations, services
from tenants.admin_scoping import (
    NotFoundUnlessPermitted,
    RecordsOnly,
    TenantScopedAdmin,
    can_manage,
)
from tenants.models import (
    ALL_ROLES,
    MEMBER_ROLES,
    OBS_ROLES,
    Activation,
    AuditEntry,
    Membership,
    Role,
    Tenant,
)

#: services.ACTIVATION_ROLE_REQUIRED names the roles as the commands spell them; here, as
#: the admin's role list does.
ACTIVATION_ROLE_REQUIRED = gettext_noop(
    "Only a super admin or an OBS admin of the company account can activate IGEL OS Onboarding."
)
#: Roles that may open the company account's change page (the name is the operator's).
SUPER_ADMIN_ROLES = frozenset({Role.SUPER_ADMIN})

admin.site.site_header = "IGEL OS Onboarding"
admin.site.site_title = "IGEL OS Onboarding"
admin.site.index_title = gettext_lazy("Configure Services › IGEL OS Onboarding")


class ActivatedFilter(admin.SimpleListFilter):
    title = gettext_lazy("onboarding")
    parameter_name = "activated"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [("yes", gettext("Activated")), ("no", gettext("Not activated"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(activation__isnull=False)
        if self.value() == "no":
            return queryset.filter(activation__isnull=True)
        return queryset


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin[Tenant]):
    """Every member sees their company account; only the platform operator may rename it."""

    roles = ALL_ROLES
    change_form_template = "admin/tenants/tenant/change_form.html"
    list_display = ["name", "slug", "onboarding_status", "activated_by", "activated_at"]
    list_filter = [ActivatedFilter]
    search_fields = ["name", "slug"]
    actions = ["activate_onboarding"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        return super().get_queryset(request).select_related("activation")

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        # The name is what the device confirmation page shows end users: only the
        # platform operator sets it, so no company can pose as another (spec 2.1).
        if not request.user.is_superuser:
            return ["slug", "name"]
        return ["slug"] if obj else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_manage(request, SUPER_ADMIN_ROLES, obj)

    @admin.display(description="IGEL OS Onboarding", boolean=True)
    def onboarding_status(self, obj: Tenant) -> bool:
        return hasattr(obj, "activation")

    @admin.display(description=gettext_lazy("Activated by"))
    def activated_by(self, obj: Tenant) -> str:
        return obj.activation.activated_by_email if hasattr(obj, "activation") else "—"

    @admin.display(description=gettext_lazy("Activated at"))
    def activated_at(self, obj: Tenant) -> dt.datetime | None:
        return obj.activation.activated_at if hasattr(obj, "activation") else None

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:pk>/activate/",
                self.admin_site.admin_view(self.activate_view),
                name="tenants_tenant_activate",
            ),
            *super().get_urls(),
        ]

    def activate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The "Activate IGEL OS Onboarding" button of the home page (POST only)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        tenant = self.get_object(request, str(pk))  # another company's: 404
        self.activate_onboarding(request, Tenant.objects.filter(pk=tenant.pk))
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = reverse("admin:index")
        return HttpResponseRedirect(back)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        tenant = self.get_object(request, object_id)
        extra = {
            **(extra_context or {}),
            "activation_pending": not hasattr(tenant, "activation"),
            "may_activate": can_manage(request, OBS_ROLES, tenant),
            "activate_url": reverse("admin:tenants_tenant_activate", args=[tenant.pk]),
        }
        return super().change_view(request, object_id, form_url, extra)

    @admin.action(description=gettext_lazy("Activate IGEL OS Onboarding"))
    def activate_onboarding(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            if not can_manage(request, OBS_ROLES, tenant):
                self.message_user(
                    request, f"{tenant}: {gettext(ACTIVATION_ROLE_REQUIRED)}", level=messages.ERROR
                )
                continue
            try:
                _activation, created = services.onboarding_activate(
                    tenant=tenant,
                    by_email=getattr(request.user, "email", ""),
                    by_user=request.user,
                )
            except ValidationError as exc:
                self.message_user(
                    request, f"{tenant}: {' '.join(exc.messages)}", level=messages.ERROR
                )
                continue
            if created:
                self.message_user(
                    request,
                    gettext("IGEL OS Onboarding is now active for %(company)s.")
                    % {"company": tenant},
                )
            else:
                self.message_user(
                    request,
                    gettext("IGEL OS Onboarding was already active for %(company)s.")
                    % {"company": tenant},
                    level=messages.WARNING,
                )


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["tenant", "email", "role"]

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data["email"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin[Membership]):
    """Account admins invite members by e-mail and give them roles."""

    roles = MEMBER_ROLES
    form = MembershipForm
    list_display = ["email", "tenant", "role", "signed_in"]
    list_filter = ["role", "tenant"]
    search_fields = ["email", "user__username"]
    list_select_related = ["tenant", "user"]
    actions = ["send_invitation"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return ["tenant", "email"] if obj else []

    @admin.display(description=gettext_lazy("Linked account"), boolean=True)
    def signed_in(self, obj: Membership) -> bool:
        return obj.user_id is not None

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and (
            not isinstance(obj, Membership) or services.may_remove_member(request.user, obj)
        )

    def get_deleted_objects(
        self, objs: Sequence[Membership] | QuerySet[Membership], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        # The confirmation page (single and bulk) names the rule and refuses the POST,
        # before Django logs a deletion that delete_model/delete_queryset would refuse.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        error = services.membership_removal_error(objs, by=request.user)
        if error:
            perms_needed = {*perms_needed, error}
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        self._delete(request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        self._delete(request, queryset)

    def _delete(self, request: HttpRequest, memberships: Iterable[Membership]) -> None:
        try:
            services.memberships_delete(memberships=memberships, by=request.user)
        except ValidationError as exc:
            # A race lost after the confirmation page: nothing was deleted.
            raise PermissionDenied(" ".join(exc.messages)) from None

    def save_model(
        self, request: HttpRequest, obj: Membership, form: forms.ModelForm[Membership], change: bool
    ) -> None:
        membership, created = services.membership_save(
            tenant=obj.tenant, email=obj.email, role=obj.role, by=request.user
        )
        obj.pk = membership.pk
        if created and membership.user_id is None:
            self._invite(request, membership)

    @admin.action(description=gettext_lazy("Send a set-password invitation"))
    def send_invitation(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("tenant"):
            if membership.user_id is not None:
                self.message_user(
                    request,
                    f"{membership.email}: {gettext(invitations.ALREADY_LINKED)}",
                    messages.WARNING,
                )
                continue
            self._invite(request, membership)

    def _invite(self, request: HttpRequest, membership: Membership) -> None:
        # The link goes to the person only: see tenants.invitations for why the inviting
        # admin never sees it.
        if not invitations.email_configured():
            self.message_user(
                request,
                gettext(
                    "%(email)s can sign in with the company's identity provider. No e-mail"
                    " is configured for set-password invitations: ask the platform operator for a"
                    " link (manage.py add_member ... --send-invite)."
                )
                % {"email": membership.email},
                messages.WARNING,
            )
            return
        issued = invitations.invitation_send(membership=membership)
        lifetime = issued.invitation.expires_at - issued.invitation.created_at
        hours = int(lifetime.total_seconds() // 3600)
        self.message_user(
            request,
            ngettext(
                "A set-password link was e-mailed to %(email)s; it works once, for %(hours)s hour.",
                "A set-password link was e-mailed to %(email)s; it works once, for %(hours)s hours.",
                hours,
            )
            % {"email": membership.email, "hours": hours},
        )

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Membership]]:
        form = super().get_form(request, obj, change, **kwargs)
        user = request.user
        member = obj if isinstance(obj, Membership) else None

        # A subclass of the class Django built for this request: mypy cannot use a
        # variable as a base class.
        class GuardedForm(form):  # type: ignore[valid-type,misc]
            def clean(self) -> dict[str, Any]:
                data = super().clean()
                tenant = data.get("tenant") or (member.tenant if member else None)
                role = data.get("role")
                if tenant and role:
                    probe = member or Membership(tenant=tenant, role="")
                    if not services.may_change_role(user, probe, role):
                        raise ValidationError(
                            {"role": gettext(services.SUPER_ADMIN_GRANT_REQUIRED)}
                        )
                    if (
                        member
                        and role != Role.SUPER_ADMIN
                        and services.leaves_no_super_admin([member])
                    ):
                        raise ValidationError({"role": gettext(services.LAST_SUPER_ADMIN)})
                return data

        return GuardedForm


@admin.register(Activation)
class ActivationAdmin(RecordsOnly, TenantScopedAdmin[Activation]):
    """The record of who activated onboarding; made by the action, never edited."""

    roles = OBS_ROLES
    list_display = ["tenant", "activated_by_email", "activated_at"]
    search_fields = ["tenant__name", "activated_by_email"]
    readonly_fields = ["tenant", "activated_by_email", "activated_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_superuser


@admin.register(AuditEntry)
class AuditEntryAdmin(RecordsOnly, TenantScopedAdmin):
    """The audit log (``tenants.audit``), read-only: staff see their company's entries,
    the platform operator all, including those of no company (``create_tenant``)."""

    roles = ALL_ROLES
    list_display = ["at", "tenant", "actor", "action", "outcome", "counts_text"]
    list_filter = ["outcome", "action", "tenant"]
    search_fields = ["actor", "action", "tenant_slug", "message"]
    date_hierarchy = "at"
    fields = readonly_fields = (
        "at",
        "tenant",
        "tenant_slug",
        "actor",
        "action",
        "arguments_text",
        "counts_text",
        "outcome",
        "message_text",
    )

    @admin.display(description=gettext_lazy("arguments"))
    def arguments_text(self, obj: AuditEntry) -> str:
        return _pairs(obj.arguments)

    @admin.display(description=gettext_lazy("counts"))
    def counts_text(self, obj: AuditEntry) -> str:
        return _pairs({k: v for k, v in obj.counts.items() if v})

    @admin.display(description=gettext_lazy("message"))
    def message_text(self, obj: AuditEntry) -> str:
        # Stored in English by whoever acted (a command, the import worker); said in the
        # reader's language through the templates the apps registered (common.i18n).
        return translated(obj.message)


def _pairs(values: dict[str, Any]) -> str:
    # By name: PostgreSQL's jsonb does not keep the order the keys were written in.
    return ", ".join(f"{key}={value}" for key, value in sorted(values.items())) or "—"


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class ScopedUserAdmin(NotFoundUnlessPermitted, UserAdmin, ModelAdmin):
    # Unfold's styled versions of the auth forms.
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class ScopedGroupAdmin(NotFoundUnlessPermitted, GroupAdmin, ModelAdmin):
    pass


@admin.register(AccessAttempt)
class LockoutAdmin(NotFoundUnlessPermitted, ModelAdmin):
    """Failed password sign-ins per (username, address), for the operator to unlock.

    django-axes counts them (``AXES_*`` settings); a row at the failure limit is a
    lock-out. Only superusers have the model's permissions, so staff get 404.
    """

    list_display = ["username", "ip_address", "failures_since_start", "attempt_time"]
    search_fields = ["username", "ip_address"]
    readonly_fields = ["username", "ip_address", "failures_since_start", "attempt_time"]
    fields = ["username", "ip_address", "failures_since_start", "attempt_time"]
    actions = ["unlock"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.action(
        description=gettext_lazy("Unlock (forget the failed sign-ins)"), permissions=["delete"]
    )
    def unlock(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        count = 0
        for attempt in queryset:
            count += axes_reset(username=attempt.username, ip=attempt.ip_address)
        self.message_user(
            request,
            gettext("Unlocked %(count)s username and address pair(s).") % {"count": count},
        )
