"""Runs the queued route imports (``manage.py run_jobs``): claim, heartbeat, settle, recover.

**Claiming.** A worker takes the oldest queued job with ``SELECT ... FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so workers on one machine or several pass each other by instead
of queueing on one row, and moves it on with a conditional UPDATE (``state='queued'``),
which alone keeps two workers from running one job on SQLite, where there are no row
locks. Each claim adds one to ``attempts``; every later write of that worker is
conditional on the count it claimed with, so a worker once taken for dead can never
overwrite what happened to the job afterwards.

**Heartbeat and progress.** The import runs in one transaction, whose writes nobody
sees before it ends. A thread of the worker, with its own database connection, writes
``heartbeat_at`` and the progress every ``IMPORT_JOB_HEARTBEAT_SECONDS`` and reads back
whether someone pressed Cancel. A running job whose heartbeat is older than
``IMPORT_JOB_STALE_SECONDS`` belongs to a worker that died (killed, machine lost): any
worker re-queues it, up to ``MAX_ATTEMPTS`` claims, then fails it with a clear message.
Re-running is safe: a dead worker's transaction was rolled back, and an apply checks the
plan against the database again.

**Stopping.** Cancel, a worker's shutdown (SIGTERM) or the loss of the job make the
import's next progress step raise ``JobStopped``: its transaction is rolled back and
nothing is written. A shut-down worker's job is queued again for another worker.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, close_old_connections, connection, connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from common.storage import stored_names
from onboarding.bulk import ImportReport, Progress, import_routes
from onboarding.import_jobs import (
    ACTIVE_STATES,
    FINAL_STATES,
    JOB_FOLDER,
    import_jobs_for,
    job_ended,
    job_files_delete,
    job_source,
    report_to_json,
)
from onboarding.models import ImportJob, ImportJobPhase, ImportJobState
from tenants.models import AuditOutcome

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
#: Stored files no job names are left alone this long: their upload may be committing.
SWEEP_GRACE = dt.timedelta(hours=1)
#: Seconds between a worker's expiry and sweep rounds (stale jobs: every round).
HOUSEKEEPING_SECONDS = 600

# A job's messages, stored in English (the worker has no reader); the admin says them in
# the reader's language (onboarding.admin_bulk.job_message).
FAILED_PROBLEMS = gettext_noop("{count} problem(s) in {file}; nothing was written.")
NOTHING_TO_CHANGE = gettext_noop("Nothing to change: {tenant} already matches {file}.")
APPLIED = gettext_noop("Applied.")
APPLIED_DESPITE_CANCEL = gettext_noop("Applied: Cancel came after the changes were written.")
CANCELLED_WHILE_RUNNING = gettext_noop("Cancelled while it ran; nothing was written.")
NO_LONGER_ALLOWED = gettext_noop(
    "The person who uploaded this file may no longer import for this company account; "
    "nothing was written."
)
CRASHED = gettext_noop(
    "The import stopped with an error ({error}); nothing was written. "
    "The worker's log has the details."
)
REQUEUED = gettext_noop(
    "Re-queued: the worker {worker} stopped answering (attempt {attempt} of {limit})."
)
GAVE_UP = gettext_noop(
    "Failed: the workers running this import stopped {count} times (last: {worker}); "
    "nothing was written. Upload the file again, or import it with the import_routes command."
)
INTERRUPTED = gettext_noop("Re-queued: the worker {worker} was stopped; another worker continues.")
EXPIRED = gettext_noop("Cancelled: not applied within {hours} hours; nothing was written.")
MESSAGES = (
    NO_LONGER_ALLOWED,
    FAILED_PROBLEMS,
    NOTHING_TO_CHANGE,
    APPLIED,
    APPLIED_DESPITE_CANCEL,
    CANCELLED_WHILE_RUNNING,
    CRASHED,
    REQUEUED,
    GAVE_UP,
    INTERRUPTED,
    EXPIRED,
)

CANCELLED, SHUTDOWN, LOST = "cancelled", "shutdown", "lost"


class JobStopped(Exception):
    """Raised from a progress step to abandon the running import (rolled back)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobProgress(Progress):
    """Keeps the importer's progress for the heartbeat; each step asks whether to stop."""

    def __init__(self, stop_reason: Callable[[], str | None]) -> None:
        self.stop_reason = stop_reason
        self.stage = ""
        self.done = 0
        self.total: int | None = None

    def start(self, stage: str, total: int | None = None) -> None:
        self.stage, self.total, self.done = stage[:200], total, 0
        self._check()

    def update(self, done: int) -> None:
        self.done = done
        self._check()

    def finish(self) -> None:
        if self.total is not None:
            self.done = self.total

    def _check(self) -> None:
        reason = self.stop_reason()
        if reason is not None:
            raise JobStopped(reason)

    def values(self) -> dict[str, object]:
        return {
            "progress_stage": self.stage,
            "progress_done": self.done,
            "progress_total": self.total,
        }


