"""Test connection: does the route's UMS/ICG present a chain that the uploaded roots trust?

The one module that opens TLS connections to customers' servers. It resolves the host
through :func:`common.network.resolve` (which refuses loopback/private/link-local
addresses in production, against SSRF) and connects to the address it checked, so a
second DNS answer cannot redirect it. It performs the TLS handshake with SNI and sends
nothing else: no HTTP request, no redirects followed.

The handshake itself does not verify anything (``CERT_NONE``): the point is to *see*
what the server presents, even when it is wrong, and then judge it with
``cryptography.x509.verification`` against the uploaded roots only (never the system
trust store: devices trust nothing but the pinned chain).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import idna
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from django.utils.translation import gettext_noop

from certificates.parsing import load_pem_certificates
from certificates.rules import is_root
from common.i18n import Phrase
from common.network import DisallowedDestination, resolve

if TYPE_CHECKING:
    from certificates.models import CertificateChain

DEFAULT_TIMEOUT = 5.0

# Why a server is not reached or not trusted, as Phrases (common.i18n): English for
# ``probe_route`` and its JSON, the reader's language in the admin's "Test connection".
NO_ADDRESS = gettext_noop("no address")
NOTHING_PRESENTED = gettext_noop("the server presented no certificate")
NO_ROOT = gettext_noop("the uploaded chain has no self-signed root")
PINNED_INVALID = gettext_noop(
    "the presented certificate is pinned but not valid now (expired or not yet valid)"
)
NO_SAN = gettext_noop(
    "the presented certificate has no subject alternative names; devices reject it"
)
EXPIRED = gettext_noop("the presented certificate expired on {date}")
SELF_SIGNED = gettext_noop(
    "the server presents a self-signed certificate that is not in the uploaded chain; "
    "upload that certificate, or the chain of the CA that should have issued it"
)
ISSUER_MISSING = gettext_noop(
    "{subject} is issued by {issuer}, which is neither among the {count} certificate(s) the "
    "server presented nor in the uploaded chain: the server uses another CA, or its "
    "intermediate is missing (send it from the server or include it in the uploaded chain)"
)


@dataclass
class PresentedCertificate:
    subject: str
    issuer: str
    not_after: dt.datetime
    sha256: str


@dataclass
class ProbeReport:
    host: str
    port: int
    reachable: bool = False
    address: str = ""
    tls_version: str = ""
    presented: list[PresentedCertificate] = field(default_factory=list)  # as sent, leaf first
    leaf_subject: str = ""
    leaf_san: list[str] = field(default_factory=list)
    leaf_not_after: dt.datetime | None = None
    leaf_expired: bool = False
    chains_to_uploaded_roots: bool = False
    hostname_matches: bool = False
    error: str = ""  # why the server could not be reached
    verification_error: str = ""  # why the presented chain is not trusted, if it is not

    @property
    def ok(self) -> bool:
        return self.reachable and self.chains_to_uploaded_roots and self.hostname_matches

    def lines(self) -> list[str]:
        """Human-readable result, for the command and the admin message."""
        target = f"{self.host}:{self.port}"
        if not self.reachable:
            return [f"{target}: not reachable: {self.error}"]
        lines = [f"{target}: reachable ({self.address}, {self.tls_version})"]
        lines.append(f"  presented certificate: {self.leaf_subject}")
        lines.append(f"  subject alternative names: {', '.join(self.leaf_san) or '(none)'}")
        if self.leaf_not_after:
            expired = " (EXPIRED)" if self.leaf_expired else ""
            lines.append(f"  valid until: {self.leaf_not_after:%Y-%m-%dT%H:%M:%SZ}{expired}")
        lines.append(
            "  chains to the uploaded roots: "
            + ("yes" if self.chains_to_uploaded_roots else f"NO ({self.verification_error})")
        )
        lines.append(
            "  hostname matches: "
            + ("yes" if self.hostname_matches else f"NO ({self.host} is not among its names)")
        )
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "reachable": self.reachable,
            "address": self.address,
            "tls_version": self.tls_version,
            "leaf_subject": self.leaf_subject,
            "leaf_san": self.leaf_san,
            "leaf_not_after": self.leaf_not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.leaf_not_after
            else None,
            "leaf_expired": self.leaf_expired,
            "chains_to_uploaded_roots": self.chains_to_uploaded_roots,
            "hostname_matches": self.hostname_matches,
            "error": self.error,
            "verification_error": self.verification_error,
        }


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _a_label(host: str) -> str:
    try:
        return idna.encode(host.rstrip("."), uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        return host.rstrip(".").lower()


def _san(
    cert: x509.Certificate,
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    ips = [
        ip
        for ip in ext.get_values_for_type(x509.IPAddress)
        if not isinstance(ip, ipaddress._BaseNetwork)
    ]
    return ext.get_values_for_type(x509.DNSName), ips


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125 matching on the subject alternative names, as devices' TLS does:
    a wildcard only as the whole left-most label, no fallback to the common name."""
    dns_names, ips = _san(cert)
    address = _ip(host)
    if address is not None:
        return address in ips
    wanted = _a_label(host).split(".")
    for name in dns_names:
        labels = name.rstrip(".").lower().split(".")
        if len(labels) != len(wanted):
            continue
        if labels[0] == "*" and len(labels) > 2 and labels[1:] == wanted[1:]:
            return True
        if labels == wanted:
            return True
    return False


