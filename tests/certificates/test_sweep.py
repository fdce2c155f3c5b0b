"""sweep_chain_files: orphan chain files (a killed import) are found, and deleted on request."""

from __future__ import annotations

import os
import time
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from tests import factories

pytestmark = pytest.mark.django_db


def _orphan(name: str, *, age_minutes: int) -> str:
    stored = default_storage.save(name, ContentFile(b"-----BEGIN CERTIFICATE-----\n"))
    when = time.time() - age_minutes * 60
    os.utime(default_storage.path(stored), (when, when))
    return stored


def _sweep(*args: str) -> str:
    out = StringIO()
    call_command("sweep_chain_files", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_lists_orphans_and_deletes_nothing(acme):
    chain = factories.CertificateChainFactory(tenant=acme)
    old = _orphan("chains/acme/killed-import.pem", age_minutes=120)
    output = _sweep()
    assert f"orphan: {old}" in output
    assert chain.file.name not in output
    assert "1 orphan chain file(s) found; nothing deleted (dry run)" in output
    assert default_storage.exists(old)


def test_delete_removes_only_old_orphans(acme):
    chain = factories.CertificateChainFactory(tenant=acme)
    old = _orphan("chains/acme/killed-import.pem", age_minutes=120)
    fresh = _orphan("chains/acme/upload-committing-now.pem", age_minutes=1)
    output = _sweep("--delete")
    assert f"deleted: {old}" in output
    assert not default_storage.exists(old)
    assert default_storage.exists(fresh)  # may belong to an upload still in its transaction
    assert default_storage.exists(chain.file.name)


def test_an_empty_storage_has_no_orphans(db):
    assert "0 orphan chain file(s) found" in _sweep()


def test_a_negative_age_is_refused():
    with pytest.raises(CommandError, match="--older-than must be 0 or more"):
        _sweep("--older-than", "-1")
