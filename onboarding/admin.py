from __future__ import annotations

import re
import secrets
from typing import IO, Any

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.db.models import Count, ForeignKey, Model, QuerySet
from django.forms import ModelChoiceField
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy, gettext_noop, ngettext
from unfold.admin import TabularInline
from unfold.widgets import UnfoldAdminFileFieldWidget

from certificates.models import CertificateChain
from certificates.probe import ProbeReport, probe_chain
from certificates.services import chain_check_upload
from common.i18n import translated
from common.validators import email_domain
from domains.admin import readable_domain
from domains.selectors import standing as domain_standing
from onboarding import services
from onboarding.admin_bulk import RouteBulkAdminMixin
from onboarding.admin_preview import RoutePreviewAdminMixin
from onboarding.models import MappedDomain, MappedUser, OnboardingEvent, Route
from onboarding.reasons import reason_text
from tenants.admin_scoping import RecordsOnly, TenantScopedAdmin, TenantScopedInline
from tenants.models import OBS_ROLES

MAPPING_LISTED_TWICE = gettext_noop("{value} is listed twice on this page.")
MAPPING_STILL_HELD = gettext_noop(
    "{value} is still on another row of this page until you save: change or remove that "
    "row first, save, then add it here."
)


class MappingFormSet(BaseInlineFormSet):
    """The route page's mapped users or domains, checked by the same rules as every entry point.

    Django checks each row alone (and cannot see the per-account uniqueness, whose
    ``tenant`` is not a form field), so the page would otherwise answer a duplicate
    with a database error: here each problem becomes an error on its row.
    """

    kind: services.MappingKind

    def clean(self) -> None:
        super().clean()
        tenant_id = self.instance.tenant_id
        if not tenant_id:
            return  # the route form itself has errors; nothing to compare with yet
        field = self.kind.field
        # What each saved row on the page holds now: rows are saved one by one, so a new
        # value still held by another row (a swap) would collide in the database.
        held_now = {
            f.instance.pk: getattr(f.instance, field, "")
            if not f.has_changed()
            else f.initial.get(field, "")
            for f in self.forms
            if f.instance.pk
        }
        rows: dict[str, forms.ModelForm] = {}
        for form in self.forms:
            deleted = self.can_delete and form.cleaned_data.get("DELETE", False)
            if not form.has_changed() or deleted or form.errors:
                continue
            value = getattr(form.instance, field, "")
            if not value:
                continue
            if value in rows:
                form.add_error(field, gettext(MAPPING_LISTED_TWICE).format(value=value))
            elif any(v == value and pk != form.instance.pk for pk, v in held_now.items()):
                form.add_error(field, gettext(MAPPING_STILL_HELD).format(value=value))
            else:
                rows[value] = form
        if not rows:
            return
        tenant = self.instance.tenant
        kept = [f.instance.pk for f in self.forms if f.instance.pk]
        problems = services.mapping_taken_here(
            tenant=tenant, kind=self.kind, values=rows, excluding=kept
        )
        problems.update(services.mapping_conflicts(tenant=tenant, kind=self.kind, values=rows))
        for value, message in problems.items():
            rows[value].add_error(field, translated(message))

    def save(self, commit: bool = True) -> list[Model]:
        saved = super().save(commit)
        if commit:
            services.mappings_claim(
                tenant=self.instance.tenant,
                kind=self.kind,
                values=[getattr(obj, self.kind.field) for obj in saved],
            )
        return saved


class MappedUserFormSet(MappingFormSet):
    kind = services.USER_MAPPING


class MappedDomainFormSet(MappingFormSet):
    kind = services.DOMAIN_MAPPING


def _standing_html(tenant_id: int, domain: str) -> str:
    standing = domain_standing(tenant_id, domain)
    colour = "#2e7d32" if standing.routes else "#b00020"
    if standing.claim is None:
        return format_html("<span style='color:{}'>{}</span>", colour, standing.message)
    link = reverse("admin:domains_companydomain_change", args=[standing.claim.pk])
    return format_html(
        "<span style='color:{}'>{}</span> <a href='{}'>{}</a>",
        colour,
        standing.message,
        link,
        gettext("Show the record"),
    )