class Heartbeat(threading.Thread):
    """Writes the job's heartbeat and progress on its own connection; notices Cancel."""

    def __init__(self, job: ImportJob, progress: JobProgress) -> None:
        super().__init__(name=f"import-job-{job.pk}-heartbeat", daemon=True)
        self.job = job
        self.progress = progress
        self.interval = float(settings.IMPORT_JOB_HEARTBEAT_SECONDS)
        self.cancelled = False
        self.lost = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                self.beat()
        finally:
            connections.close_all()  # this thread's connections only

    def beat(self) -> None:
        mine = ImportJob.objects.filter(
            pk=self.job.pk, attempts=self.job.attempts, state__in=ACTIVE_STATES
        )
        try:
            if mine.update(heartbeat_at=timezone.now(), **self.progress.values()):
                self.cancelled = mine.filter(cancel_requested=True).exists()
            else:
                # Lost only if the row says so (claimed again, or ended); a row this
                # connection cannot see (deleted with its company) proves nothing.
                self.lost = ImportJob.objects.filter(pk=self.job.pk).exists()
        except DatabaseError:
            # SQLite while the import writes, or a short outage: the next beat tries again.
            logger.warning("Could not record the heartbeat of import job %s", self.job.pk)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# --- Claiming and running -----------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def job_claim(worker: str) -> ImportJob | None:
    """The oldest queued job, now this worker's (None when nothing waits)."""
    while True:
        with transaction.atomic():
            candidate = (
                ImportJob.objects.select_for_update(skip_locked=True)
                .filter(state=ImportJobState.QUEUED)
                .order_by("created_at", "pk")
                .values_list("pk", "phase")
                .first()
            )
            if candidate is None:
                return None
            pk, phase = candidate
            now = timezone.now()
            claimed = ImportJob.objects.filter(pk=pk, state=ImportJobState.QUEUED).update(
                state=ImportJobState.APPLYING
                if phase == ImportJobPhase.APPLY
                else ImportJobState.RUNNING,
                worker=worker[:200],
                attempts=F("attempts") + 1,
                started_at=now,
                heartbeat_at=now,
                cancel_requested=False,
            )
        if claimed:
            return ImportJob.objects.select_related("tenant", "created_by").get(pk=pk)
        # Another worker took it between the read and the update (SQLite): next one.


def job_run(job: ImportJob, *, stopping: Callable[[], bool] = lambda: False) -> ImportJob:
    """Run one claimed job to its next state: checked, done, failed, cancelled or queued."""
    heartbeat: Heartbeat

    def stop_reason() -> str | None:
        if heartbeat.lost:
            return LOST
        if heartbeat.cancelled:
            return CANCELLED
        return SHUTDOWN if stopping() else None

    progress = JobProgress(stop_reason)
    if not _uploader_may_import(job):
        # Queued before the uploader's role was taken away: a job never outlives the
        # right of the person it acts for.
        _settle(job, ImportJobState.FAILED, NO_LONGER_ALLOWED, progress)
        job.refresh_from_db()
        return job
    heartbeat = Heartbeat(job, progress)
    heartbeat.start()
    try:
        report = import_routes(
            tenant=job.tenant,
            source=job_source(job),
            dry_run=job.phase == ImportJobPhase.CHECK,
            prune=job.prune,
            by=job.created_by,
            progress=progress,
        )
    except JobStopped as stopped:
        _settle_stopped(job, stopped.reason, progress)
    except Exception as exc:
        logger.exception("Import job %s failed", job.pk)
        _settle(job, ImportJobState.FAILED, CRASHED.format(error=type(exc).__name__), progress)
    else:
        _settle_report(job, report, progress)
    finally:
        heartbeat.stop()
    job.refresh_from_db()
    return job


