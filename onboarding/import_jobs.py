"""Route imports from the admin as background jobs: upload, Apply, Cancel, the stored report.

The admin request only streams the upload into the configured storage and queues an
``ImportJob``; ``manage.py run_jobs`` (``onboarding.job_runner``) checks it with
``onboarding.bulk.import_routes`` as a dry run, and writes it (checked again, all or
nothing) once the uploader presses Apply. So no request holds a 50 MB file in memory or
runs longer than a moment, and a file the size limit allows cannot take a web worker down.

Staff see only their own company accounts' jobs (``import_jobs_for``, the one scoping
rule); only the uploader may apply a job (the chains it stores are recorded as theirs).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from typing import IO, Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.core.files.storage import Storage, default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_noop

from certificates.services import chain_read_upload
from common.i18n import Phrase, phrase_data, phrase_from_data
from common.storage import open_stream
from onboarding.bulk import ImportReport, ImportSource, detect_format
from onboarding.bulk.importer.source import UPLOADED_CHAINS
from onboarding.models import ImportJob, ImportJobPhase, ImportJobState
from tenants.audit import audit_record, staff_actor
from tenants.models import OBS_ROLES, AuditOutcome, Tenant
from tenants.selectors import scope_queryset

logger = logging.getLogger(__name__)

#: Storage folder of the files waiting for their job (never under ``chains/``, which
#: ``sweep_chain_files`` owns).
JOB_FOLDER = "import-jobs"
ACTIVE_STATES = (ImportJobState.RUNNING, ImportJobState.APPLYING)
FINAL_STATES = (ImportJobState.DONE, ImportJobState.FAILED, ImportJobState.CANCELLED)
#: Lines of warnings kept in a stored report (problems are capped by the importer).
MAX_STORED_WARNINGS = 1000
SAMPLE_SIZE = 10

# What a job says (stored in English on the job, or raised): the admin says it in the
# reader's language, recognising the stored text by its template (common.i18n).
NOT_YOURS = gettext_noop("Only {name}, who uploaded this file, can apply it.")
NOT_YOURS_TO_CANCEL = gettext_noop(
    "Only {name}, who uploaded this file, or a platform operator can cancel it."
)
NOT_APPLICABLE = gettext_noop("Only a checked import with changes and no problems can be applied.")
ALREADY_ENDED = gettext_noop("This import has already ended.")
CANCELLED_BY = gettext_noop("Cancelled by {actor}; nothing was written.")
CANCEL_REQUESTED = gettext_noop("Cancelling: the worker stops at its next step and writes nothing.")
MESSAGES = (
    NOT_YOURS,
    NOT_YOURS_TO_CANCEL,
    NOT_APPLICABLE,
    ALREADY_ENDED,
    CANCELLED_BY,
    CANCEL_REQUESTED,
)


# --- The stored report ------------------------------------------------------------------

#: Counts that say the import changes something.
CHANGE_COUNTS = (
    "routes_created",
    "routes_changed",
    "users_created",
    "users_moved",
    "users_removed",
    "domains_created",
    "domains_moved",
    "domains_removed",
)


def report_counts(report: ImportReport) -> dict[str, int]:
    """What an import found or did, in numbers (the audit entry's and the page's counts)."""
    counts = {
        "problems": len(report.errors) + report.errors_not_listed,
        "warnings": len(report.warnings),
        "routes_created": len(report.routes_created),
        "routes_changed": len(report.routes_changed),
        "routes_unchanged": len(report.routes_unchanged),
        "routes_not_in_file": len(report.routes_not_in_file),
    }
    for prefix, changes in (("users", report.users), ("domains", report.domains)):
        for what in ("created", "moved", "removed", "unchanged", "kept"):
            counts[f"{prefix}_{what}"] = getattr(changes, what)
    return counts


def report_to_json(report: ImportReport) -> dict[str, Any]:
    """The report as a job keeps it: counts, every problem line, samples of names.

    Lists that grow with the file (names of routes) are kept as counts plus the first
    few, so a stored report stays small whatever the file held.
    """
    errors = report.error_lines()
    warnings = report.warning_lines()[:MAX_STORED_WARNINGS]
    return {
        "source": report.source,
        "tenant": report.tenant,
        "dry_run": report.dry_run,
        "prune": report.prune,
        "applied": report.applied,
        "counts": report_counts(report),
        "error_lines": errors,
        "warning_lines": warnings,
        # The same lines as sentences and their values, so that the job page says each
        # in its reader's language whole, a chain's refusal inside a line included.
        "error_phrases": [phrase_data(line) for line in errors],
        "warning_phrases": [phrase_data(line) for line in warnings],
        "routes_created": report.routes_created[:SAMPLE_SIZE],
        "routes_changed": [[name, fields] for name, fields in report.routes_changed[:SAMPLE_SIZE]],
    }


def _lines(texts: list[str], phrases: list[Any] | None) -> list[str]:
    """Stored report lines, as sentences where they were stored as such (reports stored
    before they were keep their English text only)."""
    if phrases is None or len(phrases) != len(texts):
        return texts
    return [phrase_from_data(data, text) for data, text in zip(phrases, texts, strict=True)]


class JobReport:
    """A stored report as the job page shows it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.counts: dict[str, int] = data["counts"]
        self.source: str = data["source"]
        self.tenant: str = data["tenant"]
        self.applied: bool = data["applied"]
        self.prune: bool = data["prune"]
        self.error_lines = _lines(data["error_lines"], data.get("error_phrases"))
        self.warning_lines = _lines(data["warning_lines"], data.get("warning_phrases"))
        self.routes_created: list[str] = data["routes_created"]
        self.routes_changed: list[list[Any]] = data["routes_changed"]

    @property
    def problems(self) -> int:
        return self.counts["problems"]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def has_changes(self) -> bool:
        return any(self.counts[name] for name in CHANGE_COUNTS)