def _routing_html(obj: MappedUser | MappedDomain) -> str:
    """Whether the domain of a mapped user or domain lets it route, with the claim's link."""
    domain = email_domain(obj.email) if isinstance(obj, MappedUser) else obj.domain
    return _standing_html(obj.tenant_id, domain)


class _RoutingStatusInline(TenantScopedInline, TabularInline):
    readonly_fields = ["routing"]

    @admin.display(description=gettext_lazy("Can it route?"))
    def routing(self, obj: MappedUser | MappedDomain) -> str:
        if not obj.pk:
            return "—"
        return _routing_html(obj)


class MappedUserInline(_RoutingStatusInline):
    model = MappedUser
    formset = MappedUserFormSet
    extra = 1
    fields = ["email", "routing"]
    verbose_name = gettext_lazy("mapped user")
    verbose_name_plural = gettext_lazy("Mapped Users — individual users routed to this UMS")


class MappedDomainInline(_RoutingStatusInline):
    model = MappedDomain
    formset = MappedDomainFormSet
    extra = 1
    fields = ["domain", "routing"]
    verbose_name = gettext_lazy("mapped domain")
    verbose_name_plural = gettext_lazy("Mapped Domains — all e-mail addresses of these domains")


#: How long an accepted chain upload waits on a form that failed elsewhere.
KEPT_UPLOAD_SECONDS = 3600
KEPT_UPLOAD_FIELD = "kept_chain_upload"


class KeptFileWidget(UnfoldAdminFileFieldWidget):
    """The file box, plus a note and a token for a file accepted before the form failed.

    Browsers never send a file twice: after any other error on the page, the accepted
    chain waits in the shared cache under a random token (a chain is public data, but
    the token is unguessable all the same) and is stored when the form is saved.
    """

    kept: tuple[str, str] | None = None

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> str:
        html = super().render(name, value, attrs, renderer)
        if self.kept is None:
            return html
        token, filename = self.kept
        return format_html(
            '{}<input type="hidden" name="{}" value="{}"><p class="kept-upload">{}</p>',
            html,
            KEPT_UPLOAD_FIELD,
            token,
            gettext(
                "{file} is kept and will be stored when you save; choose another file to "
                "replace it."
            ).format(file=filename),
        )


def _kept_upload_key(token: str) -> str:
    return f"route-form-chain:{token}"


CHAIN_REQUIRED = gettext_noop(
    "Upload the root certificate chain of the UMS / ICG (Required - Upload), "
    "or choose a chain already uploaded."
)


