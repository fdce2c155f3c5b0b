"""Admin for root certificate chains: upload through the service, read every certificate.

The upload form runs the same check as every other entry point
(:func:`certificates.services.chain_check_upload`) and shows its block-numbered
errors on the form; the chain is then stored by :func:`certificates.services.chain_create`.
A stored chain is read-only except for its name: what devices pin must not change
silently (a replacement is a new chain, kept in history).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Exists, Min, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminSelectWidget

from certificates import conf
from certificates.models import Certificate, CertificateChain
from certificates.services import chain_check_upload, chain_create, chain_files_atomic
from certificates.validation import TARGETS, Problem, inspect_chain_bytes
from common.i18n import translated
from tenants.admin_scoping import RecordsOnly, TenantScopedAdmin
from tenants.models import OBS_ROLES

_COPYABLE = "font-family:monospace;width:100%;user-select:all;word-break:break-all"
_WARNING_ROW = "background:#fff4e5"
_ERROR_ROW = "background:#fde8e8"


class ExpiryFilter(admin.SimpleListFilter):
    title = gettext_lazy("expiry")
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        days = conf.expiry_warning_days()
        return [
            ("soon", gettext("expiring within {days} days").format(days=days)),
            ("expired", gettext("expired")),
            ("ok", gettext("valid for more than {days} days").format(days=days)),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        horizon = now + dt.timedelta(days=conf.expiry_warning_days())
        value = self.value()
        if value is None:
            return queryset
        if queryset.model is Certificate:
            if value == "soon":
                return queryset.filter(not_after__gte=now, not_after__lte=horizon)
            if value == "expired":
                return queryset.filter(not_after__lt=now)
            return queryset.filter(not_after__gt=horizon)
        certs = Certificate.objects.filter(chain=OuterRef("pk"))
        if value == "soon":
            return queryset.filter(Exists(certs.filter(not_after__gte=now, not_after__lte=horizon)))
        if value == "expired":
            return queryset.filter(Exists(certs.filter(not_after__lt=now)))
        return queryset.exclude(Exists(certs.filter(not_after__lte=horizon)))


class CurrentFilter(admin.SimpleListFilter):
    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("current", gettext("current")), ("replaced", gettext("replaced (history)"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "current":
            return queryset.filter(replaced_at__isnull=True)
        if self.value() == "replaced":
            return queryset.filter(replaced_at__isnull=False)
        return queryset


class ChainUploadForm(forms.ModelForm):
    """ "Required - Upload" of the vendor guide: the chain file and what it is for."""

    upload = forms.FileField(
        label=gettext_lazy("Certificate chain file"),
        widget=UnfoldAdminFileFieldWidget,
        help_text=gettext_lazy(
            "The file from the UMS Web App (Download Certificate Chain), or for an ICG every "
            "certificate of the ICG's chain except the end certificate (icg_chain.crt). PEM, DER "
            "or PKCS#7 (.p7b); never a private key."
        ),
    )
    target = forms.ChoiceField(
        label=gettext_lazy("Target"),
        choices=[
            ("ums", gettext_lazy("UMS (devices connect directly)")),
            ("icg", "IGEL Cloud Gateway (ICG)"),
        ],
        initial="ums",
        widget=UnfoldAdminSelectWidget,
        help_text=gettext_lazy("An ICG chain must not include the end certificate."),
    )

    class Meta:
        model = CertificateChain
        fields = ["tenant", "name"]

    #: The file as read by ``clean``, stored by ``CertificateChainAdmin.save_form``.
    chain_data: bytes = b""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("upload")
        target = cleaned.get("target") or "ums"
        if upload is None or target not in TARGETS:
            return cleaned
        checked = chain_check_upload(upload, target=target)
        for message in checked.report.error_messages:
            self.add_error("upload", message)
        self.chain_data = checked.data
        return cleaned


class ChainChangeForm(forms.ModelForm):
    class Meta:
        model = CertificateChain
        fields = ["name"]


@admin.register(CertificateChain)
class CertificateChainAdmin(TenantScopedAdmin):
    roles = OBS_ROLES
    list_display = [
        "name",
        "tenant",
        "certificate_count",
        "expires",
        "status",
        "uploaded_at",
        "uploaded_by_name",
    ]
    list_filter = [ExpiryFilter, CurrentFilter, "tenant"]
    list_select_related = ["tenant", "uploaded_by"]
    search_fields = ["name", "original_filename", "certificates__subject", "certificates__sha256"]
    readonly_fields = [
        "tenant",
        "original_filename",
        "sha256",
        "uploaded_by_name",
        "uploaded_at",
        "replaced_at",
        "replaced_by_name",
        "superseded_by",
        "certificates_table",
        "normalised_pem",
    ]
    fieldsets = [
        (None, {"fields": ["tenant", "name"]}),
        (
            gettext_lazy("Certificates (root first)"),
            {"fields": ["certificates_table", "normalised_pem"]},
        ),
        (
            gettext_lazy("Upload and history"),
            {
                "fields": [
                    "original_filename",
                    "sha256",
                    "uploaded_by_name",
                    "uploaded_at",
                    "replaced_at",
                    "replaced_by_name",
                    "superseded_by",
                ]
            },
        ),
    ]
    add_fieldsets = [(None, {"fields": ["tenant", "name", "target", "upload"]})]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CertificateChain]:
        # One query for the list's columns instead of a COUNT per row; the mixin keeps
        # Meta.ordering through the GROUP BY these aggregates make.
        return (
            super()
            .get_queryset(request)
            .annotate(
                _first_expiry=Min("certificates__not_after"),
                _certificate_count=Count("certificates"),
            )
        )

    def get_form(
        self,
        request: HttpRequest,
        obj: CertificateChain | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm]:
        kwargs["form"] = ChainChangeForm if obj else ChainUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: CertificateChain | None = None) -> Any:
        return self.fieldsets if obj else self.add_fieldsets

    def get_readonly_fields(
        self, request: HttpRequest, obj: CertificateChain | None = None
    ) -> list[str]:
        return self.readonly_fields if obj else []

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Storage is not transactional: if anything after the upload fails, the stored
        # file is removed along with the rolled-back rows.
        with chain_files_atomic():
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_form(
        self, request: HttpRequest, form: forms.ModelForm, change: bool
    ) -> CertificateChain:
        if change:
            return form.save(commit=False)
        # The upload goes through the one service every entry point uses.
        assert isinstance(form, ChainUploadForm)
        return chain_create(
            tenant=form.cleaned_data["tenant"],
            name=form.cleaned_data["name"],
            data=form.chain_data,
            filename=form.cleaned_data["upload"].name,
            uploaded_by=request.user,
            target=form.cleaned_data["target"],
        )

    def save_model(
        self, request: HttpRequest, obj: CertificateChain, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            obj.full_clean(exclude=["file"])
            obj.save(update_fields=["name"])

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The upload form has nothing related to save (the service saved the certificates).
        if change:
            super().save_related(request, form, formsets, change)

    def has_delete_permission(
        self, request: HttpRequest, obj: CertificateChain | None = None
    ) -> bool:
        # A chain in use by a route, or one that is history, is kept.
        if obj is not None and _kept_because(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        chain = self.get_object(request, object_id)  # 404 for another company's chain
        reason = _kept_because(chain)
        if reason and super().has_delete_permission(request, chain):
            # Not a bare 403: say why it stays and where to go instead.
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": gettext("“{name}” cannot be deleted").format(name=chain.name),
                "chain": chain,
                "reason": gettext(reason),
                "routes": chain.routes.order_by("display_name"),
            }
            return TemplateResponse(
                request, "admin/certificates/certificatechain/kept.html", context
            )
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # The parsed certificates go with their chain: they have no delete permission of
        # their own (read-only), which Django would report as "no permission".
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed = {p for p in perms_needed if p != Certificate._meta.verbose_name}
        return deleted, counts, perms_needed, protected

    @admin.display(description=gettext_lazy("replaced by"))
    def replaced_by_name(self, obj: CertificateChain) -> str:
        user = obj.replaced_by
        return (user.get_full_name() or user.email or user.get_username()) if user else "—"

    # --- list columns ----------------------------------------------------------

    @admin.display(description=gettext_lazy("uploaded by"), ordering="uploaded_by__username")
    def uploaded_by_name(self, obj: CertificateChain) -> str:
        # Text, not a link: user pages are the platform operator's, 404 for customers.
        user = obj.uploaded_by
        return (user.get_full_name() or user.email or user.get_username()) if user else "—"

    @admin.display(description=gettext_lazy("certificates"))
    def certificate_count(self, obj: CertificateChain) -> int:
        return obj._certificate_count  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("first expiry"), ordering="_first_expiry")
    def expires(self, obj: CertificateChain) -> SafeString | str:
        first = getattr(obj, "_first_expiry", None)
        if first is None:
            return "-"
        return _expiry_html(first)

    @admin.display(description=gettext_lazy("status"))
    def status(self, obj: CertificateChain) -> str:
        return gettext("replaced") if obj.replaced_at else gettext("current")

    # --- detail ------------------------------------------------------------------

    @admin.display(description=gettext_lazy("certificates"))
    def certificates_table(self, obj: CertificateChain) -> SafeString:
        target = "icg" if obj.routes.filter(target="icg").exists() else "ums"
        # Judged again now: expiry warnings depend on today's date, not the upload's.
        report = inspect_chain_bytes(obj.pem.encode(), target=target, max_bytes=10**8)
        by_block: dict[int | None, list[tuple[str, Problem]]] = {}
        for kind, found in (("error", report.errors), ("warning", report.warnings)):
            for problem in found:
                by_block.setdefault(problem.block, []).append((kind, problem))
        rows = (
            _certificate_row(position, cert, by_block.get(position + 1, []))
            for position, cert in enumerate(obj.certificates.all())
        )
        return format_html(
            '<div class="obs-scroll"><table style="width:100%;min-width:44rem"><thead><tr><th>#</th>'
            "<th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>CA</th><th>{}</th>"
            "</tr></thead><tbody>{}</tbody></table></div>",
            gettext("Subject"),
            gettext("Kind"),
            gettext("Key"),
            gettext("Valid from / until"),
            gettext("SHA-256 fingerprint (as the UMS shows it)"),
            format_html_join("", "{}", ((row,) for row in rows)),
        )

    @admin.display(description=gettext_lazy("chain as devices receive it (PEM, root first)"))
    def normalised_pem(self, obj: CertificateChain) -> SafeString:
        return format_html(
            '<textarea readonly rows="8" style="{}">{}</textarea>', _COPYABLE, obj.pem
        )


KEPT_IN_USE = gettext_noop(
    "Routes still use it: choose another chain on those routes first, then delete it."
)
KEPT_AS_HISTORY = gettext_noop(
    "It was replaced and is kept as the history of what devices were given."
)


def _kept_because(chain: CertificateChain) -> str:
    if chain.replaced_at is not None:
        return KEPT_AS_HISTORY
    if chain.routes.exists():
        return KEPT_IN_USE
    return ""


#: How a problem's kind is said beside it in the chain's table.
_KINDS = {"error": gettext_noop("error"), "warning": gettext_noop("warning")}


def _certificate_row(position: int, cert: Certificate, problems: list[tuple[str, Problem]]) -> str:
    """One row of a chain's table, with the problems found in the certificate."""
    style = (
        _ERROR_ROW if any(k == "error" for k, _ in problems) else (_WARNING_ROW if problems else "")
    )
    notes = format_html_join(
        "",
        "<li><strong>{}</strong> <code>{}</code>: {}</li>",
        ((gettext(_KINDS[kind]), p.code, translated(p.message)) for kind, p in problems),
    )
    if cert.self_signed:
        kind = gettext("root")
    else:
        kind = "CA" if cert.is_ca else gettext("end certificate")
    return format_html(
        '<tr style="{}"><td>{}</td><td>{}<br><small>{}</small></td><td>{}</td>'
        "<td>{}</td><td>{}<br>{}</td><td>{}</td>"
        '<td><input type="text" readonly value="{}" style="{}" aria-label="{}">'
        "<br><small>{}</small>{}</td></tr>",
        style,
        position,
        cert.subject,
        gettext("issued by {issuer}").format(issuer=cert.issuer),
        kind,
        cert.key_description,
        formats.date_format(cert.not_before, gettext("Y-m-d")),
        _expiry_html(cert.not_after),
        gettext("yes") if cert.is_ca else gettext("no"),
        cert.sha256,
        _COPYABLE,
        gettext("SHA-256 fingerprint"),
        gettext("serial {serial}").format(serial=cert.serial),
        format_html('<ul style="margin:0.3em 0 0 1em">{}</ul>', notes) if problems else "",
    )


