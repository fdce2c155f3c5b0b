"""The route list's "Import routes" page and "Export" actions.

Both call the same services as the ``import_routes`` / ``export_routes`` commands.
Import is two steps, after django-x509's habit of confirming before a bulk change, and
both run as background jobs (``onboarding.import_jobs``, run by ``manage.py run_jobs``):
the upload is streamed into the storage and checked as a dry run while the job's page
shows a progress bar; its report is shown there, and only "Apply" writes, checked again
against the database as it then is. The page refreshes itself without JavaScript (a
``<noscript>`` meta refresh) and, with it, follows a small JSON status instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from common.i18n import translated
from onboarding import import_jobs, job_runner
from onboarding.bulk import detect_format, export_routes
from onboarding.bulk.importer import TEMPLATES as IMPORT_TEMPLATES
from onboarding.bulk.importer import UNKNOWN_FORMAT
from onboarding.import_jobs import (
    ACTIVE_STATES,
    FINAL_STATES,
    import_job_apply,
    import_job_cancel,
    import_job_create,
    import_jobs_for,
    job_report,
)
from onboarding.models import ImportJob, ImportJobState, Route
from tenants.models import OBS_ROLES, Tenant
from tenants.selectors import tenants_for

UPLOAD_TOO_LARGE = gettext_noop(
    "The file is larger than {limit} MB; import it with the import_routes command."
)
DUPLICATE_CHAIN_NAME = gettext_noop(
    "Two of the certificate chain files are named {name}. The routes file names each chain "
    "by its file name: upload each name once."
)
EXPORT_ONE_COMPANY = gettext_noop("Select routes of one company account to export.")
RECENT_JOBS = 10
#: Seconds between refreshes of a job page that waits for its worker.
REFRESH_SECONDS = 2


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
    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.none(), label=gettext_lazy("Company account")
    )
    file = forms.FileField(
        label=gettext_lazy("Routes file"),
        help_text=gettext_lazy(
            "JSON or CSV, as “Export the selected routes” on the route list writes it."
        ),
    )
    chain_files = MultipleFileField(
        required=False,
        label=gettext_lazy("Certificate chain files"),
        help_text=gettext_lazy(
            "The PEM files the routes file names in certificate_chain (matched by file name). "
            "Not needed when the chains are inline."
        ),
    )
    prune = forms.BooleanField(
        required=False,
        label=gettext_lazy("Remove mappings the file does not list"),
        help_text=gettext_lazy("Off: mapped users and domains missing from the file are kept."),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = tenants_for(user, roles=OBS_ROLES)
        field = self.fields["tenant"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = allowed
        if allowed.count() == 1:
            field.initial = allowed.first()

    def clean_chain_files(self) -> list[Any]:
        uploads: list[Any] = self.cleaned_data["chain_files"]
        duplicate = import_jobs.duplicate_chain_name(uploads)
        if duplicate is not None:
            raise forms.ValidationError(gettext(DUPLICATE_CHAIN_NAME).format(name=duplicate))
        return uploads

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        try:
            detect_format(upload.name)
        except ValueError as exc:
            raise forms.ValidationError(translated(str(exc), known=[UNKNOWN_FORMAT])) from None
        limit = int(settings.ROUTE_IMPORT_MAX_BYTES)
        if upload.size > limit:
            raise forms.ValidationError(
                gettext(UPLOAD_TOO_LARGE).format(limit=limit // (1024 * 1024))
            )
        return upload


#: Every sentence a job may hold as its message, or raise; and what its report and
#: stage may say (all also registered for other apps' pages by OnboardingConfig.ready).
JOB_MESSAGES = (*import_jobs.MESSAGES, *job_runner.MESSAGES)
JOB_TEXTS = (*JOB_MESSAGES, *IMPORT_TEMPLATES)


def job_message(text: str) -> str:
    """A job's message, stage or report line (stored in English by the worker) in the
    reader's language."""
    return translated(text, known=JOB_TEXTS)


