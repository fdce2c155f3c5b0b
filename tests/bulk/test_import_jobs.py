"""The admin's route imports as background jobs: queue, worker, progress, Apply, Cancel.

Real files in the configured storage (a folder of the test's own), the real importer and
the real ``run_jobs`` command; nothing of ours is patched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading
import time
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from certificates.models import CertificateChain
from common.storage import stored_names
from onboarding import job_runner
from onboarding.import_jobs import (
    JOB_FOLDER,
    NOT_APPLICABLE,
    import_job_apply,
    import_job_cancel,
    import_job_create,
)
from onboarding.models import ImportJob, ImportJobPhase, ImportJobState, MappedUser, Route
from tenants.models import AuditEntry, AuditOutcome
from tests import factories

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/onboarding/route/import/"


def routes_document(users: list[str], routes: int = 1) -> bytes:
    document = {
        "routes": [
            {
                "display_name": f"UMS {n}",
                "ums_hostname": f"ums{n}.example.com",
                "identity_provider": "Corp Entra",
                "certificate_chain": "chains/berlin.pem",
                "mapped_users": users if n == 0 else [],
            }
            for n in range(routes)
        ]
    }
    return json.dumps(document, indent=1).encode()


def queue(tenant, user, chain_pem: str, users: list[str], **extra) -> ImportJob:
    return import_job_create(
        tenant=tenant,
        by=user,
        upload=SimpleUploadedFile("routes.json", routes_document(users, **extra)),
        chain_uploads=[SimpleUploadedFile("berlin.pem", chain_pem.encode())],
    )


def run_jobs() -> str:
    out = StringIO()
    call_command("run_jobs", "--once", stdout=out)
    return out.getvalue()


def stored_files() -> list[str]:
    return sorted(stored_names(default_storage, JOB_FOLDER))


# --- Queue, check, report -----------------------------------------------------------------


def test_two_chain_uploads_of_one_name_are_refused_before_anything_is_stored(
    bob, acme, chain_a, chain_b
):
    with pytest.raises(ValueError, match="Two certificate chain files are named 'berlin.pem'"):
        import_job_create(
            tenant=acme,
            by=bob,
            upload=SimpleUploadedFile("routes.json", routes_document(["alice@example.com"])),
            chain_uploads=[
                SimpleUploadedFile("berlin.pem", chain_a.encode()),
                # A name as a Windows client may send it: the same file name to a job.
                SimpleUploadedFile("sub\\berlin.pem", chain_b.encode()),
            ],
        )
    assert not ImportJob.objects.exists()
    assert stored_files() == []


def test_an_upload_is_stored_and_queued_without_being_imported(
    client, bob, acme, corp_idp, chain_a
):
    client.force_login(bob)
    data = routes_document(["alice@example.com"])
    response = client.post(
        IMPORT_URL,
        {
            "tenant": acme.pk,
            "file": SimpleUploadedFile("Berlin routes.json", data),
            "chain_files": [SimpleUploadedFile("berlin.pem", chain_a.encode())],
        },
    )
    job = ImportJob.objects.get()
    assert response["Location"] == f"{IMPORT_URL}{job.pk}/"
    assert (job.state, job.phase, job.tenant, job.created_by) == ("queued", "check", acme, bob)
    assert job.file_name == "Berlin routes.json" and job.file_size == len(data)
    # Stored under a name of our making; the customer's file name is only on the row.
    assert job.file.name.startswith(f"{JOB_FOLDER}/acme/") and job.file.name.endswith(".json")
    with default_storage.open(job.file.name, "rb") as stored:
        assert stored.read() == data
    assert list(job.chain_files) == ["berlin.pem"]
    assert not Route.objects.exists() and job.report is None
    page = client.get(response["Location"]).content.decode()
    assert "Waiting for a worker" in page and "run_jobs" in page


def test_the_worker_checks_the_file_and_keeps_a_compact_report(bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, [f"user{n}@example.com" for n in range(30)] + ["bad@"])
    bad = queue(acme, bob, chain_a, ["ok@example.com"], routes=12)

    output = run_jobs()

    job.refresh_from_db()
    assert job.state == ImportJobState.FAILED and job.attempts == 1
    assert job.report["counts"]["problems"] == 1
    assert job.report["error_lines"] == [
        'routes.json:39: mapped user "bad@" is not a valid e-mail address: '
        "The e-mail address has no domain after the '@'."
    ]
    assert job.message == "1 problem(s) in routes.json; nothing was written."
    bad.refresh_from_db()
    assert bad.state == ImportJobState.CHECKED and bad.checked_at is not None
    assert (
        bad.report["counts"]["routes_created"] == 12 and bad.report["counts"]["users_created"] == 1
    )
    # Names that grow with the file are kept as counts and a sample.
    assert len(bad.report["routes_created"]) == 10
    assert f"Import job {job.pk} (acme, routes.json, check): failed" in output
    assert f"Import job {bad.pk} (acme, routes.json, check): checked" in output
    # The failed job's files are gone; the checked one waits with its files for Apply.
    assert stored_files() == sorted([bad.file.name, *bad.chain_files.values()])
    assert not Route.objects.exists() and not MappedUser.objects.exists()


def test_progress_reaches_the_end_of_each_stage(bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    run_jobs()
    job.refresh_from_db()
    assert job.progress_stage == "Checking mapped domains"
    assert job.progress_total is not None and job.progress_done == job.progress_total


def test_the_heartbeat_writes_the_progress_of_a_running_import(bob, acme, corp_idp, chain_a):
    queued = queue(acme, bob, chain_a, ["alice@example.com"])
    job = job_runner.job_claim("worker-a")
    assert job is not None and job.pk == queued.pk and job.state == ImportJobState.RUNNING
    progress = job_runner.JobProgress(lambda: None)
    heartbeat = job_runner.Heartbeat(job, progress)
    progress.start("Reading routes.json", 400)
    progress.update(100)
    before = timezone.now()

    heartbeat.beat()

    job.refresh_from_db()
    assert (job.progress_stage, job.progress_done, job.progress_total) == (
        "Reading routes.json",
        100,
        400,
    )
    assert job.heartbeat_at >= before and not heartbeat.cancelled and not heartbeat.lost


def test_the_status_endpoint_and_the_page_show_the_progress(client, bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportJobState.RUNNING,
        progress_stage="Reading routes.json",
        progress_done=50,
        progress_total=200,
    )
    client.force_login(bob)

    status = client.get(f"{IMPORT_URL}{job.pk}/status/").json()
    page = client.get(f"{IMPORT_URL}{job.pk}/").content.decode()

    assert status["state"] == "running" and status["working"] is True
    assert (status["stage"], status["done"], status["total"], status["percent"]) == (
        "Reading routes.json",
        50,
        200,
        25,
    )
    assert '<progress id="import-job-progress" class="w-full" max="100" value="25">' in page
    assert "Reading routes.json: 25%" in page
    # Without JavaScript the page refreshes itself; with it, the script follows the status.
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert "obs-import-job.js" in page


def test_a_finished_page_neither_refreshes_nor_polls(client, bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    run_jobs()
    client.force_login(bob)
    page = client.get(f"{IMPORT_URL}{job.pk}/").content.decode()
    assert 'http-equiv="refresh"' not in page and "obs-import-job.js" not in page
    assert 'id="import-apply"' in page and 'id="import-cancel"' in page


# --- Apply: all or nothing ------------------------------------------------------------------


def test_an_apply_queued_before_the_uploader_lost_the_role_writes_nothing(
    bob, acme, corp_idp, chain_a
):
    from tenants.models import Membership

    job = queue(acme, bob, chain_a, ["alice@example.com"])
    run_jobs()
    job.refresh_from_db()
    import_job_apply(job=job, by=bob)
    Membership.objects.filter(user=bob, tenant=acme).delete()

    run_jobs()

    job.refresh_from_db()
    assert job.state == ImportJobState.FAILED
    assert "may no longer import" in job.message
    assert not Route.objects.exists() and not MappedUser.objects.exists()
    assert stored_files() == []


def test_apply_writes_the_checked_file_and_deletes_it(bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com", "carol@example.com"])
    run_jobs()
    job.refresh_from_db()
    import_job_apply(job=job, by=bob)
    job.refresh_from_db()
    assert (job.state, job.phase) == (ImportJobState.QUEUED, ImportJobPhase.APPLY)

    run_jobs()

    job.refresh_from_db()
    assert job.state == ImportJobState.DONE and job.report["applied"] is True
    assert job.message == "Applied." and job.finished_at is not None
    assert Route.objects.get().display_name == "UMS 0"
    assert MappedUser.objects.count() == 2
    assert stored_files() == [] and job.file.name == "" and job.chain_files == {}
    entry = AuditEntry.objects.get(action="admin_import")
    assert (entry.outcome, entry.tenant, entry.user, entry.actor) == (
        AuditOutcome.SUCCEEDED,
        acme,
        bob,
        "admin:bob",
    )
    assert entry.counts["routes_created"] == 1 and entry.counts["users_created"] == 2
    assert entry.arguments["file"] == "routes.json" and entry.arguments["phase"] == "apply"


def test_apply_checks_the_plan_again_and_writes_nothing_when_it_no_longer_holds(
    bob, acme, globex, corp_idp, chain_a
):
    job = queue(acme, bob, chain_a, ["alice@example.com", "zed@example.com"])
    run_jobs()
    job.refresh_from_db()
    import_job_apply(job=job, by=bob)
    # Meanwhile another company proves example.com and maps one of the addresses.
    factories.VerifiedDomainFactory(tenant=globex, domain="example.com")
    factories.MappedUserFactory(
        route=factories.RouteFactory(tenant=globex), email="zed@example.com"
    )

    run_jobs()

    job.refresh_from_db()
    assert job.state == ImportJobState.FAILED and job.report["applied"] is False
    assert any("zed@example.com" in line for line in job.report["error_lines"])
    assert not Route.objects.filter(tenant=acme).exists()
    assert not MappedUser.objects.filter(tenant=acme).exists()
    assert stored_files() == []
    assert AuditEntry.objects.get(action="admin_import").outcome == AuditOutcome.FAILED


def test_an_apply_stopped_halfway_leaves_nothing_written(bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, [f"user{n}@example.com" for n in range(50)], routes=3)
    run_jobs()
    job.refresh_from_db()
    import_job_apply(job=job, by=bob)
    claimed = job_runner.job_claim("worker-a")
    assert claimed is not None and claimed.state == ImportJobState.APPLYING

    # The worker is told to shut down once the routes are written, before the mappings.
    job_runner.job_run(claimed, stopping=lambda: Route.objects.exists())

    assert not Route.objects.exists() and not MappedUser.objects.exists()
    assert not CertificateChain.objects.exists()
    assert not list(stored_names(default_storage, "chains"))
    claimed.refresh_from_db()
    # Queued again for another worker, the interrupted claim not counted against it
    # (the one claim left is the check's).
    assert (claimed.state, claimed.phase, claimed.attempts) == ("queued", "apply", 1)
    assert "was stopped" in claimed.message
    run_jobs()
    assert Route.objects.count() == 3 and MappedUser.objects.count() == 50


def test_only_a_checked_import_with_changes_can_be_applied(bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    with pytest.raises(Exception, match=NOT_APPLICABLE):
        import_job_apply(job=job, by=bob)  # not checked yet
    run_jobs()
    job.refresh_from_db()
    import_job_apply(job=job, by=bob)
    run_jobs()
    job.refresh_from_db()
    with pytest.raises(Exception, match=NOT_APPLICABLE):
        import_job_apply(job=job, by=bob)  # done


# --- Cancel ------------------------------------------------------------------------------------


def test_cancel_of_a_checked_import_deletes_its_files_and_is_audited(
    client, bob, acme, corp_idp, chain_a
):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    run_jobs()
    client.force_login(bob)

    response = client.post(f"{IMPORT_URL}{job.pk}/cancel/", follow=True)

    job.refresh_from_db()
    assert job.state == ImportJobState.CANCELLED and job.message.startswith("Cancelled by bob")
    assert stored_files() == []
    assert 'id="import-apply"' not in response.content.decode()
    entry = AuditEntry.objects.get(action="admin_import")
    assert entry.outcome == AuditOutcome.CANCELLED and entry.actor == "admin:bob"
    refused = client.post(f"{IMPORT_URL}{job.pk}/apply/", follow=True)
    assert NOT_APPLICABLE in refused.content.decode()
    run_jobs()
    assert not Route.objects.exists()


def test_a_queued_import_cancelled_is_never_run(bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    import_job_cancel(job=job, by=bob)
    assert "0 job(s) run" in run_jobs()
    job.refresh_from_db()
    assert job.state == ImportJobState.CANCELLED and job.report is None


def test_cancel_of_a_running_import_is_a_request_the_worker_honours(bob, acme, corp_idp, chain_a):
    queue(acme, bob, chain_a, ["alice@example.com"])
    job = job_runner.job_claim("worker-a")
    assert job is not None
    said = import_job_cancel(job=job, by=bob)
    assert "Cancelling" in said
    progress = job_runner.JobProgress(lambda: None)
    heartbeat = job_runner.Heartbeat(job, progress)
    heartbeat.beat()
    assert heartbeat.cancelled


def test_only_the_uploader_or_an_operator_may_cancel(bob, alice, operator, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    with pytest.raises(Exception, match="Only bob, who uploaded this file"):
        import_job_cancel(job=job, by=alice)
    import_job_cancel(job=job, by=operator)
    job.refresh_from_db()
    assert job.state == ImportJobState.CANCELLED


# --- Workers that die, stop, or race ---------------------------------------------------------


def test_a_job_whose_worker_died_is_queued_again_and_finished(bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    assert job_runner.job_claim("dead-worker") is not None
    ImportJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(minutes=10)
    )

    run_jobs()

    job.refresh_from_db()
    assert job.state == ImportJobState.CHECKED and job.attempts == 2
    assert job.worker != "dead-worker"


def test_a_job_whose_workers_keep_dying_fails_clearly(bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportJobState.RUNNING,
        attempts=job_runner.MAX_ATTEMPTS,
        worker="host:42:abc",
        heartbeat_at=timezone.now() - dt.timedelta(minutes=10),
    )

    run_jobs()

    job.refresh_from_db()
    assert job.state == ImportJobState.FAILED
    assert job.message.startswith("Failed: the workers running this import stopped 3 times")
    assert "host:42:abc" in job.message and "import_routes" in job.message
    assert stored_files() == []
    assert AuditEntry.objects.get(action="admin_import").outcome == AuditOutcome.FAILED


def test_a_worker_taken_for_dead_writes_nothing_over_the_new_claim(bob, acme, corp_idp, chain_a):
    queue(acme, bob, chain_a, ["alice@example.com"])
    old = job_runner.job_claim("slow-worker")
    assert old is not None
    ImportJob.objects.filter(pk=old.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(minutes=10)
    )
    job_runner.jobs_recover_stale()
    new = job_runner.job_claim("new-worker")
    assert new is not None and new.attempts == 2
    heartbeat = job_runner.Heartbeat(old, job_runner.JobProgress(lambda: None))
    heartbeat.beat()
    assert heartbeat.lost  # the slow worker's next progress step would stop its import

    job_runner.job_run(old)  # the slow worker finally runs its (lost) claim

    new.refresh_from_db()
    assert (new.state, new.worker, new.report) == (ImportJobState.RUNNING, "new-worker", None)


def test_run_jobs_stops_gracefully_on_sigterm():
    before = signal.getsignal(signal.SIGTERM)

    def terminate_once_listening() -> None:
        # Never before run_jobs has its handler: the default one would end the test run.
        deadline = time.monotonic() + 10
        while signal.getsignal(signal.SIGTERM) is before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Thread(target=terminate_once_listening)
    timer.start()
    started = time.monotonic()
    out = StringIO()
    call_command("run_jobs", "--poll", "0.1", stdout=out)
    timer.join()
    assert time.monotonic() - started < 10
    assert "waiting for jobs" in out.getvalue()
    assert signal.getsignal(signal.SIGTERM) is before


# --- Housekeeping ----------------------------------------------------------------------------


def test_checked_imports_nobody_applies_expire(settings, bob, acme, corp_idp, chain_a):
    settings.IMPORT_JOB_PENDING_HOURS = 24
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    run_jobs()
    ImportJob.objects.filter(pk=job.pk).update(checked_at=timezone.now() - dt.timedelta(hours=25))
    assert job_runner.jobs_expire() == 1
    job.refresh_from_db()
    assert job.state == ImportJobState.CANCELLED and "not applied within 24 hours" in job.message
    assert stored_files() == []


def test_the_sweep_deletes_old_files_no_job_needs(bob, acme, corp_idp, chain_a):
    live = queue(acme, bob, chain_a, ["alice@example.com"])
    orphan = default_storage.save(f"{JOB_FOLDER}/acme/killed/routes.json", StringIO("{}"))
    recent = default_storage.save(f"{JOB_FOLDER}/acme/uploading/routes.json", StringIO("{}"))
    hours_ago = time.time() - 2 * 3600
    os.utime(default_storage.path(orphan), (hours_ago, hours_ago))
    os.utime(default_storage.path(live.file.name), (hours_ago, hours_ago))

    swept = job_runner.job_files_sweep()

    assert swept == [orphan]
    assert default_storage.exists(live.file.name) and default_storage.exists(recent)


# --- Who sees which job ------------------------------------------------------------------------


def test_another_companys_staff_never_reach_a_job(client, mallory, bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    client.force_login(mallory)
    for suffix in ("", "status/"):
        assert client.get(f"{IMPORT_URL}{job.pk}/{suffix}").status_code == 404
    for suffix in ("apply/", "cancel/"):
        assert client.post(f"{IMPORT_URL}{job.pk}/{suffix}").status_code == 404
    assert client.get(f"{IMPORT_URL}987654/").status_code == 404
    listing = client.get(IMPORT_URL)
    assert job not in listing.context["jobs"] and "routes.json" not in listing.content.decode()
    job.refresh_from_db()
    assert job.state == ImportJobState.QUEUED


def test_staff_of_the_company_and_operators_see_its_jobs(
    client, alice, operator, bob, acme, corp_idp, chain_a
):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    for viewer in (alice, operator):
        client.force_login(viewer)
        assert client.get(f"{IMPORT_URL}{job.pk}/").status_code == 200
        assert job in client.get(IMPORT_URL).context["jobs"]


def test_an_account_admin_reaches_no_job(client, carol, bob, acme, corp_idp, chain_a):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    client.force_login(carol)
    assert client.get(f"{IMPORT_URL}{job.pk}/status/").status_code in (302, 403)


# --- Several workers (PostgreSQL row locks) ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL locks (CI's second pass)"
)
def test_two_workers_never_run_one_job_twice(chain_a):
    acme = factories.ActiveTenantFactory(slug="acme")
    factories.IdentityProviderFactory(tenant=acme, name="Corp Entra")
    bob = factories.UserFactory(username="bob")
    # A job acts for its uploader, who must still hold an import role when it runs.
    factories.MembershipFactory(tenant=acme, user=bob, email=bob.email, role="obs_admin")
    jobs = [queue(acme, bob, chain_a, [f"user{n}@example.com"]) for n in range(8)]
    barrier = threading.Barrier(2)
    ran: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            worker = job_runner.Worker(poll=0.1)
            barrier.wait(timeout=10)
            ran.append(worker.run(once=True))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors and sum(ran) == len(jobs)
    states = ImportJob.objects.values_list("state", "attempts")
    assert sorted(states) == [(ImportJobState.CHECKED, 1)] * len(jobs)