def job_report(job: ImportJob) -> JobReport | None:
    return JobReport(job.report) if job.report else None


# --- Reads ------------------------------------------------------------------------------


def import_jobs_for(user: User | AnonymousUser) -> QuerySet[ImportJob]:
    """The jobs of the company accounts where ``user`` may import (operators: all)."""
    jobs = ImportJob.objects.select_related("tenant", "created_by")
    return scope_queryset(jobs, user, roles=OBS_ROLES)


def job_source(job: ImportJob, storage: Storage | None = None) -> ImportSource:
    """The job's stored file as the importer reads it: streamed, chains from the upload."""
    storage = storage or default_storage
    chains: dict[str, str] = dict(job.chain_files)
    by_basename = {_basename(ref): name for ref, name in chains.items()}

    def read_chain(ref: str) -> tuple[bytes, str]:
        name = chains.get(ref) or by_basename.get(_basename(ref))
        if name is None:
            # The importer reports an OSError as "not found among the uploaded files".
            raise FileNotFoundError(ref)
        with open_stream(storage, name) as stream:
            return chain_read_upload(stream), _basename(ref)

    stored = job.file.name or ""

    def opener() -> IO[bytes]:
        return open_stream(storage, stored)

    return ImportSource(
        name=job.file_name,
        format=job.format,
        opener=opener,
        size=job.file_size,
        chain_reader=read_chain,
        base_description=Phrase(UPLOADED_CHAINS),
    )


def _basename(name: str) -> str:
    return os.path.basename(name.replace("\\", "/"))


def duplicate_chain_name(uploads: Iterable[UploadedFile]) -> str | None:
    """A file name that two of ``uploads`` share, as a job matches them, or None.

    The routes file names each chain by its file name, so two uploads of one name would
    leave it to chance which of them a route gets.
    """
    seen: set[str] = set()
    for upload in uploads:
        name = _basename(upload.name or "")
        if name in seen:
            return name
        seen.add(name)
    return None


def _name_of(user: User | None) -> str:
    return user.get_username() if user is not None else "someone"


# --- Writes -----------------------------------------------------------------------------