def job_status(job: ImportJob) -> dict[str, Any]:
    """What the job page shows and its script polls: state and progress."""
    total = job.progress_total
    percent = min(100, job.progress_done * 100 // total) if total else None
    return {
        "id": job.pk,
        "state": job.state,
        "state_display": job.get_state_display(),
        "phase": job.phase,
        "working": job.state in (ImportJobState.QUEUED, *ACTIVE_STATES),
        "cancel_requested": job.cancel_requested,
        "stage": job_message(job.progress_stage),
        "done": job.progress_done,
        "total": total,
        "percent": percent,
        "message": job_message(job.message),
    }


if TYPE_CHECKING:
    from tenants.admin_scoping import TenantScopedAdmin

    # Typed as what it is mixed into (RouteAdmin's base); a plain object at run time.
    _RouteAdminBase = TenantScopedAdmin[Route]
else:
    _RouteAdminBase = object


class RouteBulkAdminMixin(_RouteAdminBase):
    """Mix into RouteAdmin: the import page and its job pages, the list's button, export."""

    def get_urls(self) -> list[URLPattern]:
        admin_site = self.admin_site
        views: list[tuple[str, Callable[..., HttpResponse], str]] = [
            ("import/", self.import_view, "onboarding_route_import"),
            ("import/<int:job_id>/", self.import_job_view, "onboarding_route_import_job"),
            (
                "import/<int:job_id>/status/",
                self.import_job_status,
                "onboarding_route_import_status",
            ),
            ("import/<int:job_id>/apply/", self.import_job_apply, "onboarding_route_import_apply"),
            (
                "import/<int:job_id>/cancel/",
                self.import_job_cancel,
                "onboarding_route_import_cancel",
            ),
        ]
        return [
            *(path(route, admin_site.admin_view(view), name=name) for route, view, name in views),
            *super().get_urls(),
        ]

    def _may_import(self, request: HttpRequest) -> None:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied

    def _job(self, request: HttpRequest, job_id: int) -> ImportJob:
        """The job, if it belongs to one of the user's company accounts; else 404."""
        self._may_import(request)
        return get_object_or_404(import_jobs_for(request.user), pk=job_id)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        self._may_import(request)
        if request.method == "POST":
            form = RouteImportForm(request.POST, request.FILES, user=request.user)
            if form.is_valid():
                job = import_job_create(
                    tenant=form.cleaned_data["tenant"],
                    by=request.user,  # type: ignore[arg-type]
                    upload=form.cleaned_data["file"],
                    chain_uploads=form.cleaned_data["chain_files"],
                    prune=form.cleaned_data["prune"],
                )
                return HttpResponseRedirect(self._job_url(job))
        else:
            form = RouteImportForm(user=request.user)
        jobs = import_jobs_for(request.user)[:RECENT_JOBS]
        return self._render(request, "import.html", {"form": form, "jobs": jobs})

    def import_job_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id)
        status = job_status(job)
        report = job_report(job)
        mine = job.created_by_id == request.user.pk
        context = {
            "job": job,
            "status": status,
            "report": report,
            "error_lines": [job_message(line) for line in report.error_lines] if report else [],
            "warning_lines": [job_message(line) for line in report.warning_lines] if report else [],
            "refresh_seconds": REFRESH_SECONDS if status["working"] else None,
            "may_apply": mine
            and job.state == ImportJobState.CHECKED
            and report is not None
            and report.ok
            and report.has_changes,
            "may_cancel": (mine or request.user.is_superuser)
            and job.state not in FINAL_STATES
            and not job.cancel_requested,
        }
        return self._render(request, "import_job.html", context)

    def import_job_status(self, request: HttpRequest, job_id: int) -> JsonResponse:
        return JsonResponse(job_status(self._job(request, job_id)))

    def import_job_apply(self, request: HttpRequest, job_id: int) -> HttpResponse:
        return self._job_action(request, job_id, import_job_apply)

    def import_job_cancel(self, request: HttpRequest, job_id: int) -> HttpResponse:
        return self._job_action(request, job_id, import_job_cancel)

    def _job_action(self, request: HttpRequest, job_id: int, action: Any) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self._job(request, job_id)
        try:
            said = action(job=job, by=request.user)
        except ValidationError as exc:
            said = " ".join(job_message(message) for message in exc.messages)
            self.message_user(request, said, messages.ERROR)
        else:
            if said:
                self.message_user(request, job_message(said), messages.INFO)
        return HttpResponseRedirect(self._job_url(job))

    @staticmethod
    def _job_url(job: ImportJob) -> str:
        return reverse("admin:onboarding_route_import_job", args=[job.pk])

    def _render(self, request: HttpRequest, template: str, extra: dict[str, Any]) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": Route._meta,
            "title": gettext("Import routes"),
            **extra,
        }
        return TemplateResponse(request, f"admin/onboarding/route/{template}", context)

    def _export(
        self, request: HttpRequest, queryset: QuerySet[Route], fmt: str
    ) -> HttpResponse | None:
        tenant_ids = set(queryset.values_list("tenant_id", flat=True))
        if len(tenant_ids) != 1:
            self.message_user(request, gettext(EXPORT_ONE_COMPANY), messages.ERROR)
            return None
        tenant = Tenant.objects.get(pk=tenant_ids.pop())
        content_type = "application/json" if fmt == "json" else "text/csv"
        response = HttpResponse(content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{tenant.slug}-routes.{fmt}"'
        # queryset is already limited to the user's companies by the admin's get_queryset.
        export_routes(tenant=tenant, fmt=fmt, out=response, routes=queryset)  # type: ignore[arg-type]
        return response

    @admin.action(description=gettext_lazy("Export the selected routes (JSON, chains inline)"))
    def export_routes_json(
        self, request: HttpRequest, queryset: QuerySet[Route]
    ) -> HttpResponse | None:
        return self._export(request, queryset, "json")

    @admin.action(description=gettext_lazy("Export the selected routes (CSV, chains inline)"))
    def export_routes_csv(
        self, request: HttpRequest, queryset: QuerySet[Route]
    ) -> HttpResponse | None:
        return self._export(request, queryset, "csv")
