"""The chain validation service: what is accepted, refused or warned about, and why."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certificates.validation import (
    CODES,
    DUPLICATE,
    EXPIRED,
    EXPIRING_SOON,
    NO_CERTIFICATE,
    NON_CA,
    NOT_YET_VALID,
    PRIVATE_KEY,
    SHA1,
    TOO_LARGE,
    UNLINKED,
    UNPARSEABLE,
    WEAK_KEY,
    inspect_chain_bytes,
)
from tests import pki


def codes(problems) -> list[tuple[str, int | None]]:
    return [(p.code, p.block) for p in problems]


@pytest.fixture(scope="module")
def ums_chain() -> list[pki.Issued]:
    """Root, intermediate and the UMS server certificate, root first."""
    return pki.chain(intermediates=1, leaf="ums.example.com")


@pytest.fixture(scope="module")
def root(ums_chain):
    return ums_chain[0]


@pytest.fixture(scope="module")
def intermediate(ums_chain):
    return ums_chain[1]


@pytest.fixture(scope="module")
def leaf(ums_chain):
    return ums_chain[2]


# --- Accepted shapes ---------------------------------------------------------------


def test_it_accepts_a_root_and_intermediate_and_orders_them_root_first(root, intermediate):
    report = inspect_chain_bytes((intermediate.pem + root.pem).encode())

    assert report.accepted
    assert report.errors == [] and report.warnings == []
    assert [c.subject for c in report.certificates] == [
        "O=Example,CN=Example Root CA",
        "O=Example,CN=Example Intermediate CA 1",
    ]
    assert [c.block for c in report.certificates] == [2, 1]
    assert report.pem == root.pem + intermediate.pem


def test_it_reads_text_around_blocks_crlf_a_bom_and_indented_lines(root, intermediate):
    indented = "".join("    " + line + "\n" for line in intermediate.pem.splitlines())
    text = (
        "Bag Attributes\n    friendlyName: ums\nsubject=CN = Example Root CA\n"
        + root.pem
        + "\nsome notes in between\n"
        + indented
        + "trailing text"
    )
    data = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()

    report = inspect_chain_bytes(data)

    assert report.accepted, report.errors
    assert len(report.certificates) == 2


def test_it_accepts_a_single_der_root(root):
    report = inspect_chain_bytes(root.der)

    assert report.accepted
    assert report.certificates[0].self_signed
    assert report.certificates[0].block == 1


@pytest.mark.parametrize("pem", [True, False], ids=["pem", "der"])
def test_it_accepts_a_pkcs7_bundle(root, intermediate, pem):
    report = inspect_chain_bytes(pki.p7b([intermediate, root], pem=pem))

    assert report.accepted, report.errors
    assert [c.subject for c in report.certificates][0] == "O=Example,CN=Example Root CA"
    assert len(report.certificates) == 2


def test_it_describes_each_certificate_as_the_ums_shows_it(root):
    info = inspect_chain_bytes(root.pem.encode()).certificates[0]

    expected = root.cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert info.sha256 == expected
    assert len(info.sha256.split(":")) == 32
    assert info.key == "RSA 2048"
    assert info.is_ca and info.self_signed
    assert info.serial == format(root.cert.serial_number, "X")
    assert info.not_after == root.cert.not_valid_after_utc


def test_it_names_ec_keys_by_curve():
    ec_root = pki.issue("EC Root", key=pki.ec_key())

    report = inspect_chain_bytes(ec_root.pem.encode())

    assert report.accepted
    assert report.certificates[0].key == "EC P-256"


def test_its_json_has_exactly_the_shape_of_the_spec(root, leaf, intermediate):
    report = inspect_chain_bytes((root.pem + intermediate.pem + leaf.pem + leaf.pem).encode())

    data = json.loads(json.dumps(report.as_json()))

    assert set(data) == {"accepted", "certificates", "errors", "warnings"}
    assert data["accepted"] is False
    assert set(data["certificates"][0]) == {
        "subject",
        "issuer",
        "serial",
        "not_before",
        "not_after",
        "sha256",
        "is_ca",
        "self_signed",
        "key",
    }
    assert data["certificates"][0]["not_before"].endswith("Z")
    assert data["errors"] == [
        {"code": "duplicate", "block": 4, "message": data["errors"][0]["message"]}
    ]
    assert {p["code"] for p in data["errors"] + data["warnings"]} <= set(CODES)


def test_it_refuses_an_unknown_target(root):
    with pytest.raises(ValueError):
        inspect_chain_bytes(root.pem.encode(), target="rdp")


# --- Refused outright ------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n", b"hello world", b"\x00\x01\x02garbage"])
def test_it_refuses_a_file_without_certificates(data):
    report = inspect_chain_bytes(data)

    assert not report.accepted
    assert codes(report.errors) == [(NO_CERTIFICATE, None)]


@pytest.mark.parametrize(
    "key_pem",
    [
        lambda k: pki.rsa_key_pem(k),
        lambda k: pki.rsa_key_pem(k, traditional=True),
        lambda k: pki.rsa_key_pem(k, password=b"secret"),
        lambda k: (
            pki.ec_key()
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            .decode()
        ),
    ],
    ids=["pkcs8", "rsa", "encrypted", "ec"],
)
def test_it_refuses_a_private_key_and_never_repeats_it(root, intermediate, key_pem):
    key_text = key_pem(intermediate.key)
    report = inspect_chain_bytes((root.pem + intermediate.pem + key_text).encode())

    assert not report.accepted
    assert codes(report.errors) == [(PRIVATE_KEY, 3)]
    assert "must not contain private keys" in report.errors[0].message
    dumped = json.dumps(report.as_json()) + report.pem
    for line in key_text.splitlines()[1:-1]:
        if len(line) > 20:
            assert line not in dumped


def test_it_refuses_a_der_private_key(intermediate):
    der = intermediate.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    report = inspect_chain_bytes(der)

    assert (PRIVATE_KEY, 1) in codes(report.errors)


@pytest.mark.parametrize("password", [None, b"secret"], ids=["open", "encrypted"])
def test_it_refuses_a_pkcs12_file(leaf, password):
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    data = pkcs12.serialize_key_and_certificates(b"ums", leaf.key, leaf.cert, None, encryption)

    report = inspect_chain_bytes(data)

    assert (PRIVATE_KEY, 1) in codes(report.errors)


def test_it_refuses_a_block_with_damaged_base64(root, intermediate):
    broken = intermediate.pem.replace("\n", "\n!!", 2)

    report = inspect_chain_bytes((root.pem + broken).encode())

    assert codes(report.errors) == [(UNPARSEABLE, 2)]


def test_it_refuses_a_block_that_is_not_a_certificate(root):
    bogus = "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"

    report = inspect_chain_bytes((root.pem + bogus).encode())

    assert codes(report.errors) == [(UNPARSEABLE, 2)]
    assert "Block 2" in report.errors[0].message


def test_it_refuses_a_cut_off_file(root, intermediate):
    cut = intermediate.pem[: len(intermediate.pem) // 2]

    report = inspect_chain_bytes((root.pem + cut).encode())

    assert codes(report.errors) == [(UNPARSEABLE, 2)]
    assert "no matching END" in report.errors[0].message


def test_a_cut_off_block_does_not_swallow_the_certificate_after_it(root):
    cut = "-----BEGIN CERTIFICATE-----\nMIIB\n"

    report = inspect_chain_bytes((cut + root.pem).encode())

    assert codes(report.errors) == [(UNPARSEABLE, 1)]
    assert "no matching END" in report.errors[0].message
    assert [c.block for c in report.certificates] == [2]


def test_a_file_of_begin_lines_without_end_reports_each_block_once():
    # Each BEGIN used to search the rest of the file for its END (quadratic: minutes for
    # 1 MiB of these). bench/chain_bench.py measures the time; this checks the verdict.
    data = b"-----BEGIN CERTIFICATE-----\n" * 2000

    report = inspect_chain_bytes(data, max_certificates=10**6)

    assert codes(report.errors)[:3] == [(NO_CERTIFICATE, None), (UNPARSEABLE, 1), (UNPARSEABLE, 2)]
    assert len([p for p in report.errors if p.code == UNPARSEABLE]) == 2000


def test_an_unsorted_pkcs7_bundle_as_openssl_writes_it_is_read_without_a_warning(
    root, intermediate
):
    data = pki.p7b_unsorted([root, intermediate])
    with pytest.warns(UserWarning, match="could not be parsed as DER"):
        pkcs7.load_der_pkcs7_certificates(data)  # the shape openssl crl2pkcs7 writes

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would land on inspect_chain's stderr
        report = inspect_chain_bytes(data)

    assert report.accepted, report.errors
    assert len(report.certificates) == 2


def test_it_refuses_other_pem_blocks(root):
    csr = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"

    report = inspect_chain_bytes((csr + root.pem).encode())

    assert codes(report.errors) == [(UNPARSEABLE, 1)]


def test_it_refuses_the_same_certificate_twice(root, intermediate):
    report = inspect_chain_bytes((root.pem + intermediate.pem + root.pem).encode())

    assert codes(report.errors) == [(DUPLICATE, 3)]
    assert "same certificate as block 1" in report.errors[0].message
    assert len(report.certificates) == 2


def test_it_refuses_a_file_over_the_size_limit_without_reading_it(root):
    report = inspect_chain_bytes(root.pem.encode(), max_bytes=100)

    assert codes(report.errors) == [(TOO_LARGE, None)]
    assert report.certificates == []


def test_the_size_limit_comes_from_settings(settings, root):
    settings.CERTIFICATE_CHAIN_MAX_BYTES = 50

    assert codes(inspect_chain_bytes(root.pem.encode()).errors) == [(TOO_LARGE, None)]


def test_a_file_with_more_certificates_than_the_limit_is_refused_before_judging_them(
    root, intermediate, leaf
):
    data = (root.pem + intermediate.pem + leaf.pem + pki.rsa_key_pem(leaf.key)).encode()

    report = inspect_chain_bytes(data, max_certificates=3)

    assert codes(report.errors) == [(TOO_LARGE, None), (PRIVATE_KEY, 4)]
    assert "at most 3 certificates" in report.errors[0].message
    assert report.certificates == []


def test_the_certificate_limit_comes_from_settings(settings, root, intermediate):
    settings.CERTIFICATE_CHAIN_MAX_CERTIFICATES = 1

    report = inspect_chain_bytes((root.pem + intermediate.pem).encode())

    assert codes(report.errors) == [(TOO_LARGE, None)]


# --- Linking ------------------------------------------------------------------------------


def test_it_refuses_a_chain_without_its_root(intermediate):
    report = inspect_chain_bytes(intermediate.pem.encode())

    assert codes(report.errors) == [(UNLINKED, 1)]
    assert "not in the file" in report.errors[0].message


def test_it_refuses_a_certificate_whose_signature_does_not_verify(intermediate):
    impostor_root = pki.issue("Example Root CA", key=pki.rsa_key(fresh=True))

    report = inspect_chain_bytes((impostor_root.pem + intermediate.pem).encode())

    assert codes(report.errors) == [(UNLINKED, 2)]
    assert "does not verify" in report.errors[0].message


def test_it_refuses_certificates_that_sign_each_other_without_a_root():
    key_a, key_b = pki.rsa_key(), pki.rsa_key()
    a0 = pki.issue("A", key=key_a)
    b = pki.issue("B", issuer=a0, key=key_b)
    a = pki.issue("A", issuer=b, key=key_a)

    report = inspect_chain_bytes((a.pem + b.pem).encode())

    assert not report.accepted
    assert {p.code for p in report.errors} == {UNLINKED}


def test_it_accepts_a_cross_signed_intermediate_when_the_same_ca_also_links_to_a_root(root):
    key = pki.rsa_key()
    intermediate = pki.issue("Issuing CA", issuer=root, key=key)
    other_root = pki.issue("Other Root CA")
    cross = pki.issue("Issuing CA", issuer=other_root, key=key)
    leafless = root.pem + cross.pem + intermediate.pem

    report = inspect_chain_bytes(leafless.encode())

    assert report.accepted, report.errors
    assert codes(report.warnings) == [(UNLINKED, 2)]
    assert "cross-signed" in report.warnings[0].message


def test_it_accepts_a_cross_signed_intermediate_with_both_roots_present(root):
    key = pki.rsa_key()
    intermediate = pki.issue("Issuing CA", issuer=root, key=key)
    other_root = pki.issue("Other Root CA")
    cross = pki.issue("Issuing CA", issuer=other_root, key=key)
    server = pki.issue("ums.example.com", issuer=intermediate, ca=False)

    report = inspect_chain_bytes(
        (server.pem + cross.pem + other_root.pem + intermediate.pem + root.pem).encode()
    )

    assert report.accepted, report.errors
    assert [p.code for p in report.warnings] == [NON_CA]
    assert report.certificates[0].self_signed


# --- CA flag and target -------------------------------------------------------------


def test_a_leaf_included_by_mistake_is_a_warning_for_a_ums(root, intermediate, leaf):
    report = inspect_chain_bytes((leaf.pem + intermediate.pem + root.pem).encode(), target="ums")

    assert report.accepted
    assert codes(report.warnings) == [(NON_CA, 1)]
    assert report.certificates[-1].subject == "O=Example,CN=ums.example.com"


def test_the_end_certificate_is_an_error_for_an_icg(root, intermediate, leaf):
    report = inspect_chain_bytes((root.pem + intermediate.pem + leaf.pem).encode(), target="icg")

    assert not report.accepted
    assert codes(report.errors) == [(NON_CA, 3)]
    assert "except the end certificate" in report.errors[0].message


def test_a_non_ca_that_issues_other_certificates_is_an_error(root):
    not_a_ca = pki.issue("Pretend CA", issuer=root, ca=False)
    below = pki.issue("Below", issuer=not_a_ca)

    report = inspect_chain_bytes((root.pem + not_a_ca.pem + below.pem).encode())

    assert (NON_CA, 2) in codes(report.errors)


def test_a_version_1_root_that_issues_an_intermediate_is_accepted_with_a_warning():
    # OpenSSL (the devices' TLS) treats a self-signed v1 certificate as a CA.
    v1_root = pki.issue_without_extensions("Old V1 Root", version1=True)
    below = pki.issue("Issuing CA", issuer=v1_root)

    report = inspect_chain_bytes((below.pem + v1_root.pem).encode())

    assert report.accepted, report.errors
    assert codes(report.warnings) == [(NON_CA, 2)]
    assert "version 1 root" in report.warnings[0].message
    assert [c.subject for c in report.certificates] == [
        "CN=Old V1 Root",
        below.cert.subject.rfc4514_string(),
    ]


def test_a_v3_root_without_basic_constraints_that_issues_an_intermediate_is_an_error():
    # Unlike a v1 root, OpenSSL refuses this one as an issuer ("invalid CA certificate").
    v3_root = pki.issue_without_extensions("Bare V3 Root")
    below = pki.issue("Issuing CA", issuer=v3_root)

    report = inspect_chain_bytes((v3_root.pem + below.pem).encode())

    assert codes(report.errors) == [(NON_CA, 1)]


# --- Validity -------------------------------------------------------------------------


def test_an_expired_root_is_an_error():
    old = pki.issue("Old Root", not_before=pki.now() - dt.timedelta(days=400), days=365)

    report = inspect_chain_bytes(old.pem.encode())

    assert codes(report.errors) == [(EXPIRED, 1)]


def test_an_expired_intermediate_is_an_error(root):
    old = pki.issue(
        "Old Intermediate", issuer=root, not_before=pki.now() - dt.timedelta(days=30), days=10
    )

    report = inspect_chain_bytes((root.pem + old.pem).encode())

    assert codes(report.errors) == [(EXPIRED, 2)]


def test_an_expired_copy_of_a_renewed_intermediate_is_only_a_warning(root):
    key = pki.rsa_key()
    old = pki.issue(
        "Issuing CA", issuer=root, key=key, not_before=pki.now() - dt.timedelta(days=30), days=10
    )
    renewed = pki.issue("Issuing CA", issuer=root, key=key)

    report = inspect_chain_bytes((root.pem + old.pem + renewed.pem).encode())

    assert report.accepted, report.errors
    assert codes(report.warnings) == [(EXPIRED, 2)]


def test_a_certificate_not_yet_valid_is_an_error(root):
    future = pki.issue("Future CA", issuer=root, not_before=pki.now() + dt.timedelta(days=2))

    report = inspect_chain_bytes((root.pem + future.pem).encode())

    assert codes(report.errors) == [(NOT_YET_VALID, 2)]


def test_a_certificate_expiring_within_the_warning_period_is_a_warning(settings, root):
    settings.CERTIFICATE_EXPIRY_WARNING_DAYS = 30
    soon = pki.issue("Soon CA", issuer=root, days=10)

    report = inspect_chain_bytes((root.pem + soon.pem).encode())

    assert report.accepted
    assert codes(report.warnings) == [(EXPIRING_SOON, 2)]


def test_the_clock_can_be_given(root):
    later = root.cert.not_valid_after_utc + dt.timedelta(days=1)

    assert codes(inspect_chain_bytes(root.pem.encode(), now=later).errors) == [(EXPIRED, 1)]


# --- Strength -------------------------------------------------------------------------


def test_an_rsa_key_under_2048_bits_is_an_error(root):
    weak = pki.issue("Weak CA", issuer=root, key=pki.rsa_key(1024))

    report = inspect_chain_bytes((root.pem + weak.pem).encode())

    assert codes(report.errors) == [(WEAK_KEY, 2)]
    assert "RSA 1024" in report.errors[0].message


def test_a_sha1_signature_below_the_root_is_an_error(root):
    sha1 = pki.issue("SHA-1 CA", issuer=root, hash_algorithm=hashes.SHA1())  # noqa: S303

    report = inspect_chain_bytes((root.pem + sha1.pem).encode())

    assert codes(report.errors) == [(SHA1, 2)]


def test_a_self_signed_root_signed_with_sha1_is_only_a_warning():
    old_root = pki.issue("SHA-1 Root", hash_algorithm=hashes.SHA1())  # noqa: S303

    report = inspect_chain_bytes(old_root.pem.encode())

    assert report.accepted
    assert codes(report.warnings) == [(SHA1, 1)]


def test_a_der_file_cut_short_is_unparseable_not_without_a_certificate(root):
    # Issue 15 #15: a truncated download must say "damaged", as a cut-off PEM does.
    cut = root.der[: len(root.der) // 2]

    report = inspect_chain_bytes(cut)

    assert codes(report.errors) == [(UNPARSEABLE, 1)]
    assert "cut short" in report.errors[0].message
    assert f"{len(cut)} of {len(root.der)} bytes" in report.errors[0].message


def test_a_der_certificate_with_a_damaged_body_is_unparseable(root):
    damaged = root.der[:20] + bytes(len(root.der) - 20)

    report = inspect_chain_bytes(damaged)

    assert codes(report.errors) == [(UNPARSEABLE, 1)]


def test_a_binary_file_that_is_no_der_still_has_no_certificate():
    report = inspect_chain_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))

    assert codes(report.errors) == [(NO_CERTIFICATE, None)]