def _presented_chain(tls: ssl.SSLSocket) -> list[x509.Certificate]:
    """The certificates the server sent, leaf first, unverified.

    ``SSLSocket.get_unverified_chain()`` is public from Python 3.13; 3.10-3.12 have the
    same method on the private ``_sslobj`` (returning ``_ssl.Certificate`` objects).
    Without either, only the leaf is available, and the uploaded chain must supply the
    intermediates.
    """
    raw: list[Any] = []
    getter = getattr(tls, "get_unverified_chain", None) or getattr(
        getattr(tls, "_sslobj", None), "get_unverified_chain", None
    )
    if getter is not None:
        raw = list(getter() or [])
    ders: list[bytes] = []
    for item in raw:
        if isinstance(item, bytes):
            ders.append(item)
        elif hasattr(item, "public_bytes"):
            ders.append(item.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
    if not ders:
        leaf = tls.getpeercert(binary_form=True)
        ders = [leaf] if leaf else []
    return [x509.load_der_x509_certificate(der) for der in ders]


def _connect(
    host: str, port: int, timeout: float, report: ProbeReport
) -> list[x509.Certificate] | None:
    try:
        addresses = resolve(host.strip("[]"), port)
    except DisallowedDestination as exc:
        report.error = str(exc)  # common.network says it in the active language
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Deliberately unverified: we want to see what is presented and judge it ourselves.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    server_name = None if _ip(host) is not None else _a_label(host)
    last_error: str = Phrase(NO_ADDRESS)
    for address in addresses:
        try:
            # Connect to the address resolve() vetted, not the name (no DNS rebinding).
            with socket.create_connection((str(address), port), timeout=timeout) as raw:
                with context.wrap_socket(raw, server_hostname=server_name) as tls:
                    report.address = str(address)
                    report.tls_version = tls.version() or ""
                    return _presented_chain(tls)
        except (OSError, ssl.SSLError, ValueError) as exc:
            last_error = (
                f"{address}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
            )
    report.error = last_error
    return None


def _chains(
    leaf: x509.Certificate,
    presented: list[x509.Certificate],
    uploaded: list[x509.Certificate],
    now: dt.datetime,
) -> tuple[bool, str]:
    """Whether ``leaf`` chains to a self-signed certificate of ``uploaded``."""
    roots = [c for c in uploaded if is_root(c)]
    if not roots:
        return False, Phrase(NO_ROOT)
    fingerprint = leaf.fingerprint(hashes.SHA256())
    if any(fingerprint == c.fingerprint(hashes.SHA256()) for c in uploaded):
        # The server presents a certificate the devices pin directly (a self-signed UMS).
        if leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            return True, ""
        return False, Phrase(PINNED_INVALID)
    intermediates = [c for c in presented[1:] + uploaded if c not in roots]
    dns_names, ips = _san(leaf)
    if not dns_names and not ips:
        return False, Phrase(NO_SAN)
    # Verify the path with a name the certificate does carry, so that a hostname
    # mismatch is reported on its own line and not as a broken chain.
    subject: x509.verification.Subject = (
        x509.DNSName(dns_names[0].replace("*", "wildcard", 1))
        if dns_names
        else x509.IPAddress(ips[0])
    )
    verifier = PolicyBuilder().store(Store(roots)).time(now).build_server_verifier(subject)
    try:
        verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        return False, _reason(exc, leaf, presented, uploaded, now)
    return True, ""


def _missing_issuer(
    leaf: x509.Certificate, presented: list[x509.Certificate], uploaded: list[x509.Certificate]
) -> x509.Certificate | None:
    """The certificate, walking up by issuer name from ``leaf``, whose issuer is nowhere
    (neither presented nor uploaded); None when every name is found."""
    available = presented[1:] + uploaded
    current, seen = leaf, set()
    while current.issuer != current.subject and current.issuer not in seen:
        seen.add(current.issuer)
        parent = next((c for c in available if c.subject == current.issuer), None)
        if parent is None:
            return current
        current = parent
    return None


def _reason(
    exc: VerificationError,
    leaf: x509.Certificate,
    presented: list[x509.Certificate],
    uploaded: list[x509.Certificate],
    now: dt.datetime,
) -> str:
    if leaf.not_valid_after_utc < now:
        return Phrase(EXPIRED, date=f"{leaf.not_valid_after_utc:%Y-%m-%d}")
    if is_root(leaf):
        return Phrase(SELF_SIGNED)
    orphan = _missing_issuer(leaf, presented, uploaded)
    if orphan is not None:
        # cryptography only says "candidates exhausted"; name what is missing instead.
        return Phrase(
            ISSUER_MISSING,
            subject=orphan.subject.rfc4514_string()[:150],
            issuer=orphan.issuer.rfc4514_string()[:150],
            count=len(presented),
        )
    text = str(exc).strip() or "no path to an uploaded root"
    return text[:300]


def probe(
    host: str,
    port: int,
    roots_pem: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    now: dt.datetime | None = None,
) -> ProbeReport:
    """Connect to ``host:port`` over TLS and judge what it presents against ``roots_pem``
    (the uploaded chain, root first). Never raises for network or certificate trouble."""
    now = now or dt.datetime.now(dt.UTC)
    report = ProbeReport(host=host, port=port)
    presented = _connect(host, port, timeout, report)
    if presented is None:
        return report
    if not presented:
        report.error = Phrase(NOTHING_PRESENTED)
        return report
    report.reachable = True
    report.presented = [
        PresentedCertificate(
            subject=c.subject.rfc4514_string(),
            issuer=c.issuer.rfc4514_string(),
            not_after=c.not_valid_after_utc,
            sha256=c.fingerprint(hashes.SHA256()).hex(":").upper(),
        )
        for c in presented
    ]
    leaf = presented[0]
    dns_names, ips = _san(leaf)
    report.leaf_subject = leaf.subject.rfc4514_string()
    report.leaf_san = [*dns_names, *(str(ip) for ip in ips)]
    report.leaf_not_after = leaf.not_valid_after_utc
    report.leaf_expired = leaf.not_valid_after_utc < now
    report.hostname_matches = hostname_matches(leaf, host)
    try:
        uploaded = load_pem_certificates(roots_pem)
    except ValueError:
        uploaded = []
    report.chains_to_uploaded_roots, report.verification_error = _chains(
        leaf, presented, uploaded, now
    )
    return report


def probe_chain(
    chain: CertificateChain, host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT
) -> ProbeReport:
    """Probe ``host:port`` against a stored chain: what the route admin action calls."""
    return probe(host, port, chain.pem, timeout=timeout)
