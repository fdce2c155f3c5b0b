"""The route list's "Import routes" page and "Export" actions.

Both call the same services as the ``import_routes`` / ``export_routes`` commands.
Import is two steps, after django-x509's habit of confirming before a bulk change:
the upload is checked as a dry run and its report shown; only "Apply" writes. Between
the steps the upload waits in the cache (shared by all server processes, expiring on
its own), bound to the user who uploaded it, and is re-checked when applied, so the
page never applies something other than what the database then allows.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from onboarding.bulk import ImportReport, ImportSource, detect_format, export_routes, import_routes
from onboarding.models import Route
from tenants.models import OBS_ROLES, Tenant
from tenants.selectors import tenants_for

#: How long an uploaded file waits for "Apply".
PENDING_SECONDS = 3600
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
UPLOAD_TOO_LARGE = "The file is larger than {limit} MB; import it with the import_routes command."
UPLOAD_EXPIRED = "This upload has expired or was already applied; upload the file again."
EXPORT_ONE_COMPANY = "Select routes of one company account to export."


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class RouteImportForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none(), label="Company account")
    file = forms.FileField(
        label="Routes file",
        help_text="JSON or CSV, as “Export the selected routes” on the route list writes it.",
    )
    chain_files = MultipleFileField(
        required=False,
        label="Certificate chain files",
        help_text="The PEM files the routes file names in certificate_chain (matched by file name). "
        "Not needed when the chains are inline.",
    )
    prune = forms.BooleanField(
        required=False,
        label="Remove mappings the file does not list",
        help_text="Off: mapped users and domains missing from the file are kept.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = tenants_for(user, roles=OBS_ROLES)
        field = self.fields["tenant"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = allowed
        if allowed.count() == 1:
            field.initial = allowed.first()

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        try:
            detect_format(upload.name)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        limit = _max_upload_bytes()
        if upload.size > limit:
            raise forms.ValidationError(UPLOAD_TOO_LARGE.format(limit=limit // (1024 * 1024)))
        return upload


def _max_upload_bytes() -> int:
    return int(getattr(settings, "ROUTE_IMPORT_MAX_BYTES", DEFAULT_MAX_UPLOAD_BYTES))


def _cache_key(token: str) -> str:
    return f"route-import:{token}"


def _source(pending: dict[str, Any]) -> ImportSource:
    return ImportSource.from_bytes(pending["name"], pending["data"], pending["chains"])


class RouteBulkAdminMixin:
    """Mix into RouteAdmin: the import page, its button on the list, and export actions."""

    def get_urls(self):  # type: ignore[no-untyped-def]
        admin_site = self.admin_site  # type: ignore[attr-defined]
        return [
            path(
                "import/",
                admin_site.admin_view(self.import_view),
                name="onboarding_route_import",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        model_admin: admin.ModelAdmin = self  # type: ignore[assignment]
        if not (
            model_admin.has_add_permission(request) and model_admin.has_change_permission(request)
        ):
            raise PermissionDenied
        report: ImportReport | None = None
        token = ""
        if request.method == "POST" and "token" in request.POST:
            return self._apply(request)
        if request.method == "POST":
            form = RouteImportForm(request.POST, request.FILES, user=request.user)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                pending = {
                    "user": request.user.pk,
                    "tenant": form.cleaned_data["tenant"].pk,
                    "prune": form.cleaned_data["prune"],
                    "name": upload.name,
                    "data": upload.read(),
                    "chains": {f.name: f.read() for f in form.cleaned_data["chain_files"]},
                }
                report = import_routes(
                    tenant=form.cleaned_data["tenant"],
                    source=_source(pending),
                    dry_run=True,
                    prune=pending["prune"],
                )
                if report.ok and report.has_changes:
                    token = secrets.token_urlsafe(24)
                    cache.set(_cache_key(token), pending, PENDING_SECONDS)
        else:
            form = RouteImportForm(user=request.user)
        return self._render(request, form, report, token)

    def _apply(self, request: HttpRequest) -> HttpResponse:
        token = str(request.POST.get("token", ""))
        pending = cache.get(_cache_key(token)) if token else None
        if not pending or pending["user"] != request.user.pk:
            self.message_user(request, UPLOAD_EXPIRED, messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(reverse("admin:onboarding_route_import"))
        # Roles may have changed since the upload: ask the scoping rule again.
        tenant = tenants_for(request.user, roles=OBS_ROLES).filter(pk=pending["tenant"]).first()
        if tenant is None:
            raise PermissionDenied
        cache.delete(_cache_key(token))
        report = import_routes(
            tenant=tenant, source=_source(pending), prune=pending["prune"], by=request.user
        )
        if not report.applied:
            form = RouteImportForm(user=request.user, initial={"tenant": tenant})
            return self._render(request, form, report, "")
        self.message_user(request, " ".join(report.summary_lines()[:2]), messages.SUCCESS)  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse("admin:onboarding_route_changelist"))

    def _render(
        self, request: HttpRequest, form: RouteImportForm, report: ImportReport | None, token: str
    ) -> TemplateResponse:
        model_admin: admin.ModelAdmin = self  # type: ignore[assignment]
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": Route._meta,
            "title": "Import routes",
            "form": form,
            "report": report,
            "token": token,
        }
        return TemplateResponse(request, "admin/onboarding/route/import.html", context)

    def _export(
        self, request: HttpRequest, queryset: QuerySet[Route], fmt: str
    ) -> HttpResponse | None:
        tenant_ids = set(queryset.values_list("tenant_id", flat=True))
        if len(tenant_ids) != 1:
            self.message_user(request, EXPORT_ONE_COMPANY, messages.ERROR)  # type: ignore[attr-defined]
            return None
        tenant = Tenant.objects.get(pk=tenant_ids.pop())
        content_type = "application/json" if fmt == "json" else "text/csv"
        response = HttpResponse(content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{tenant.slug}-routes.{fmt}"'
        # queryset is already limited to the user's companies by the admin's get_queryset.
        export_routes(tenant=tenant, fmt=fmt, out=response, routes=queryset)  # type: ignore[arg-type]
        return response

    @admin.action(description="Export the selected routes (JSON, chains inline)")
    def export_routes_json(
        self, request: HttpRequest, queryset: QuerySet[Route]
    ) -> HttpResponse | None:
        return self._export(request, queryset, "json")

    @admin.action(description="Export the selected routes (CSV, chains inline)")
    def export_routes_csv(
        self, request: HttpRequest, queryset: QuerySet[Route]
    ) -> HttpResponse | None:
        return self._export(request, queryset, "csv")