def _uploader_may_import(job: ImportJob) -> bool:
    # The rule the job pages apply to whoever opens a job, applied to its uploader.
    user = job.created_by
    return user is not None and import_jobs_for(user).filter(pk=job.pk).exists()


def _settle_report(job: ImportJob, report: ImportReport, progress: JobProgress) -> None:
    cancel = ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists()
    names = {"file": job.file_name, "tenant": job.tenant.slug}
    if report.errors:
        count = len(report.errors) + report.errors_not_listed
        state, message = ImportJobState.FAILED, FAILED_PROBLEMS.format(count=count, **names)
    elif report.applied:
        state, message = ImportJobState.DONE, APPLIED_DESPITE_CANCEL if cancel else APPLIED
    elif cancel:
        state, message = ImportJobState.CANCELLED, CANCELLED_WHILE_RUNNING
    elif not report.has_changes:
        state, message = ImportJobState.DONE, NOTHING_TO_CHANGE.format(**names)
    else:
        state, message = ImportJobState.CHECKED, ""
    _settle(job, state, message, progress, report=report)


def _settle_stopped(job: ImportJob, reason: str, progress: JobProgress) -> None:
    if reason == CANCELLED:
        _settle(job, ImportJobState.CANCELLED, CANCELLED_WHILE_RUNNING, progress)
    elif reason == SHUTDOWN:
        # Not the job's fault: the claim does not count against its attempts.
        ImportJob.objects.filter(pk=job.pk, attempts=job.attempts).update(
            state=ImportJobState.QUEUED,
            attempts=F("attempts") - 1,
            message=INTERRUPTED.format(worker=job.worker),
        )
    # LOST: the job is another worker's now; this one writes nothing.


_OUTCOMES = {
    ImportJobState.DONE: AuditOutcome.SUCCEEDED,
    ImportJobState.FAILED: AuditOutcome.FAILED,
    ImportJobState.CANCELLED: AuditOutcome.CANCELLED,
}


def _settle(
    job: ImportJob,
    state: ImportJobState,
    message: str,
    progress: JobProgress,
    *,
    report: ImportReport | None = None,
) -> None:
    now = timezone.now()
    values: dict[str, object] = {"state": state, "message": message, "heartbeat_at": now}
    values.update(progress.values())
    if report is not None:
        values["report"] = report_to_json(report)
    if state == ImportJobState.CHECKED:
        values["checked_at"] = now
    if state in FINAL_STATES:
        values["finished_at"] = now
    if not ImportJob.objects.filter(pk=job.pk, attempts=job.attempts).update(**values):
        return  # taken from this worker meanwhile
    logger.info("Import job %s: %s", job.pk, state)
    if state in FINAL_STATES:
        job.refresh_from_db()
        job_ended(job, outcome=_OUTCOMES[state])


# --- Housekeeping -------------------------------------------------------------------------


