"""chain_check_upload: how every upload form and the import read and judge a chain file."""

from __future__ import annotations

import io

import pytest

from certificates.report import TOO_LARGE
from certificates.services import ChainRejected, chain_check_upload
from tests import pki


def test_a_file_is_read_only_one_byte_past_the_limit(settings):
    settings.CERTIFICATE_CHAIN_MAX_BYTES = 100
    upload = io.BytesIO(b"x" * 10_000)

    checked = chain_check_upload(upload, target="ums")

    assert len(checked.data) == 101
    assert upload.tell() == 101
    assert [(p.code, p.block) for p in checked.report.errors] == [(TOO_LARGE, None)]


def test_bytes_already_in_memory_are_judged_whole(settings):
    settings.CERTIFICATE_CHAIN_MAX_BYTES = 100
    data = b"x" * 10_000

    checked = chain_check_upload(data, target="ums")

    assert checked.data is data
    assert "10,000 bytes" in checked.report.errors[0].message


def test_an_accepted_file_gives_its_report_and_a_refused_one_raises():
    root = pki.issue("Example Root")
    accepted = chain_check_upload(io.BytesIO(root.pem.encode()), target="icg")
    refused = chain_check_upload(root.key_pem.encode(), target="ums")

    assert accepted.accepted
    assert accepted.accepted_report().pem == root.pem
    assert not refused.accepted
    with pytest.raises(ChainRejected) as excinfo:
        refused.accepted_report()
    assert excinfo.value.messages == refused.report.error_messages
