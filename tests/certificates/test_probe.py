"""The route probe against real TLS servers on 127.0.0.1 with certificates made here."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time

import pytest

from certificates.probe import hostname_matches, probe, probe_chain
from certificates.services import chain_create
from tests import pki
from tests.tls_server import tls_server


@pytest.fixture(scope="module")
def pki_tree() -> dict[str, pki.Issued]:
    root = pki.issue("UMS Root CA", days=3650)
    intermediate = pki.issue("UMS Issuing CA", issuer=root, days=1825)
    good = pki.issue(
        "ums.example.com", issuer=intermediate, ca=False, san=["localhost", "127.0.0.1"]
    )
    stranger_root = pki.issue("Someone Else Root")
    stranger = pki.issue("stranger", issuer=stranger_root, ca=False, san=["localhost", "127.0.0.1"])
    expired = pki.issue(
        "old.example.com",
        issuer=intermediate,
        ca=False,
        san=["localhost", "127.0.0.1"],
        not_before=pki.now() - dt.timedelta(days=400),
        days=365,
    )
    wrong_name = pki.issue("other", issuer=intermediate, ca=False, san=["ums.example.org"])
    return {
        "root": root,
        "intermediate": intermediate,
        "good": good,
        "stranger": stranger,
        "expired": expired,
        "wrong_name": wrong_name,
    }


@pytest.fixture
def uploaded(pki_tree) -> str:
    return pki_tree["root"].pem + pki_tree["intermediate"].pem


def test_a_server_chaining_to_the_uploaded_root_passes(tmp_path, pki_tree, uploaded):
    with tls_server(tmp_path, [pki_tree["good"], pki_tree["intermediate"]]) as port:
        report = probe("127.0.0.1", port, uploaded, timeout=3)

    assert report.reachable
    assert report.chains_to_uploaded_roots, report.verification_error
    assert report.hostname_matches
    assert report.ok
    assert report.leaf_subject == "O=Example,CN=ums.example.com"
    assert report.leaf_san == ["localhost", "127.0.0.1"]
    assert report.leaf_not_after == pki_tree["good"].cert.not_valid_after_utc
    assert len(report.presented) == 2
    assert tls_server.received == [b""]  # nothing sent after the handshake


def test_the_uploaded_intermediates_fill_in_when_the_server_sends_only_its_leaf(
    tmp_path, pki_tree, uploaded
):
    with tls_server(tmp_path, [pki_tree["good"]]) as port:
        report = probe("localhost", port, uploaded, timeout=3)

    assert report.ok, report.lines()


def test_a_server_with_a_chain_from_another_root_fails(tmp_path, pki_tree, uploaded):
    with tls_server(tmp_path, [pki_tree["stranger"]]) as port:
        report = probe("127.0.0.1", port, uploaded, timeout=3)

    assert report.reachable
    assert not report.chains_to_uploaded_roots
    assert report.hostname_matches
    assert report.verification_error
    assert any("NO" in line for line in report.lines())


def test_a_missing_intermediate_is_named_in_the_verdict(tmp_path, pki_tree):
    # The server sends only its leaf and the upload holds only the root.
    with tls_server(tmp_path, [pki_tree["good"]]) as port:
        report = probe("127.0.0.1", port, pki_tree["root"].pem, timeout=3)

    assert not report.chains_to_uploaded_roots
    assert "issued by O=Example,CN=UMS Issuing CA" in report.verification_error
    assert "intermediate is missing" in report.verification_error


def test_a_self_signed_server_certificate_that_is_not_pinned_is_named_as_such(tmp_path, uploaded):
    server = pki.issue("ums.local", ca=False, san=["127.0.0.1"])
    with tls_server(tmp_path, [server]) as port:
        report = probe("127.0.0.1", port, uploaded, timeout=3)

    assert not report.chains_to_uploaded_roots
    assert "self-signed certificate that is not in the uploaded chain" in (
        report.verification_error
    )


def test_an_expired_server_certificate_fails_and_says_so(tmp_path, pki_tree, uploaded):
    with tls_server(tmp_path, [pki_tree["expired"], pki_tree["intermediate"]]) as port:
        report = probe("127.0.0.1", port, uploaded, timeout=3)

    assert report.reachable
    assert report.leaf_expired
    assert not report.chains_to_uploaded_roots
    assert "expired" in report.verification_error
    assert "(EXPIRED)" in "\n".join(report.lines())


def test_a_hostname_mismatch_is_reported_separately(tmp_path, pki_tree, uploaded):
    with tls_server(tmp_path, [pki_tree["wrong_name"], pki_tree["intermediate"]]) as port:
        report = probe("127.0.0.1", port, uploaded, timeout=3)

    assert report.chains_to_uploaded_roots, report.verification_error
    assert not report.hostname_matches
    assert not report.ok


def test_a_closed_port_is_not_reachable(uploaded):
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    report = probe("127.0.0.1", port, uploaded, timeout=1)

    assert not report.reachable
    assert report.error
    assert "not reachable" in report.lines()[0]


def test_private_addresses_are_refused_in_production(settings, uploaded):
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = []

    report = probe("127.0.0.1", 8443, uploaded, timeout=1)

    assert not report.reachable
    assert "non-public" in report.error


def test_an_allowed_private_host_is_probed_in_production(settings, tmp_path, pki_tree, uploaded):
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.0/8"]
    with tls_server(tmp_path, [pki_tree["good"], pki_tree["intermediate"]]) as port:
        report = probe("127.0.0.1", port, uploaded, timeout=3)

    assert report.ok


def test_probe_chain_uses_a_stored_chain(acme, tmp_path, pki_tree, uploaded):
    chain = chain_create(tenant=acme, name="UMS", data=uploaded.encode(), filename="c.pem")
    with tls_server(tmp_path, [pki_tree["good"], pki_tree["intermediate"]]) as port:
        report = probe_chain(chain, "127.0.0.1", port, timeout=3)

    assert report.ok


def test_a_self_signed_server_certificate_pinned_directly_passes(tmp_path):
    server = pki.issue("ums.local", ca=False, san=["127.0.0.1"])
    with tls_server(tmp_path, [server]) as port:
        report = probe("127.0.0.1", port, server.pem, timeout=3)

    assert report.ok, report.lines()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("ums.example.com", True),
        ("UMS.Example.com", True),
        ("a.wild.example.com", True),
        ("a.b.wild.example.com", False),
        ("wild.example.com", False),
        ("10.0.0.5", True),
        ("10.0.0.6", False),
        ("Example Root CA", False),
    ],
)
def test_hostname_matching_follows_rfc_6125(host, expected):
    cert = pki.issue(
        "ums", ca=False, san=["ums.example.com", "*.wild.example.com", "10.0.0.5"]
    ).cert

    assert hostname_matches(cert, host) is expected


def test_a_server_dripping_its_handshake_is_cut_off_at_the_probe_timeout(uploaded):
    # Sends one byte of a TLS record every 0.2 s, so every single read succeeds within
    # the socket timeout; the probe still ends because CPython applies a socket's
    # timeout to the whole TLS handshake as one deadline.
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            for byte in b"\x16\x03\x03\x40\x00" + b"\x02" * 200:
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        report = probe("127.0.0.1", listener.getsockname()[1], uploaded, timeout=1.0)
    finally:
        stop.set()
        listener.close()
    # Without the deadline this takes the drip's 40 s; the bound is generous for slow CI.
    assert time.monotonic() - started < 10
    assert not report.reachable
    assert "timed out" in report.error