def jobs_recover_stale(*, now: dt.datetime | None = None) -> list[ImportJob]:
    """Re-queue (or, after MAX_ATTEMPTS claims, fail) running jobs whose worker died."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=int(settings.IMPORT_JOB_STALE_SECONDS))
    with transaction.atomic():
        stale = list(
            ImportJob.objects.select_for_update(skip_locked=True).filter(
                state__in=ACTIVE_STATES, heartbeat_at__lt=cutoff
            )
        )
        failed = [job for job in stale if job.attempts >= MAX_ATTEMPTS]
        for job in stale:
            mine = ImportJob.objects.filter(pk=job.pk, attempts=job.attempts, state=job.state)
            if job in failed:
                message = GAVE_UP.format(count=job.attempts, worker=job.worker)
                mine.update(state=ImportJobState.FAILED, message=message, finished_at=now)
            else:
                message = REQUEUED.format(
                    worker=job.worker, attempt=job.attempts + 1, limit=MAX_ATTEMPTS
                )
                mine.update(state=ImportJobState.QUEUED, message=message)
            logger.warning("Import job %s: %s", job.pk, message)
    for job in failed:
        job.refresh_from_db()
        job_ended(job, outcome=AuditOutcome.FAILED)
    return stale


def jobs_expire(*, now: dt.datetime | None = None) -> int:
    """Cancel checked jobs nobody applied within IMPORT_JOB_PENDING_HOURS."""
    now = now or timezone.now()
    hours = int(settings.IMPORT_JOB_PENDING_HOURS)
    expired = 0
    waiting = ImportJob.objects.filter(
        state=ImportJobState.CHECKED, checked_at__lt=now - dt.timedelta(hours=hours)
    )
    for job in waiting.select_related("tenant", "created_by"):
        if ImportJob.objects.filter(pk=job.pk, state=ImportJobState.CHECKED).update(
            state=ImportJobState.CANCELLED, message=EXPIRED.format(hours=hours), finished_at=now
        ):
            job.refresh_from_db()
            job_ended(job, outcome=AuditOutcome.CANCELLED)
            expired += 1
    return expired


def job_files_sweep(*, now: dt.datetime | None = None) -> list[str]:
    """Delete stored import files no waiting or running job needs; returns their names.

    Ended jobs whose files could not be deleted are retried; files no job names at
    all (the upload's process was killed before its job was saved) go once they are
    older than SWEEP_GRACE.
    """
    now = now or timezone.now()
    for job in ImportJob.objects.filter(state__in=FINAL_STATES).exclude(file=""):
        job_files_delete(job)
    known: set[str] = set()
    for name, chains in ImportJob.objects.exclude(file="").values_list("file", "chain_files"):
        known.add(name)
        known.update(chains.values())
    storage = default_storage
    swept = []
    for name in stored_names(storage, JOB_FOLDER):
        if name not in known and storage.get_modified_time(name) < now - SWEEP_GRACE:
            storage.delete(name)
            swept.append(name)
    return swept


# --- The worker loop ------------------------------------------------------------------------


class Worker:
    """``run_jobs``' loop: housekeeping, then claim and run jobs until told to stop."""

    def __init__(
        self, *, poll: float = 2.0, on_job: Callable[[ImportJob], None] = lambda job: None
    ) -> None:
        self.name = worker_name()
        self.poll = poll
        self.on_job = on_job
        self._stop = threading.Event()
        self._housekept_at: float | None = None

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, once: bool = False) -> int:
        """Run jobs; with ``once``, only until none waits. Returns how many ran."""
        ran = 0
        while not self.stopping:
            if not connection.in_atomic_block:
                # As Django does between requests: drop a connection that is broken or
                # past DB_CONN_MAX_AGE (never one inside a caller's transaction).
                close_old_connections()
            try:
                self.housekeeping()
                job = job_claim(self.name)
            except DatabaseError:
                if once:
                    raise
                logger.exception("run_jobs: the database cannot be reached; trying again")
                self._stop.wait(self.poll)
                continue
            if job is None:
                if once:
                    break
                self._stop.wait(self.poll)
                continue
            self.on_job(job_run(job, stopping=lambda: self.stopping))
            ran += 1
        return ran

    def housekeeping(self) -> None:
        jobs_recover_stale()
        now = time.monotonic()
        if self._housekept_at is None or now - self._housekept_at >= HOUSEKEEPING_SECONDS:
            self._housekept_at = now
            jobs_expire()
            job_files_sweep()
