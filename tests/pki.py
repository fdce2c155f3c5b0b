"""A small PKI for tests: real keys and certificates made with ``cryptography``."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_RSA_KEYS: dict[int, list[rsa.RSAPrivateKey]] = {}


def rsa_key(bits: int = 2048, *, fresh: bool = False) -> rsa.RSAPrivateKey:
    """An RSA key; reused from a small pool unless ``fresh`` (key generation is slow)."""
    pool = _RSA_KEYS.setdefault(bits, [])
    if fresh or len(pool) < 4:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        if not fresh:
            pool.append(key)
        return key
    pool.append(pool.pop(0))
    return pool[-1]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    ca: bool = True,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 365,
    hash_algorithm: hashes.HashAlgorithm | None = None,
    san: list[str] | None = None,
    path_length: int | None = None,
) -> Issued:
    """Issue a certificate; self-signed when ``issuer`` is None."""
    key = key or rsa_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
        ]
    )
    start = not_before or (now() - dt.timedelta(days=1))
    end = not_after or (start + dt.timedelta(days=days))
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if san:
        names: list[x509.GeneralName] = []
        for entry in san:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                names.append(x509.DNSName(entry))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if isinstance(hash_algorithm, hashes.SHA1):
        return Issued(_sign_sha1(builder, signer), key)
    algorithm = hash_algorithm if hash_algorithm is not None else hashes.SHA256()
    return Issued(builder.sign(signer, algorithm), key)


_SHA256_WITH_RSA = bytes.fromhex("06092A864886F70D01010B")
_SHA1_WITH_RSA = bytes.fromhex("06092A864886F70D010105")


def _sign_sha1(builder: x509.CertificateBuilder, signer: object) -> x509.Certificate:
    """A SHA-1-signed certificate, which cryptography no longer builds itself.

    Signed with SHA-256 first, then the algorithm identifier (same length) is swapped
    for sha1WithRSAEncryption in the TBS part and the outer one, and the TBS part is
    signed again with SHA-1 by the RSA primitive. The signature length is the key size,
    so every DER length stays the same. RSA signers only.
    """
    assert isinstance(signer, rsa.RSAPrivateKey), "SHA-1 test certificates need an RSA signer"
    der = builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    assert der.count(_SHA256_WITH_RSA) == 2
    swapped = x509.load_der_x509_certificate(der.replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA))
    signature = signer.sign(swapped.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - the point
    raw = swapped.public_bytes(serialization.Encoding.DER)
    return x509.load_der_x509_certificate(raw[: -len(signature)] + signature)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def p7b(certs: list[Issued], *, pem: bool = True) -> bytes:
    """A PKCS#7 bundle of ``certs``, as UMS Console exports can be."""
    encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    return pkcs7.serialize_certificates([c.cert for c in certs], encoding)


def rsa_key_pem(
    key: rsa.RSAPrivateKey, *, traditional: bool = False, password: bytes | None = None
) -> str:
    """A key as PEM: PKCS#8 (``PRIVATE KEY``), traditional (``RSA PRIVATE KEY``) or encrypted."""
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if traditional
        else serialization.PrivateFormat.PKCS8
    )
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


def chain(
    *, intermediates: int = 1, leaf: str | None = None, san: list[str] | None = None
) -> list[Issued]:
    """A root, ``intermediates`` CAs below it and optionally a server leaf, root first."""
    certs = [issue("Example Root CA", days=3650)]
    for n in range(intermediates):
        certs.append(issue(f"Example Intermediate CA {n + 1}", issuer=certs[-1], days=1825))
    if leaf:
        certs.append(issue(leaf, issuer=certs[-1], ca=False, san=san or [leaf]))
    return certs


def pem_bundle(certs: list[Issued]) -> str:
    return "".join(c.pem for c in certs)


def _der_read(data: bytes, pos: int = 0) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``pos``."""
    tag, first = data[pos], data[pos + 1]
    if first < 0x80:
        return tag, pos + 2, pos + 2 + first
    count = first & 0x7F
    length = int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
    return tag, pos + 2 + count, pos + 2 + count + length


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _der_children(data: bytes, start: int, end: int) -> list[bytes]:
    children = []
    while start < end:
        _tag, _content, stop = _der_read(data, start)
        children.append(data[start:stop])
        start = stop
    return children


def issue_without_extensions(
    common_name: str, *, key: rsa.RSAPrivateKey | None = None, version1: bool = False
) -> Issued:
    """A self-signed RSA certificate with no extensions at all; with ``version1`` an
    X.509 version 1 certificate (old roots), which cryptography does not build itself:
    the version field is cut from the TBS part and the TBS part signed again."""
    key = key or rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - dt.timedelta(days=1))
        .not_valid_after(now() + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    if not version1:
        return Issued(cert, key)
    der = cert.public_bytes(serialization.Encoding.DER)
    _tag, start, end = _der_read(der)
    tbs, algorithm, _signature = _der_children(der, start, end)
    _tag, tbs_start, tbs_end = _der_read(tbs)
    fields = _der_children(tbs, tbs_start, tbs_end)
    assert fields[0][0] == 0xA0, "expected the explicit version field first"
    tbs = _der(0x30, b"".join(fields[1:]))
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    raw = _der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature))
    return Issued(x509.load_der_x509_certificate(raw), key)


def p7b_unsorted(certs: list[Issued]) -> bytes:
    """A DER-looking PKCS#7 bundle whose certificate SET is not sorted, as
    ``openssl crl2pkcs7`` writes it (strictly BER, so cryptography warns when reading)."""
    ders = sorted((c.der for c in certs), reverse=True)
    signed_data = _der(
        0x30,
        _der(0x02, b"\x01")  # version
        + _der(0x31, b"")  # digestAlgorithms
        + _der(0x30, _der(0x06, bytes.fromhex("2A864886F70D010701")))  # data
        + _der(0xA0, b"".join(ders))  # certificates [0] IMPLICIT, unsorted
        + _der(0x31, b""),  # signerInfos
    )
    return _der(0x30, _der(0x06, bytes.fromhex("2A864886F70D010702")) + _der(0xA0, signed_data))
