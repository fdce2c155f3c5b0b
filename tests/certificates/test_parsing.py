"""Reading chain files: the block formats a whole-file verdict test does not reach."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization

from certificates.parsing import read_chain_file
from certificates.report import PRIVATE_KEY, UNPARSEABLE
from tests import pki


def problems(data: bytes) -> list[tuple[str, int | None]]:
    return [(p.code, p.block) for p in read_chain_file(data).errors]


def pem_block(label: str, der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def test_an_openssl_trusted_certificate_is_read_without_its_trust_settings():
    root = pki.issue("Trusted Root")
    # SEQUENCE { OID serverAuth }: the trust settings OpenSSL appends after the certificate.
    trust = bytes.fromhex("300a06082b06010505070301")

    reading = read_chain_file(pem_block("TRUSTED CERTIFICATE", root.der + trust).encode())

    assert reading.errors == []
    assert [p.cert for p in reading.certs] == [root.cert]


def test_a_cut_off_private_key_is_still_named_a_private_key_and_not_repeated():
    root = pki.issue("Example Root")
    key_lines = root.key_pem.splitlines()
    cut_off = "\n".join(key_lines[:3]) + "\n"

    reading = read_chain_file((root.pem + cut_off).encode())

    assert [(p.code, p.block) for p in reading.errors] == [(PRIVATE_KEY, 2)]
    assert key_lines[1] not in reading.errors[0].message
    assert len(reading.certs) == 1


def test_an_encrypted_der_private_key_is_refused_as_a_private_key():
    key = pki.rsa_key()
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )

    assert problems(der) == [(PRIVATE_KEY, 1)]


def test_an_end_line_without_its_begin_is_text_around_the_blocks():
    root = pki.issue("Example Root")

    reading = read_chain_file(("-----END CERTIFICATE-----\n" + root.pem).encode())

    assert reading.errors == []
    assert [p.block for p in reading.certs] == [1]


def test_a_pkcs7_block_that_is_no_bundle_is_unparseable():
    data = (pki.issue("Example Root").pem + pem_block("PKCS7", b"\x30\x03\x02\x01\x01")).encode()

    reading = read_chain_file(data)

    assert [(p.code, p.block) for p in reading.errors] == [(UNPARSEABLE, 2)]
    assert "not a readable PKCS#7 bundle" in reading.errors[0].message
