"""Read a chain file into certificates: PEM, DER, PKCS#7, and the keys it must not hold.

What it reads: PEM text with one or more blocks in any order and any text around them
(CRLF, a UTF-8 BOM and indented lines are fine), a single DER certificate, or a PKCS#7
bundle (``.p7b``) in PEM or DER form. Private keys (PEM blocks, DER keys, PKCS#12
files) are recognised so that they can be refused by name.

"Block" numbers are 1-based positions in the input: the n-th ``-----BEGIN ...-----``
block of a PEM file (whatever its type); in a PKCS#7 bundle the n-th certificate of
the bundle; a DER certificate is block 1. A PEM file holding a PKCS#7 block next to
other blocks numbers the bundle's certificates in place of that block.

Reading judges nothing about the chain; :mod:`certificates.rules` does.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from warnings import catch_warnings, filterwarnings

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from django.utils.translation import gettext_noop

from certificates.report import PRIVATE_KEY, UNPARSEABLE, Problem
from common.i18n import Phrase

_PEM_MARKER = re.compile(r"-----(?P<kind>BEGIN|END) (?P<label>[A-Z0-9][A-Z0-9 #/_.-]{0,63}?)-----")
_PEM_HEADER_LINE = re.compile(r"^[ \t]*[A-Za-z-]+:.*$", re.MULTILINE)
_CERT_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
_TRUSTED_LABEL = "TRUSTED CERTIFICATE"
_PKCS7_LABELS = frozenset({"PKCS7", "PKCS #7 SIGNED DATA", "CMS"})
_READABLE_LABELS = _CERT_LABELS | _PKCS7_LABELS | {_TRUSTED_LABEL}


@dataclass
class Parsed:
    """A certificate read from the file, with the block it came from."""

    block: int
    cert: x509.Certificate
    fingerprint: str  # SHA-256, upper-case colon hex, as the UMS shows it


@dataclass
class Reading:
    """What a file holds: its certificates and what could not be read (always errors)."""

    certs: list[Parsed] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    blocks: int = 0
    #: The whole file is one damaged DER structure: that is the verdict, not "no certificate".
    damaged_der: bool = False


def read_chain_file(data: bytes) -> Reading:
    """Every block of ``data``, PEM or DER. Never raises for bad input."""
    reading = Reading()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"-----BEGIN" in data:
        # latin-1 maps every byte, so stray non-UTF-8 text around the blocks cannot fail.
        _read_pem(data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n"), reading)
    else:
        _read_der(data, reading)
    return reading


def load_pem_certificates(pem: str) -> list[x509.Certificate]:
    """The certificates of a normalised chain (``CertificateChain.pem``)."""
    return x509.load_pem_x509_certificates(pem.encode("ascii")) if pem.strip() else []


# --- PEM -------------------------------------------------------------------------------


def _read_pem(text: str, reading: Reading) -> None:
    # One pass over the BEGIN/END lines, pairing each BEGIN with the marker right after
    # it. (Searching for each BEGIN's END with a regex rescans the rest of the file for
    # every unmatched BEGIN: quadratic, minutes of CPU for a 1 MiB upload of BEGIN lines.)
    markers = list(_PEM_MARKER.finditer(text))
    block = 1
    i = 0
    while i < len(markers):
        begin = markers[i]
        i += 1
        if begin.group("kind") != "BEGIN":
            continue  # an END without its BEGIN: text around the blocks
        label = begin.group("label")
        end = markers[i] if i < len(markers) else None
        if end is None or end.group("kind") != "END" or end.group("label") != label:
            reading.errors.append(_unterminated_block(block, label))
            block += 1
            continue
        i += 1
        block = _read_pem_block(label, text[begin.end() : end.start()], block, reading)
    reading.blocks = block - 1


def _unterminated_block(block: int, label: str) -> Problem:
    """A BEGIN line without its END: damaged or truncated (or a key, named as one)."""
    if "PRIVATE KEY" in label:
        return _private_key_problem(block, label)
    return Problem(
        UNPARSEABLE,
        block,
        Phrase(
            gettext_noop(
                "Block {block} starts with '-----BEGIN {label}-----' but has no matching END "
                "line; the file is damaged or cut off."
            ),
            block=block,
            label=label,
        ),
    )


def _read_pem_block(label: str, body: str, block: int, reading: Reading) -> int:
    """Read the complete PEM block numbered ``block``; return the next free block number."""
    if "PRIVATE KEY" in label:
        reading.errors.append(_private_key_problem(block, label))
        return block + 1
    if label not in _READABLE_LABELS:
        reading.errors.append(
            Problem(
                UNPARSEABLE,
                block,
                Phrase(
                    gettext_noop(
                        "Block {block} is a '{label}' block, not a certificate. The file may "
                        "contain only CERTIFICATE blocks (or a PKCS#7 bundle)."
                    ),
                    block=block,
                    label=label,
                ),
            )
        )
        return block + 1
    try:
        der = base64.b64decode("".join(_PEM_HEADER_LINE.sub("", body).split()), validate=True)
    except (binascii.Error, ValueError):
        reading.errors.append(
            Problem(
                UNPARSEABLE,
                block,
                Phrase(
                    gettext_noop("Block {block} ({label}) has damaged base64 content."),
                    block=block,
                    label=label,
                ),
            )
        )
        return block + 1
    if label in _PKCS7_LABELS:
        return _read_pkcs7(der, block, reading)
    if label == _TRUSTED_LABEL:
        # OpenSSL's format: the certificate followed by trust settings we ignore.
        length = _der_tlv_length(der)
        der = der[:length] if length else der
    _load_certificate(der, block, reading)
    return block + 1


# --- DER -------------------------------------------------------------------------------


def _read_der(data: bytes, reading: Reading) -> None:
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        pass
    else:
        _load_certificate(data, 1, reading)
        reading.blocks = 1
        return
    try:
        bundle: list[x509.Certificate] | None = _load_pkcs7(data)
    except (ValueError, UnsupportedAlgorithm):
        bundle = None
    if bundle is not None:
        reading.blocks = _add_bundle(bundle, 1, reading) - 1
        return
    problem = _unreadable_der(data)
    if problem is not None:
        reading.blocks = 1
        # A damaged certificate is the verdict on the file; a key is refused by name.
        reading.damaged_der = problem.code == UNPARSEABLE
        reading.errors.append(problem)


def _unreadable_der(data: bytes) -> Problem | None:
    """Why binary data that is neither a certificate nor a bundle is refused, if it is
    recognisably something (a key, a PKCS#12 file, a damaged certificate)."""
    if _looks_like_private_key_der(data):
        return _private_key_problem(1, Phrase(gettext_noop("DER-encoded key")))
    if _looks_like_pkcs12(data):
        # A .pfx/.p12 exists to carry a private key; even when it is password protected
        # (so we cannot look inside) it must not be stored.
        return Problem(
            PRIVATE_KEY,
            1,
            Phrase(
                gettext_noop(
                    "Block 1 is a PKCS#12 (.pfx/.p12) file, which carries a private key. The file "
                    "must not contain private keys: export only the certificates (PEM, DER or "
                    ".p7b). Nothing was stored."
                )
            ),
        )
    if _looks_like_der_structure(data):
        declared = _der_tlv_length(data) or 0
        detail = (
            Phrase(
                gettext_noop("it is cut short ({size} of {declared} bytes)"),
                size=str(len(data)),
                declared=str(declared),
            )
            if declared > len(data)
            else Phrase(gettext_noop("it does not parse as a certificate or a PKCS#7 bundle"))
        )
        return Problem(
            UNPARSEABLE,
            1,
            Phrase(
                gettext_noop(
                    "Block 1 is damaged DER data: {detail}. Export the certificates again."
                ),
                detail=detail,
            ),
        )
    return None


def _looks_like_private_key_der(data: bytes) -> bool:
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:  # "password was not given": an encrypted key
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def _looks_like_der_structure(data: bytes) -> bool:
    """A DER SEQUENCE with a long-form length, as every certificate or bundle starts.

    Such a file that reads as nothing is a damaged certificate (``unparseable``), not a
    file without one (``no_certificate``): a cut-off download is said as such, as a
    cut-off PEM already is. Text never starts like this (0x30 then a byte >= 0x81).
    """
    return len(data) >= 4 and data[0] == 0x30 and 0x81 <= data[1] <= 0x84


def _looks_like_pkcs12(data: bytes) -> bool:
    try:
        pkcs12.load_key_and_certificates(data, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Encrypted or damaged: a PFX is SEQUENCE { INTEGER 3, ContentInfo ... }.
        length = _der_tlv_length(data)
        header = 2 + (data[1] & 0x7F if len(data) > 1 and data[1] >= 0x80 else 0)
        return length == len(data) and data[header : header + 3] == b"\x02\x01\x03"
    return True


def _der_tlv_length(data: bytes) -> int | None:
    """Length of the first DER TLV in ``data`` (for OpenSSL's TRUSTED CERTIFICATE)."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big")


# --- Certificates and bundles ------------------------------------------------------------


def _load_certificate(der: bytes, block: int, reading: Reading) -> None:
    try:
        cert = x509.load_der_x509_certificate(der)
        # Touch the fields we report so a certificate that loads lazily but cannot be
        # read fails here, as unparseable, rather than later.
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
        _ = cert.not_valid_before_utc, cert.not_valid_after_utc, cert.extensions
        cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        reading.errors.append(
            Problem(
                UNPARSEABLE,
                block,
                Phrase(
                    gettext_noop("Block {block} is not a valid X.509 certificate ({error})."),
                    block=block,
                    error=_short(exc),
                ),
            )
        )
        return
    reading.certs.append(Parsed(block, cert, cert.fingerprint(hashes.SHA256()).hex(":").upper()))


def _load_pkcs7(der: bytes) -> list[x509.Certificate]:
    # ``openssl crl2pkcs7`` (how most .p7b files are made) writes the certificate SET
    # unsorted, which is BER, not DER; cryptography reads it but warns on stderr, which
    # would land in ``inspect_chain``'s output and in scripts parsing it.
    with catch_warnings():
        filterwarnings("ignore", message="PKCS#7 certificates could not be parsed as DER")
        return pkcs7.load_der_pkcs7_certificates(der)


def _read_pkcs7(der: bytes, first_block: int, reading: Reading) -> int:
    """Add the certificates of a PKCS#7 bundle; return the next free block number."""
    try:
        bundle = _load_pkcs7(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        reading.errors.append(
            Problem(
                UNPARSEABLE,
                first_block,
                Phrase(
                    gettext_noop("Block {block} is not a readable PKCS#7 bundle ({error})."),
                    block=first_block,
                    error=_short(exc),
                ),
            )
        )
        return first_block + 1
    return _add_bundle(bundle, first_block, reading)


def _add_bundle(bundle: list[x509.Certificate], first_block: int, reading: Reading) -> int:
    """Add a loaded bundle's certificates from ``first_block`` on; return the next free one."""
    if not bundle:
        reading.errors.append(
            Problem(
                UNPARSEABLE,
                first_block,
                Phrase(
                    gettext_noop("Block {block} is a PKCS#7 bundle without certificates."),
                    block=first_block,
                ),
            )
        )
        return first_block + 1
    for block, cert in enumerate(bundle, first_block):
        _load_certificate(cert.public_bytes(serialization.Encoding.DER), block, reading)
    return first_block + len(bundle)


def _private_key_problem(block: int, kind: str) -> Problem:
    # Never include any of the key's bytes: the message ends up in the admin, logs, JSON.
    return Problem(
        PRIVATE_KEY,
        block,
        Phrase(
            gettext_noop(
                "Block {block} is a private key ({kind}). The file must not contain private keys: "
                "upload only the certificates, and treat this key as exposed if it left the "
                "server. Nothing was stored."
            ),
            block=block,
            kind=kind,
        ),
    )


def _short(exc: Exception) -> str:
    # cryptography's messages are about structure, never about key material; keep them short.
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
