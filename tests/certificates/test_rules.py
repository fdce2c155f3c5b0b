"""The chain rules one at a time, for the cases a whole-file verdict does not reach."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ed25519
from cryptography.x509.oid import NameOID

from certificates.parsing import read_chain_file
from certificates.report import NON_CA, UNLINKED, WEAK_KEY
from certificates.rules import (
    ChainGraph,
    Finding,
    Judging,
    ca_flag,
    describe_key,
    is_root,
    judge,
    key_strength,
    links,
    no_rootless_loops,
)
from tests import pki


def judging_of(pem: str, *, target: str = "ums") -> Judging:
    reading = read_chain_file(pem.encode())
    assert not reading.errors
    return Judging(
        graph=ChainGraph.of(reading.certs),
        target=target,
        now=dt.datetime.now(dt.UTC),
        expiry_warning_days=30,
    )


def found(findings: list[Finding]) -> list[tuple[str, int | None, bool]]:
    return [(f.problem.code, f.problem.block, f.refuses) for f in findings]


def self_issued(name: str, key: Any, signer: Any, algorithm: Any) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = pki.now() - dt.timedelta(days=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(signer, algorithm)
    )


def test_a_chain_missing_its_root_blames_only_the_certificate_below_the_gap():
    root, intermediate, leaf = pki.chain(intermediates=1, leaf="ums.example.com")
    judging = judging_of(intermediate.pem + leaf.pem)

    assert found(list(links(judging, 0))) == [(UNLINKED, 1, True)]
    assert found(list(links(judging, 1))) == []
    # The leaf's issuer is in the file: the gap above it is already named once.
    assert found(list(no_rootless_loops(judging))) == []


def test_a_certificate_naming_itself_as_issuer_but_signed_by_another_key_is_no_root():
    key = pki.rsa_key(fresh=True)
    original = pki.issue("Example Self")
    impostor = pki.issue("Example Self", issuer=original, key=key)
    judging = judging_of(impostor.pem)

    assert not is_root(impostor.cert)
    [finding] = links(judging, 0)
    assert "names itself as issuer, but its signature does not verify" in finding.problem.message


def test_a_self_signed_v3_certificate_without_basic_constraints_issuing_nothing_is_a_warning():
    bare = pki.issue_without_extensions("Bare V3 Root")
    judging = judging_of(bare.pem, target="icg")

    [finding] = ca_flag(judging, 0)
    assert found([finding]) == [(NON_CA, 1, False)]
    assert "without basicConstraints" in finding.problem.message


def test_an_ed25519_chain_links_and_its_keys_are_never_weak():
    key = ed25519.Ed25519PrivateKey.generate()
    root = self_issued("Ed Root", key, key, None)
    pem = pki.Issued(root, key).pem
    judging = judging_of(pem)

    assert is_root(root)
    assert describe_key(root) == ("Ed25519", None)
    assert found(list(judge(judging))) == []


def test_a_dsa_key_under_2048_bits_is_weak():
    key = dsa.generate_private_key(key_size=1024)  # noqa: S505 - the point
    root = self_issued("DSA Root", key, key, hashes.SHA256())
    judging = judging_of(pki.Issued(root, key).pem)

    assert is_root(root)
    [finding] = key_strength(judging, 0)
    assert found([finding]) == [(WEAK_KEY, 1, True)]
    assert "DSA 1024" in finding.problem.message
