"""``run_jobs [--once] [--poll SECONDS]``: the worker that runs the admin's route imports.

Run it as a service beside the web server (docs/deployment.md); several, on one machine
or many, share the queue safely. ``--once`` runs what is queued and exits (cron, tests).
SIGTERM or Ctrl-C stop it gracefully: the running import is rolled back and queued again
for another worker; a second signal stops it at once (its job is recovered as stale).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from onboarding.job_runner import Worker
from onboarding.models import ImportJob


class Command(BaseCommand):
    help = (
        "Run the route imports queued by the admin's Import routes page: check, apply, "
        "heartbeat, recovery of jobs whose worker died, removal of their stored files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Run the queued jobs, then exit (cron, tests)."
        )
        parser.add_argument(
            "--poll",
            type=float,
            default=2.0,
            metavar="SECONDS",
            help="How long an idle worker waits before it looks again (default %(default)s).",
        )

    def handle(self, *args: Any, once: bool, poll: float, **options: Any) -> None:
        if poll <= 0:
            raise CommandError("--poll must be more than 0 seconds.")
        worker = Worker(poll=poll, on_job=self._said)
        restore = _stop_on_signals(worker)
        try:
            if not once:
                self.stdout.write(f"run_jobs: worker {worker.name} waiting for jobs.")
            ran = worker.run(once=once)
        finally:
            restore()
        if once or options["verbosity"] > 1:
            self.stdout.write(f"run_jobs: {ran} job(s) run.")

    def _said(self, job: ImportJob) -> None:
        detail = f": {job.message}" if job.message else ""
        self.stdout.write(
            f"Import job {job.pk} ({job.tenant.slug}, {job.file_name}, {job.phase}): "
            f"{job.state}{detail}"
        )


def _stop_on_signals(worker: Worker) -> Callable[[], None]:
    """SIGTERM/SIGINT stop ``worker`` gracefully, a second one at once; returns an undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals reach the main thread only (a test's worker thread)

    def handler(signum: int, frame: object) -> None:
        if worker.stopping:
            raise KeyboardInterrupt
        worker.stop()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