def import_job_create(
    *,
    tenant: Tenant,
    by: User,
    upload: UploadedFile,
    chain_uploads: Iterable[UploadedFile] = (),
    prune: bool = False,
) -> ImportJob:
    """Store the upload (streamed, in pieces) and queue a check of it.

    Stored names hold no part of what the customer typed but the format's extension;
    the original names are kept on the row. A failure before the row exists deletes
    what was stored (a killed process leaves files that ``job_files_sweep`` removes).
    """
    fmt = detect_format(upload.name or "")
    chain_uploads = list(chain_uploads)
    duplicate = duplicate_chain_name(chain_uploads)
    if duplicate is not None:
        raise ValueError(f"Two certificate chain files are named {duplicate!r}.")
    storage = default_storage
    folder = f"{JOB_FOLDER}/{tenant.slug}/{secrets.token_hex(8)}"
    stored: list[str] = []
    try:
        main = storage.save(f"{folder}/routes.{fmt}", upload)
        stored.append(main)
        chains: dict[str, str] = {}
        for number, chain in enumerate(chain_uploads, start=1):
            name = storage.save(f"{folder}/chain-{number}.pem", chain)
            stored.append(name)
            chains[chain.name or name] = name
        return ImportJob.objects.create(
            tenant=tenant,
            created_by=by,
            file=main,
            file_name=_basename(upload.name or "")[:255],
            file_size=upload.size or 0,
            format=fmt,
            chain_files=chains,
            prune=prune,
        )
    except BaseException:
        _delete_quietly(storage, stored)
        raise


def import_job_apply(*, job: ImportJob, by: User) -> None:
    """Queue a checked job to be written. ``ValidationError`` says why it cannot be."""
    if job.created_by_id != by.pk:
        raise ValidationError(NOT_YOURS.format(name=_name_of(job.created_by)))
    report = job_report(job)
    if job.state != ImportJobState.CHECKED or report is None or not report.ok:
        raise ValidationError(NOT_APPLICABLE)
    if not report.has_changes:
        raise ValidationError(NOT_APPLICABLE)
    queued = ImportJob.objects.filter(pk=job.pk, state=ImportJobState.CHECKED).update(
        state=ImportJobState.QUEUED,
        phase=ImportJobPhase.APPLY,
        cancel_requested=False,
        progress_stage="",
        progress_done=0,
        progress_total=None,
        message="",
    )
    if not queued:
        # Cancelled or expired since the page was shown.
        raise ValidationError(NOT_APPLICABLE)


def import_job_cancel(*, job: ImportJob, by: User) -> str:
    """Cancel a job: at once when it waits, at the worker's next step when it runs.

    Returns what happened, in words. A running job's transaction is rolled back, so a
    cancelled import writes nothing.
    """
    if not (getattr(by, "is_superuser", False) or job.created_by_id == by.pk):
        raise ValidationError(NOT_YOURS_TO_CANCEL.format(name=_name_of(job.created_by)))
    message = CANCELLED_BY.format(actor=by.get_username())
    waiting = (ImportJobState.QUEUED, ImportJobState.CHECKED)
    now = timezone.now()
    if ImportJob.objects.filter(pk=job.pk, state__in=waiting).update(
        state=ImportJobState.CANCELLED, message=message, finished_at=now
    ):
        job.refresh_from_db()
        job_ended(job, outcome=AuditOutcome.CANCELLED, actor_user=by)
        return message
    if ImportJob.objects.filter(pk=job.pk, state__in=ACTIVE_STATES).update(cancel_requested=True):
        return CANCEL_REQUESTED
    raise ValidationError(ALREADY_ENDED)


def job_ended(job: ImportJob, *, outcome: AuditOutcome, actor_user: User | None = None) -> None:
    """What every ended job does: its files go, and the audit log says how it ended."""
    job_files_delete(job)
    report = job_report(job)
    user = actor_user or job.created_by
    audit_record(
        action="admin_import",
        actor=staff_actor(user),
        user=user,
        outcome=outcome,
        tenant=job.tenant,
        arguments={
            "job": job.pk,
            "file": job.file_name,
            "format": job.format,
            "prune": job.prune,
            "phase": job.phase,
            "uploaded_by": _name_of(job.created_by),
        },
        counts=report.counts if report is not None else {},
        message=job.message,
    )


def job_files_delete(job: ImportJob) -> None:
    """Delete the job's files from the storage; names that fail stay for the sweep."""
    names = [job.file.name, *job.chain_files.values()] if job.file else []
    left = _delete_quietly(default_storage, [name for name in names if name])
    if not left:
        ImportJob.objects.filter(pk=job.pk).update(file="", chain_files={})
        job.file.name, job.chain_files = "", {}


def _delete_quietly(storage: Storage, names: Iterable[str]) -> list[str]:
    """Delete ``names``; returns those that could not be deleted (logged)."""
    left = []
    for name in names:
        try:
            storage.delete(name)
        except Exception:
            logger.exception("Could not delete the stored import file %s", name)
            left.append(name)
    return left
