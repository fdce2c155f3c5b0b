"""Parse and judge a root certificate chain file, exactly as an upload would be judged.

One function, :func:`inspect_chain_bytes`, used by the upload service, the admin, the
route import and ``inspect_chain``, so every entry point gives the same verdict. It is
pure: no database, no storage, no logging of the input.

What it reads: PEM text with one or more blocks in any order and any text around them
(CRLF, a UTF-8 BOM and indented lines are fine), a single DER certificate, or a PKCS#7
bundle (``.p7b``) in PEM or DER form.

"Block" numbers are 1-based positions in the input: the n-th ``-----BEGIN ...-----``
block of a PEM file (whatever its type); in a PKCS#7 bundle the n-th certificate of
the bundle; a DER certificate is block 1. A PEM file holding a PKCS#7 block next to
other blocks numbers the bundle's certificates in place of that block.

Security decisions (the attack or accident each stops):

* A private key anywhere refuses the file, and its bytes are never put into a message,
  a log line or storage: customers paste ``cert + key`` exports by mistake, and a
  stored key would leak the UMS's identity to everyone who can read the storage.
* Every non-root certificate must be signed by another certificate of the file and the
  signatures must lead to a self-signed root: a chain that does not link cannot be what
  the UMS/ICG presents, so devices pinning it would all fail to onboard.
* RSA keys under 2048 bits and SHA-1/MD5 signatures below the root are refused: the
  devices' TLS stack (OpenSSL at security level 2) rejects them, and both are forgeable.
  A self-signed root's own signature is never checked by a verifier (the root is
  trusted because it is pinned, not because it signed itself), so there SHA-1 is only a
  warning.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from warnings import catch_warnings, filterwarnings

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

TARGETS = ("ums", "icg")
DEFAULT_MAX_BYTES = 1024 * 1024
# Every pair of certificates with matching names costs a signature check, so the
# work grows with the square of the count: 1,600 certificates under the same name
# (well within 1 MiB) took minutes. A real chain holds a handful.
DEFAULT_MAX_CERTIFICATES = 50
DEFAULT_EXPIRY_WARNING_DAYS = 30
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224

# Problem codes of spec section 4.2; a code can be an error in one case and a warning in
# another, the message says which and why.
NO_CERTIFICATE = "no_certificate"
UNPARSEABLE = "unparseable"
PRIVATE_KEY = "private_key"
DUPLICATE = "duplicate"
TOO_LARGE = "too_large"
UNLINKED = "unlinked"
NON_CA = "non_ca"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
EXPIRING_SOON = "expiring_soon"
WEAK_KEY = "weak_key"
SHA1 = "sha1"
CODES = (
    NO_CERTIFICATE,
    UNPARSEABLE,
    PRIVATE_KEY,
    DUPLICATE,
    TOO_LARGE,
    UNLINKED,
    NON_CA,
    EXPIRED,
    NOT_YET_VALID,
    EXPIRING_SOON,
    WEAK_KEY,
    SHA1,
)

_PEM_MARKER = re.compile(r"-----(?P<kind>BEGIN|END) (?P<label>[A-Z0-9][A-Z0-9 #/_.-]{0,63}?)-----")
_PEM_HEADER_LINE = re.compile(r"^[ \t]*[A-Za-z-]+:.*$", re.MULTILINE)
_CERT_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
_PKCS7_LABELS = frozenset({"PKCS7", "PKCS #7 SIGNED DATA", "CMS"})
_WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5", "md2": "MD2", "md4": "MD4"}
_EC_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp224r1": "P-224"}


@dataclass(frozen=True)
class Problem:
    code: str
    block: int | None  # None: the file as a whole (too large, nothing found)
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "block": self.block, "message": self.message}


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str
    is_ca: bool
    self_signed: bool
    key: str
    pem: str
    block: int

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "sha256": self.sha256,
            "is_ca": self.is_ca,
            "self_signed": self.self_signed,
            "key": self.key,
        }


@dataclass
class ChainReport:
    accepted: bool
    certificates: list[CertInfo] = field(default_factory=list)  # root first
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    pem: str = ""  # the certificates, root first, as PEM

    def as_json(self) -> dict[str, Any]:
        """The shape of spec section 4.2 (``inspect_chain --json``)."""
        return {
            "accepted": self.accepted,
            "certificates": [c.as_json() for c in self.certificates],
            "errors": [p.as_json() for p in self.errors],
            "warnings": [p.as_json() for p in self.warnings],
        }

    @property
    def fingerprints(self) -> list[str]:
        return [c.sha256 for c in self.certificates]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Reading the input ---------------------------------------------------------------


@dataclass
class _Parsed:
    block: int
    cert: x509.Certificate
    fingerprint: str


@dataclass
class _Reading:
    certs: list[_Parsed] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    blocks: int = 0
    #: The whole file is one damaged DER structure: that is the verdict, not "no certificate".
    damaged_der: bool = False


def _private_key_problem(block: int, kind: str) -> Problem:
    # Never include any of the key's bytes: the message ends up in the admin, logs, JSON.
    return Problem(
        PRIVATE_KEY,
        block,
        f"Block {block} is a private key ({kind}). The file must not contain private keys: "
        "upload only the certificates, and treat this key as exposed if it left the server. "
        "Nothing was stored.",
    )


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


def _load_certificate(der: bytes, block: int, reading: _Reading, what: str = "certificate") -> None:
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
                UNPARSEABLE, block, f"Block {block} is not a valid X.509 {what} ({_short(exc)})."
            )
        )
        return
    reading.certs.append(_Parsed(block, cert, cert.fingerprint(hashes.SHA256()).hex(":").upper()))


def _short(exc: Exception) -> str:
    # cryptography's messages are about structure, never about key material; keep them short.
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _load_pkcs7(der: bytes) -> list[x509.Certificate]:
    # ``openssl crl2pkcs7`` (how most .p7b files are made) writes the certificate SET
    # unsorted, which is BER, not DER; cryptography reads it but warns on stderr, which
    # would land in ``inspect_chain``'s output and in scripts parsing it.
    with catch_warnings():
        filterwarnings("ignore", message="PKCS#7 certificates could not be parsed as DER")
        return pkcs7.load_der_pkcs7_certificates(der)


def _read_pkcs7(der: bytes, first_block: int, reading: _Reading) -> int:
    """Add the certificates of a PKCS#7 bundle; return the next free block number."""
    try:
        certs = _load_pkcs7(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        reading.errors.append(
            Problem(
                UNPARSEABLE,
                first_block,
                f"Block {first_block} is not a readable PKCS#7 bundle ({_short(exc)}).",
            )
        )
        return first_block + 1
    if not certs:
        reading.errors.append(
            Problem(
                UNPARSEABLE,
                first_block,
                f"Block {first_block} is a PKCS#7 bundle without certificates.",
            )
        )
        return first_block + 1
    block = first_block
    for cert in certs:
        _load_certificate(cert.public_bytes(serialization.Encoding.DER), block, reading)
        block += 1
    return block


def _read_pem(text: str, reading: _Reading) -> None:
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
            # A BEGIN line without its END: damaged or truncated.
            if "PRIVATE KEY" in label:
                reading.errors.append(_private_key_problem(block, label))
            else:
                reading.errors.append(
                    Problem(
                        UNPARSEABLE,
                        block,
                        f"Block {block} starts with '-----BEGIN {label}-----' but has no matching END line; "
                        "the file is damaged or cut off.",
                    )
                )
            block += 1
            continue
        i += 1
        if "PRIVATE KEY" in label:
            reading.errors.append(_private_key_problem(block, label))
            block += 1
            continue
        if (
            label not in _CERT_LABELS
            and label not in _PKCS7_LABELS
            and label != "TRUSTED CERTIFICATE"
        ):
            reading.errors.append(
                Problem(
                    UNPARSEABLE,
                    block,
                    f"Block {block} is a '{label}' block, not a certificate. The file may contain only "
                    "CERTIFICATE blocks (or a PKCS#7 bundle).",
                )
            )
            block += 1
            continue
        body = _PEM_HEADER_LINE.sub("", text[begin.end() : end.start()])
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            reading.errors.append(
                Problem(UNPARSEABLE, block, f"Block {block} ({label}) has damaged base64 content.")
            )
            block += 1
            continue
        if label in _PKCS7_LABELS:
            block = _read_pkcs7(der, block, reading)
            continue
        if label == "TRUSTED CERTIFICATE":
            # OpenSSL's format: the certificate followed by trust settings we ignore.
            length = _der_tlv_length(der)
            der = der[:length] if length else der
        _load_certificate(der, block, reading)
        block += 1
    reading.blocks = block - 1


def _looks_like_private_key_der(data: bytes) -> bool:
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:  # "password was not given": an encrypted key
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def _read_der(data: bytes, reading: _Reading) -> None:
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        pass
    else:
        _load_certificate(data, 1, reading)
        reading.blocks = 1
        return
    try:
        certs = _load_pkcs7(data)
    except (ValueError, UnsupportedAlgorithm):
        certs = None
    if certs is not None:
        reading.blocks = _read_pkcs7(data, 1, reading) - 1
        return
    if _looks_like_private_key_der(data):
        reading.errors.append(_private_key_problem(1, "DER-encoded key"))
        reading.blocks = 1
        return
    if _looks_like_pkcs12(data):
        # A .pfx/.p12 exists to carry a private key; even when it is password protected
        # (so we cannot look inside) it must not be stored.
        reading.blocks = 1
        reading.errors.append(
            Problem(
                PRIVATE_KEY,
                1,
                "Block 1 is a PKCS#12 (.pfx/.p12) file, which carries a private key. The file must not "
                "contain private keys: export only the certificates (PEM, DER or .p7b). Nothing was stored.",
            )
        )
        return
    if _looks_like_der_structure(data):
        reading.blocks = 1
        reading.damaged_der = True
        declared = _der_tlv_length(data) or 0
        detail = (
            f"it is cut short ({len(data)} of {declared} bytes)"
            if declared > len(data)
            else "it does not parse as a certificate or a PKCS#7 bundle"
        )
        reading.errors.append(
            Problem(
                UNPARSEABLE,
                1,
                f"Block 1 is damaged DER data: {detail}. Export the certificates again.",
            )
        )


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


def _read(data: bytes) -> _Reading:
    reading = _Reading()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"-----BEGIN" in data:
        # latin-1 maps every byte, so stray non-UTF-8 text around the blocks cannot fail.
        _read_pem(data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n"), reading)
    else:
        _read_der(data, reading)
    return reading


# --- Judging the certificates -------------------------------------------------------


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s name and key issued ``cert`` (its signature verifies)."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    # cryptography refuses some algorithms here (SHA-1 signatures since 45); check the
    # signature with the primitives so a SHA-1 chain is judged as SHA-1, not as unlinked.
    public_key = issuer.public_key()
    algorithm = cert.signature_hash_algorithm
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and algorithm is not None:
            params = cert.signature_algorithm_parameters
            pad = params if isinstance(params, padding.AsymmetricPadding) else padding.PKCS1v15()
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, pad, algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm is not None:
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        elif isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes)
        elif isinstance(public_key, dsa.DSAPublicKey) and algorithm is not None:
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, algorithm)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def describe_key(cert: x509.Certificate) -> tuple[str, int | None]:
    """("RSA 4096", 4096), ("EC P-256", 256), ("Ed25519", None), ..."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {_EC_NAMES.get(key.curve.name, key.curve.name)}", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", None
    return type(key).__name__, None


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _label(p: _Parsed) -> str:
    return f"Block {p.block} ({_name(p.cert)})"


def _order_root_first(
    certs: list[_Parsed], issuers: dict[int, list[int]], roots: list[int]
) -> list[int]:
    """Depth-first from each root, children in input order: for a plain chain every
    certificate directly follows the one that issued it. Anything not reached comes last."""
    children: dict[int, list[int]] = {i: [] for i in range(len(certs))}
    for child, parents in issuers.items():
        for parent in parents:
            if parent != child:
                children[parent].append(child)
    order: list[int] = []
    seen: set[int] = set()

    def visit(i: int) -> None:
        stack = [i]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            order.append(node)
            stack.extend(reversed([c for c in children[node] if c not in seen]))

    for root in roots:
        visit(root)
    for i in range(len(certs)):
        if i not in seen:
            visit(i)
    return order


def inspect_chain_bytes(
    data: bytes,
    *,
    target: str = "ums",
    now: dt.datetime | None = None,
    max_bytes: int | None = None,
    expiry_warning_days: int | None = None,
    max_certificates: int | None = None,
) -> ChainReport:
    """Parse ``data`` and judge it as a chain for a route of ``target`` ("ums" or "icg").

    Never raises for bad input: everything wrong is a :class:`Problem` in the report.
    ``accepted`` is true exactly when there are no errors.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    max_bytes = (
        _setting("CERTIFICATE_CHAIN_MAX_BYTES", DEFAULT_MAX_BYTES)
        if max_bytes is None
        else max_bytes
    )
    if expiry_warning_days is None:
        expiry_warning_days = _setting(
            "CERTIFICATE_EXPIRY_WARNING_DAYS", DEFAULT_EXPIRY_WARNING_DAYS
        )
    if max_certificates is None:
        max_certificates = _setting("CERTIFICATE_CHAIN_MAX_CERTIFICATES", DEFAULT_MAX_CERTIFICATES)
    now = now or dt.datetime.now(dt.UTC)

    if len(data) > max_bytes:
        # Not parsed at all: a huge file is refused before any work is spent on it.
        return ChainReport(
            accepted=False,
            errors=[
                Problem(
                    TOO_LARGE,
                    None,
                    f"The file is {len(data):,} bytes; at most {max_bytes:,} bytes are accepted. "
                    "A certificate chain is a few kilobytes.",
                )
            ],
        )

    reading = _read(data)
    if reading.blocks > max_certificates:
        # Refused before the pairwise checks; a key in the file is still named.
        keys = [p for p in reading.errors if p.code == PRIVATE_KEY][:1]
        return ChainReport(
            accepted=False,
            errors=[
                Problem(
                    TOO_LARGE,
                    None,
                    f"The file holds {reading.blocks:,} blocks; at most {max_certificates:,} certificates "
                    "are accepted. A certificate chain holds a few.",
                ),
                *keys,
            ],
        )
    errors, warnings = reading.errors, reading.warnings

    # Duplicates: the second and later copies are reported and left out.
    certs: list[_Parsed] = []
    first_seen: dict[str, int] = {}
    for parsed in reading.certs:
        if parsed.fingerprint in first_seen:
            errors.append(
                Problem(
                    DUPLICATE,
                    parsed.block,
                    f"Block {parsed.block} is the same certificate as block {first_seen[parsed.fingerprint]} "
                    f"({_name(parsed.cert)}). Include each certificate once.",
                )
            )
            continue
        first_seen[parsed.fingerprint] = parsed.block
        certs.append(parsed)

    if not certs and not reading.damaged_der:
        errors.append(
            Problem(
                NO_CERTIFICATE,
                None,
                "The file contains no readable certificate: expected PEM text with -----BEGIN CERTIFICATE----- "
                "blocks, a DER certificate or a PKCS#7 (.p7b) bundle.",
            )
        )

    # Who issued whom: name match and a verifying signature.
    n = len(certs)
    issuers: dict[int, list[int]] = {i: [] for i in range(n)}
    self_signed: list[bool] = [False] * n
    for i, child in enumerate(certs):
        for j, parent in enumerate(certs):
            if signed_by(child.cert, parent.cert):
                if i == j:
                    self_signed[i] = True
                else:
                    issuers[i].append(j)
    # Same subject and key: a renewed or cross-signed copy of the same CA. Devices build
    # their path with whichever copy works, so a copy that fails is redundant, not fatal.
    twins: dict[int, list[int]] = {i: [] for i in range(n)}
    spkis = [_spki(p.cert) for p in certs]
    for i in range(n):
        for j in range(n):
            if i != j and certs[i].cert.subject == certs[j].cert.subject and spkis[i] == spkis[j]:
                twins[i].append(j)

    reaches_root = list(self_signed)
    changed = True
    while changed:
        changed = False
        for i in range(n):
            if not reaches_root[i] and any(reaches_root[j] for j in issuers[i]):
                reaches_root[i] = changed = True

    def valid_now(i: int) -> bool:
        c = certs[i].cert
        return c.not_valid_before_utc <= now <= c.not_valid_after_utc

    issues_others = {j for parents in issuers.values() for j in parents}
    blamed: set[int] = set()
    for i, parsed in enumerate(certs):
        cert = parsed.cert
        # -- linking
        if not reaches_root[i]:
            linked_twins = [j for j in twins[i] if reaches_root[j]]
            if linked_twins:
                warnings.append(
                    Problem(
                        UNLINKED,
                        parsed.block,
                        f"{_label(parsed)} is issued by {cert.issuer.rfc4514_string()}, which is not in the "
                        f"file (a cross-signed copy). Accepted: block {certs[linked_twins[0]].block} holds "
                        "the same CA with the same key and leads to a root of the file.",
                    )
                )
            elif not issuers[i]:
                blamed.add(i)
                same_name = [p for p in certs if p.cert.subject == cert.issuer and p is not parsed]
                if cert.subject == cert.issuer:
                    reason = (
                        "names itself as issuer, but its signature does not verify with its own key"
                    )
                elif same_name:
                    reason = (
                        f"names {cert.issuer.rfc4514_string()} as issuer, but its signature does not verify "
                        f"against block {same_name[0].block}, which has that name"
                    )
                else:
                    reason = (
                        f"is issued by {cert.issuer.rfc4514_string()}, which is not in the file; add that "
                        "certificate (up to the self-signed root)"
                    )
                errors.append(
                    Problem(
                        UNLINKED,
                        parsed.block,
                        f"{_label(parsed)} {reason}. The chain must link every certificate to a self-signed root.",
                    )
                )
        # -- CA flag
        constraints = _basic_constraints(cert)
        is_ca = bool(constraints and constraints.ca)
        if not is_ca:
            if constraints is None and self_signed[i] and cert.version == x509.Version.v1:
                # OpenSSL, which the devices use, treats a self-signed version 1
                # certificate as a CA (it cannot carry extensions); a v3 one needs CA:TRUE.
                warnings.append(
                    Problem(
                        NON_CA,
                        parsed.block,
                        f"{_label(parsed)} is a version 1 root (no extensions, so no CA flag). Accepted: "
                        "devices' OpenSSL trusts a self-signed v1 root as a CA. Test connection "
                        "cannot confirm a path through it (its verifier requires v3 certificates); "
                        "re-issue the root as v3 with CA:TRUE when convenient.",
                    )
                )
            elif i in issues_others:
                errors.append(
                    Problem(
                        NON_CA,
                        parsed.block,
                        f"{_label(parsed)} issues other certificates of the file but is not a CA "
                        "(basicConstraints CA:TRUE missing); devices reject a path through it.",
                    )
                )
            elif constraints is None and self_signed[i]:
                warnings.append(
                    Problem(
                        NON_CA,
                        parsed.block,
                        f"{_label(parsed)} is a self-signed certificate without basicConstraints (an old v1-style "
                        "root). Accepted as a trust anchor; a current UMS/ICG root is marked CA:TRUE.",
                    )
                )
            elif target == "icg":
                errors.append(
                    Problem(
                        NON_CA,
                        parsed.block,
                        f"{_label(parsed)} is not a CA: it is an end (server) certificate. For an ICG route the "
                        "file must hold every certificate of the ICG's chain except the end certificate; "
                        "remove this one.",
                    )
                )
            else:
                warnings.append(
                    Problem(
                        NON_CA,
                        parsed.block,
                        f"{_label(parsed)} is not a CA: it looks like the UMS's own server certificate. "
                        "Accepted for a UMS route (devices trust the CAs above it; it does no harm), but "
                        "it is not needed and goes stale when the server certificate is renewed.",
                    )
                )
        # -- validity
        valid_twin = next((certs[j] for j in twins[i] if valid_now(j)), None)
        for code, bad, when in (
            (
                EXPIRED,
                cert.not_valid_after_utc < now,
                f"expired on {_iso(cert.not_valid_after_utc)}",
            ),
            (
                NOT_YET_VALID,
                cert.not_valid_before_utc > now,
                f"is not valid before {_iso(cert.not_valid_before_utc)}",
            ),
        ):
            if not bad:
                continue
            if valid_twin is not None:
                warnings.append(
                    Problem(
                        code,
                        parsed.block,
                        f"{_label(parsed)} {when}. Accepted: block {valid_twin.block} is a valid copy of the same "
                        "CA with the same key, which devices use instead. Remove this one when convenient.",
                    )
                )
            else:
                errors.append(
                    Problem(
                        code,
                        parsed.block,
                        f"{_label(parsed)} {when}; devices reject a chain with it. Download the current chain "
                        "from the UMS/ICG.",
                    )
                )
        soon = now + dt.timedelta(days=expiry_warning_days)
        if now <= cert.not_valid_after_utc <= soon:
            days_left = (cert.not_valid_after_utc - now).days
            warnings.append(
                Problem(
                    EXPIRING_SOON,
                    parsed.block,
                    f"{_label(parsed)} expires on {_iso(cert.not_valid_after_utc)}, in {days_left} days "
                    f"(warning threshold {expiry_warning_days} days). Renew it and upload the new chain in time.",
                )
            )
        # -- key strength
        key_text, bits = describe_key(cert)
        key = cert.public_key()
        weak = (
            isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey)
            and bits is not None
            and bits < MIN_RSA_BITS
        ) or (
            isinstance(key, ec.EllipticCurvePublicKey) and bits is not None and bits < MIN_EC_BITS
        )
        if weak:
            errors.append(
                Problem(
                    WEAK_KEY,
                    parsed.block,
                    f"{_label(parsed)} has a weak key ({key_text}); at least RSA {MIN_RSA_BITS} or EC P-256 is "
                    "required. Devices' TLS refuses such keys and they can be broken.",
                )
            )
        # -- signature hash
        try:
            algorithm = cert.signature_hash_algorithm
        except UnsupportedAlgorithm:
            algorithm = None
        weak_hash = _WEAK_HASHES.get(algorithm.name) if algorithm is not None else None
        if weak_hash:
            if self_signed[i]:
                warnings.append(
                    Problem(
                        SHA1,
                        parsed.block,
                        f"{_label(parsed)} is a self-signed root signed with {weak_hash}. Accepted: a pinned root "
                        "is trusted as it is, its own signature is never checked; re-issue it with SHA-256 "
                        "when convenient.",
                    )
                )
            else:
                errors.append(
                    Problem(
                        SHA1,
                        parsed.block,
                        f"{_label(parsed)} is signed with {weak_hash}, which devices' TLS refuses and which can "
                        "be forged; the CA must re-issue it with SHA-256 or better.",
                    )
                )

    # A loop of certificates signing each other with no root: blame each member once,
    # unless one of its ancestors already got the blame above.
    for i in range(n):
        if reaches_root[i] or i in blamed or any(reaches_root[j] for j in twins[i]):
            continue
        ancestors, stack = set(), list(issuers[i])
        while stack:
            j = stack.pop()
            if j not in ancestors:
                ancestors.add(j)
                stack.extend(issuers[j])
        if not ancestors & blamed:
            errors.append(
                Problem(
                    UNLINKED,
                    certs[i].block,
                    f"{_label(certs[i])} does not lead to a self-signed root: its issuers are in the file but "
                    "none of them ends in a root. Add the root certificate.",
                )
            )

    roots = [i for i in range(n) if self_signed[i]]
    order = _order_root_first(certs, issuers, roots)
    infos = [_info(certs[i], self_signed[i]) for i in order]
    errors.sort(key=_problem_key)
    warnings.sort(key=_problem_key)
    return ChainReport(
        accepted=not errors,
        certificates=infos,
        errors=errors,
        warnings=warnings,
        pem="".join(c.pem for c in infos),
    )


def _problem_key(problem: Problem) -> tuple[int, int]:
    return (problem.block or 0, CODES.index(problem.code))


def _info(parsed: _Parsed, self_signed: bool) -> CertInfo:
    cert = parsed.cert
    constraints = _basic_constraints(cert)
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "X"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=parsed.fingerprint,
        is_ca=bool(constraints and constraints.ca),
        self_signed=self_signed,
        key=describe_key(cert)[0],
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        block=parsed.block,
    )


def load_pem_certificates(pem: str) -> list[x509.Certificate]:
    """The certificates of a normalised chain (``CertificateChain.pem``)."""
    return x509.load_pem_x509_certificates(pem.encode("ascii")) if pem.strip() else []


def _setting(name: str, default: int) -> int:
    # Read lazily so the module stays usable without Django configured (pure function).
    try:
        from django.conf import settings

        return int(getattr(settings, name, default))
    except Exception:  # settings not configured: use the default
        return default