def _expiry_html(when: dt.datetime) -> SafeString:
    now = timezone.now()
    text = formats.date_format(when, gettext("Y-m-d"))
    if when < now:
        expired = gettext("{date} (expired)").format(date=text)
        return format_html('<strong style="color:#ba2121">{}</strong>', expired)
    if when <= now + dt.timedelta(days=conf.expiry_warning_days()):
        soon = gettext("{date} (in {days} days)").format(date=text, days=(when - now).days)
        return format_html('<strong style="color:#b35c00">{}</strong>', soon)
    return format_html("{}", text)


@admin.register(Certificate)
class CertificateAdmin(RecordsOnly, TenantScopedAdmin):
    """Read-only: certificates are what was parsed from an upload and never change."""

    roles = OBS_ROLES
    list_display = ["subject", "chain", "tenant", "key_description", "is_ca", "not_after_display"]
    list_filter = [ExpiryFilter, "is_ca", "self_signed"]
    list_select_related = ["chain", "chain__tenant"]
    search_fields = ["subject", "issuer", "sha256", "serial", "chain__name"]
    readonly_fields = [
        "chain",
        "position",
        "subject",
        "issuer",
        "serial",
        "not_before",
        "not_after",
        "sha256_copyable",
        "key_description",
        "is_ca",
        "self_signed",
        "pem_block",
    ]
    fields = tuple(readonly_fields)

    @admin.display(description=gettext_lazy("Certificate (PEM)"))
    def pem_block(self, obj: Certificate) -> SafeString:
        return format_html(
            '<pre style="font-family:monospace;white-space:pre-wrap;word-break:break-all">{}</pre>',
            obj.pem,
        )

    @admin.display(description=gettext_lazy("company account"), ordering="chain__tenant__name")
    def tenant(self, obj: Certificate) -> str:
        return str(obj.chain.tenant)

    @admin.display(description=gettext_lazy("not after"), ordering="not_after")
    def not_after_display(self, obj: Certificate) -> SafeString:
        return _expiry_html(obj.not_after)

    @admin.display(description=gettext_lazy("SHA-256 fingerprint"))
    def sha256_copyable(self, obj: Certificate) -> SafeString:
        return format_html(
            '<input type="text" readonly value="{}" style="{}">', obj.sha256, _COPYABLE
        )
