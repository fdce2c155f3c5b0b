"""Company domains in the admin: claim, see the record to publish, verify now."""

from __future__ import annotations

from typing import Any

import idna
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from domains import conf, services
from domains.models import CompanyDomain, DomainStatus
from tenants.admin_scoping import TenantScopedAdmin
from tenants.models import OBS_ROLES

_COPY = (
    "<code style='user-select:all;word-break:break-all'>{}</code> "
    "<button type='button' data-copy='{}' title='{}' "
    "style='border:1px solid #cbd5e1;border-radius:4px;padding:0 6px;margin-left:4px;"
    "font-size:12px;cursor:pointer' "
    "onclick='navigator.clipboard&&navigator.clipboard.writeText(this.dataset.copy)'>{}</button>"
)
VERIFICATION_OFF = gettext_noop(
    "Domain verification is off on this installation (DOMAIN_VERIFICATION=off): every domain "
    "your company maps routes without a DNS record."
)


def readable_domain(domain: str) -> str:
    """An internationalised domain as people write it, with the DNS spelling beside it."""
    if "xn--" not in domain:
        return domain
    try:
        return f"{idna.decode(domain)} ({domain})"
    except idna.IDNAError:
        return domain


def _copyable(value: str) -> str:
    """``value`` with a button that copies it (the record to publish at the DNS provider)."""
    return format_html(_COPY, value, value, gettext("Copy to the clipboard"), gettext("Copy"))


def _check_message(claim: CompanyDomain) -> tuple[str, int]:
    level = messages.SUCCESS if claim.status == DomainStatus.VERIFIED else messages.WARNING
    return f"{claim.domain}: {claim.get_status_display()}. {claim.detail}", level


@admin.register(CompanyDomain)
class CompanyDomainAdmin(TenantScopedAdmin[CompanyDomain]):
    """Each domain the company routes addresses under, and its DNS proof (spec 2.1)."""

    roles = OBS_ROLES
    change_form_template = "admin/domains/companydomain/change_form.html"
    list_display = ["domain_name", "tenant", "status_badge", "record_to_publish", "checked_at"]
    list_filter = ["status", "tenant"]
    search_fields = ["domain"]
    list_select_related = ["tenant"]
    actions = ["verify_now", "vouch_as_operator"]
    fields = ["tenant", "domain"]
    readonly_fields = [
        "status_badge",
        "record_name_copy",
        "record_value_copy",
        "checked_at",
        "detail",
        "method",
        "verified_at",
        "evidence",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["tenant", "domain"] if obj is None else ["tenant", "domain", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A claim's domain and token never change: a new domain is a new claim.
        return [] if obj is None else ["tenant", "domain", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: CompanyDomain, form: Any, change: bool) -> None:
        if change:
            return
        claim, _created = services.domain_claim(tenant=obj.tenant, domain=obj.domain)
        obj.pk, obj.token = claim.pk, claim.token

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not conf.verification_enabled():
            self.message_user(request, gettext(VERIFICATION_OFF), messages.INFO)
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if request.method == "POST" and "_verify_now" in request.POST:
            claim = self.get_object(request, object_id)
            if not self.has_change_permission(request, claim):
                return super().change_view(request, object_id, form_url, extra_context)
            result = services.domain_check(claim=claim)
            self.message_user(request, *_check_message(result.claim))
            return HttpResponseRedirect(request.path)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=gettext_lazy("Verify now (look the TXT records up in DNS)"))
    def verify_now(self, request: HttpRequest, queryset: Any) -> None:
        for claim in queryset.select_related("tenant"):
            result = services.domain_check(claim=claim)
            self.message_user(request, *_check_message(result.claim))

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            # Only the platform operator may vouch for a domain without DNS proof.
            actions.pop("vouch_as_operator", None)
        return actions

    @admin.action(description=gettext_lazy("Mark verified on the platform operator's word"))
    def vouch_as_operator(self, request: HttpRequest, queryset: Any) -> None:
        if not request.user.is_superuser:
            raise PermissionDenied
        for claim in queryset.select_related("tenant"):
            try:
                claim = services.domain_verify_by_operator(
                    claim=claim, by=request.user.get_username()
                )
            except ValidationError as exc:
                self.message_user(
                    request, f"{claim.domain}: {' '.join(exc.messages)}", messages.ERROR
                )
                continue
            self.message_user(request, *_check_message(claim))

    @admin.display(description=gettext_lazy("Domain"), ordering="domain")
    def domain_name(self, obj: CompanyDomain) -> str:
        return readable_domain(obj.domain)

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_badge(self, obj: CompanyDomain) -> str:
        colour = {"verified": "#2e7d32", "pending": "#8a6d00", "suspended": "#b00020"}[obj.status]
        return format_html("<strong style='color:{}'>{}</strong>", colour, obj.get_status_display())

    @admin.display(description=gettext_lazy("TXT record to publish"))
    def record_to_publish(self, obj: CompanyDomain) -> str:
        return format_html(
            "<div>{}</div><div>{}</div>", _copyable(obj.record_name), _copyable(obj.record_value)
        )

    @admin.display(description=gettext_lazy("Record name"))
    def record_name_copy(self, obj: CompanyDomain) -> str:
        return _copyable(obj.record_name)

    @admin.display(description=gettext_lazy("Record value (type TXT)"))
    def record_value_copy(self, obj: CompanyDomain) -> str:
        return _copyable(obj.record_value)