class RouteForm(forms.ModelForm):
    """The route form of the vendor guide, with the chain upload ("Required - Upload").

    The upload is validated here with the same service as every other entry point, so
    its block-numbered errors show on the form; it is stored only when the whole form is
    valid (``RouteAdmin.save_model``), so a form that fails elsewhere stores nothing.
    """

    certificate_file = forms.FileField(
        label=gettext_lazy("Upload root certificate chain"),
        required=False,
        widget=KeptFileWidget,
        help_text=gettext_lazy(
            "Required - Upload: the file from Download Certificate Chain in the UMS Web App, or for an ICG "
            "icg_chain.crt with every certificate of the ICG's chain except the end certificate "
            "(PEM, DER or .p7b; the order does not matter). Uploading again replaces the chain; the old "
            "one stays in the history."
        ),
    )

    class Meta:
        model = Route
        fields = [
            "tenant",
            "display_name",
            "enabled",
            "ums_hostname",
            "ums_port",
            "target",
            "identity_provider",
            "certificate_chain",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "certificate_chain" in self.fields:
            # Either an existing chain or an upload; clean() requires one of them.
            self.fields["certificate_chain"].required = False
        self.chain_upload: tuple[bytes, str] | None = None
        self.chain_warnings: list[str] = []

    def _upload(self, upload: Any) -> tuple[IO[bytes] | bytes, str] | None:
        if upload:
            return upload, upload.name
        token = str(self.data.get(KEPT_UPLOAD_FIELD, ""))
        return cache.get(_kept_upload_key(token)) if token else None

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        target = data.get("target") or self.instance.target
        upload = self._upload(data.get("certificate_file"))
        if upload:
            source, filename = upload
            # Checked again for a kept file too: the target may have changed.
            checked = chain_check_upload(source, target=target)
            if not checked.accepted:
                self.add_error("certificate_file", checked.report.error_messages)
                return data
            self.chain_upload = (checked.data, filename)
            self.chain_warnings = checked.report.warning_messages
            token = secrets.token_urlsafe(24)
            cache.set(_kept_upload_key(token), self.chain_upload, KEPT_UPLOAD_SECONDS)
            widget = self.fields["certificate_file"].widget
            assert isinstance(widget, KeptFileWidget)
            widget.kept = (token, filename)
        elif not data.get("certificate_chain") and not self.instance.certificate_chain_id:
            self.add_error("certificate_chain", gettext(CHAIN_REQUIRED))
        return data


_REPR = re.compile(r"<Certificate\(subject=<Name\((?P<name>[^)]*)\)>[^>]*>\)?>?")


def _plain(text: str) -> str:
    """A probe message in the reader's language, without Python reprs of certificates
    (their subject instead)."""
    certificate = gettext("the certificate {name}")
    return _REPR.sub(lambda m: certificate.format(name=m.group("name")), translated(text))


def _yes_no(ok: bool, why: str) -> str:
    return gettext("Yes") if ok else gettext("No: {why}").format(why=_plain(why))


def _valid_until(report: ProbeReport) -> str:
    if not report.leaf_not_after:
        return gettext("unknown")
    date = formats.date_format(report.leaf_not_after, gettext("Y-m-d"))
    if report.leaf_expired:
        return gettext("{date} (expired)").format(date=date)
    return date


def probe_message(route: Route, report: ProbeReport) -> str:
    """The result of "Test connection" as a small table, in words."""
    target = f"{report.host}:{report.port}"
    if not report.reachable:
        rows = [(gettext("Reachable"), gettext("No: {why}").format(why=_plain(report.error)))]
    else:
        rows = [
            (
                gettext("Reachable"),
                gettext("Yes, {address} over {tls}").format(
                    address=report.address, tls=report.tls_version
                ),
            ),
            (gettext("Certificate presented"), report.leaf_subject),
            (gettext("Names in it"), ", ".join(report.leaf_san) or gettext("none")),
            (gettext("Valid until"), _valid_until(report)),
            (
                gettext("Trusted by the uploaded chain"),
                _yes_no(report.chains_to_uploaded_roots, report.verification_error),
            ),
            (
                gettext("Host name matches"),
                _yes_no(
                    report.hostname_matches,
                    gettext("{host} is not among its names").format(host=report.host),
                ),
            ),
        ]
    verdict = (
        gettext("devices will trust it") if report.ok else gettext("devices would not connect")
    )
    return format_html(
        "{}: {} ({})<table class='probe'>{}</table>",
        route.display_name,
        verdict,
        target,
        format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
    )


@admin.register(Route)
class RouteAdmin(RoutePreviewAdminMixin, RouteBulkAdminMixin, TenantScopedAdmin[Route]):
    """The "record set for the OBS routing" of the vendor guide, one route per UMS / ICG."""

    roles = OBS_ROLES
    form = RouteForm
    # Adds the "Import routes" button (onboarding.admin_bulk).
    change_list_template = "admin/onboarding/route/change_list.html"
    list_display = [
        "display_name",
        "tenant",
        "ums_address",
        "target_short",
        "idp_name",
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
    inlines = [MappedUserInline, MappedDomainInline]
    fieldsets = [
        (None, {"fields": ["tenant", "display_name", "enabled"]}),
        ("UMS / ICG", {"fields": ["ums_hostname", "ums_port", "target"]}),
        (
            gettext_lazy("Sign-in and trust"),
            {
                "fields": [
                    "identity_provider",
                    "certificate_chain",
                    "certificate_file",
                    "chain_summary",
                ]
            },
        ),
    ]
    readonly_fields = ["chain_summary"]
    actions = [
        "enable_routes",
        "disable_routes",
        "test_connection",
        "export_routes_json",
        "export_routes_csv",
    ]

    def save_model(self, request: HttpRequest, obj: Route, form: RouteForm, change: bool) -> None:
        """Save through the route services, the same writes as the import and the API."""
        if change:
            self._update(request, obj, form)
        else:
            self._create(request, obj, form)
        for warning in form.chain_warnings:
            self.message_user(
                request,
                gettext("Certificate chain: {warning}").format(warning=warning),
                level=messages.WARNING,
            )

    def _create(self, request: HttpRequest, obj: Route, form: RouteForm) -> None:
        data = form.cleaned_data
        chain = data["certificate_chain"]
        if form.chain_upload:
            content, filename = form.chain_upload
            chain = services.chain_for_route(
                tenant=data["tenant"],
                data=content,
                filename=filename,
                name=data["display_name"],
                target=data["target"],
                uploaded_by=request.user,
            )
        route = services.route_create(
            tenant=data["tenant"],
            display_name=data["display_name"],
            ums_hostname=data["ums_hostname"],
            ums_port=data["ums_port"],
            target=data["target"],
            identity_provider=data["identity_provider"],
            certificate_chain=chain,
            enabled=data["enabled"],
        )
        # The admin goes on with its own instance (the inlines, the log entry, the
        # redirect), so it becomes the row just created.
        obj.pk = route.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def _update(self, request: HttpRequest, obj: Route, form: RouteForm) -> None:
        # ``obj`` holds the form's values already; the service compares with the stored row.
        changed = {
            field: form.cleaned_data[field]
            for field in form.changed_data
            if field in services.ROUTE_UPDATE_FIELDS
        }
        services.route_update(route=Route.objects.get(pk=obj.pk), data=changed)
        if form.chain_upload:
            content, filename = form.chain_upload
            _chain, replaced = services.route_set_chain(
                route=obj, data=content, filename=filename, by=request.user
            )
            if not replaced:
                self.message_user(
                    request,
                    gettext("The uploaded chain has the same certificates; nothing was replaced."),
                )
        obj.refresh_from_db()

    @admin.display(description=gettext_lazy("Certificates devices will pin"))
    def chain_summary(self, obj: Route) -> str:
        if not obj.pk or not obj.certificate_chain_id:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td style='overflow-wrap:anywhere'>{}</td><td>{}</td>"
            "<td><code style='user-select:all;word-break:break-all'>{}</code></td></tr>",
            (
                (
                    c.position + 1,
                    c.subject,
                    formats.date_format(c.not_after, gettext("Y-m-d")),
                    c.sha256,
                )
                for c in obj.certificate_chain.certificates.order_by("position")
            ),
        )
        return format_html(
            "<div class='obs-scroll'><table style='width:100%;min-width:30rem;table-layout:fixed'><colgroup><col style='width:2em'><col>"
            "<col style='width:7em'><col style='width:45%'></colgroup>"
            "<thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table></div>",
            gettext("Subject"),
            gettext("Expires"),
            gettext("SHA-256 fingerprint"),
            rows,
        )

    @admin.action(description=gettext_lazy("Test connection to the UMS / ICG"))
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Route]) -> None:
        for route in queryset.select_related("certificate_chain"):
            report = probe_chain(route.certificate_chain, route.ums_hostname, route.ums_port)
            level = messages.SUCCESS if report.ok else messages.ERROR
            self.message_user(request, probe_message(route, report), level)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Route]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                _users=Count("mapped_users", distinct=True),
                _domains=Count("mapped_domains", distinct=True),
            )
        )

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        if db_field.name == "certificate_chain":
            # A replaced chain stays in history but is never offered again.
            kwargs["queryset"] = CertificateChain.objects.filter(replaced_at__isnull=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        # A route never moves between company accounts.
        return [*self.readonly_fields, "tenant"] if obj else list(self.readonly_fields)

    @admin.display(description=gettext_lazy("UMS / ICG address"), ordering="ums_hostname")
    def ums_address(self, obj: Route) -> str:
        return f"{obj.ums_hostname}:{obj.ums_port}"

    @admin.display(description=gettext_lazy("Target"), ordering="target")
    def target_short(self, obj: Route) -> str:
        return "ICG" if obj.target == "icg" else "UMS"

    @admin.display(
        description=gettext_lazy("Identity provider"), ordering="identity_provider__name"
    )
    def idp_name(self, obj: Route) -> str:
        return obj.identity_provider.name if obj.identity_provider_id else "—"

    @admin.display(description=gettext_lazy("Users"), ordering="_users")
    def user_count(self, obj: Route) -> int:
        return obj._users  # type: ignore[attr-defined]  # annotated by get_queryset

    @admin.display(description=gettext_lazy("Domains"), ordering="_domains")
    def domain_count(self, obj: Route) -> int:
        return obj._domains  # type: ignore[attr-defined]  # annotated by get_queryset

    @admin.action(description=gettext_lazy("Enable the selected routes"))
    def enable_routes(self, request: HttpRequest, queryset: QuerySet[Route]) -> None:
        count = services.routes_set_enabled(routes=queryset, enabled=True)
        # One English sentence for every count; the translation has its plural forms.
        said = ngettext("%(count)s route(s) enabled.", "%(count)s route(s) enabled.", count)
        self.message_user(request, said % {"count": count})

    @admin.action(description=gettext_lazy("Disable the selected routes"))
    def disable_routes(self, request: HttpRequest, queryset: QuerySet[Route]) -> None:
        count = services.routes_set_enabled(routes=queryset, enabled=False)
        # One English sentence for every count; the translation has its plural forms.
        said = ngettext("%(count)s route(s) disabled.", "%(count)s route(s) disabled.", count)
        self.message_user(request, said % {"count": count})


class _MappingAdmin(RecordsOnly, TenantScopedAdmin):
    """Mapped users and domains listed on their own, to search across all routes.

    Read and delete only: rows are added and changed on their route's page (or by the
    import), where the rules of spec 2.1 are checked for the whole page at once.
    """

    roles = OBS_ROLES
    records_deletable = True
    list_filter = ["route__tenant"]
    list_select_related = ["route__tenant"]

    @admin.display(description=gettext_lazy("Company account"), ordering="route__tenant__name")
    def tenant(self, obj: MappedUser | MappedDomain) -> str:
        return str(obj.route.tenant)


@admin.register(MappedUser)
class MappedUserAdmin(_MappingAdmin):
    list_display = ["email", "route", "tenant", "routing"]

    @admin.display(description=gettext_lazy("Can it route?"))
    def routing(self, obj: MappedUser) -> str:
        return _routing_html(obj)

    search_fields = ["email", "route__display_name"]


@admin.register(MappedDomain)
class MappedDomainAdmin(_MappingAdmin):
    list_display = ["domain_name", "route", "tenant", "routing"]

    @admin.display(description=gettext_lazy("Domain"), ordering="domain")
    def domain_name(self, obj: MappedDomain) -> str:
        return readable_domain(obj.domain)

    @admin.display(description=gettext_lazy("Can it route?"))
    def routing(self, obj: MappedDomain) -> str:
        return _routing_html(obj)

    search_fields = ["domain", "route__display_name"]


class ReasonFilter(admin.SimpleListFilter):
    title = gettext_lazy("reason")
    parameter_name = "reason"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        codes = (
            model_admin.get_queryset(request).exclude(reason="").values_list("reason", flat=True)
        )
        return sorted(((c, reason_text(c)) for c in set(codes)), key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(reason=self.value()) if self.value() else queryset


@admin.register(OnboardingEvent)
class OnboardingEventAdmin(RecordsOnly, TenantScopedAdmin[OnboardingEvent]):
    """Read-only log of onboarding attempts for the account's staff."""

    roles = OBS_ROLES
    list_display = [
        "created_at",
        "action",
        "result",
        "reason_in_words",
        "email",
        "route",
        "device_hostname",
    ]
    list_filter = ["result", "action", ReasonFilter, "tenant", "created_at"]
    search_fields = ["email", "device_hostname", "device_serial", "reason"]
    list_select_related = ["route"]
    date_hierarchy = "created_at"

    fieldsets = [
        (None, {"fields": ["created_at", "action", "result", "reason_in_words", "detail"]}),
        (
            gettext_lazy("Who and where"),
            {"fields": ["tenant", "route", "email", "client_address"]},
        ),
        (
            gettext_lazy("The device"),
            {"fields": ["device_hostname", "device_serial", "device_model", "os_version"]},
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return [f.name for f in OnboardingEvent._meta.fields] + ["reason_in_words", "os_version"]

    @admin.display(description=gettext_lazy("Reason"), ordering="reason")
    def reason_in_words(self, obj: OnboardingEvent) -> str:
        return reason_text(obj.reason) or "—"

    @admin.display(description=gettext_lazy("IGEL OS version"))
    def os_version(self, obj: OnboardingEvent) -> str:
        return obj.device_os_version or "—"
