"""Import jobs on S3 storage (a real S3 HTTP server on loopback, as in production).

The worker reads the stored file as the HTTP body arrives (``common.storage.open_stream``)
instead of django-storages' download into memory, and deletes it when the job ends.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage

from common.storage import open_stream
from onboarding.import_jobs import import_job_cancel
from onboarding.models import ImportJobState
from tests.bulk.test_import_jobs import queue, routes_document, run_jobs
from tests.certificates.test_s3_storage import (  # noqa: F401 - fixtures used by name
    BUCKET,
    bucket,
    keys,
    s3_endpoint,
)

pytestmark = pytest.mark.django_db


def test_a_job_on_s3_is_streamed_checked_and_its_objects_deleted(
    bucket,  # noqa: F811 - the fixture imported above
    bob,
    acme,
    corp_idp,
    chain_a,
):
    job = queue(acme, bob, chain_a, ["alice@example.com"])
    stored = keys(bucket)
    assert stored == sorted(f"obs/{name}" for name in [job.file.name, *job.chain_files.values()])

    with open_stream(default_storage, job.file.name) as stream:
        assert isinstance(stream, io.BufferedReader)  # pieces of the body, not a copy
        assert stream.read(20) == routes_document(["alice@example.com"])[:20]
        assert stream.tell() == 20

    run_jobs()
    job.refresh_from_db()
    assert job.state == ImportJobState.CHECKED and job.report["counts"]["users_created"] == 1

    import_job_cancel(job=job, by=bob)
    assert keys(bucket) == []
