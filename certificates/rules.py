"""Judge the certificates of a chain file: one small function per rule.

Security decisions (the attack or accident each rule stops):

* Every non-root certificate must be signed by another certificate of the file and the
  signatures must lead to a self-signed root (:func:`links`, :func:`no_rootless_loops`):
  a chain that does not link cannot be what the UMS/ICG presents, so devices pinning it
  would all fail to onboard.
* A certificate that issues others must be a CA (:func:`ca_flag`); an ICG chain holds no
  end certificate.
* RSA keys under 2048 bits (:func:`key_strength`) and SHA-1/MD5 signatures below the
  root (:func:`signature_hash`) are refused: the devices' TLS stack (OpenSSL at security
  level 2) rejects them, and both are forgeable. A self-signed root's own signature is
  never checked by a verifier (the root is trusted because it is pinned, not because it
  signed itself), so there SHA-1 is only a warning.

Who issued whom is worked out once per file (:class:`ChainGraph`), and what a root is
once for the whole app (:func:`is_root`, also used by :mod:`certificates.probe`).
To add a rule: write ``rule(judging, i) -> Iterator[Finding]`` for certificate ``i`` and
list it in :data:`CERTIFICATE_RULES`; its problem code goes into ``report.CODES``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from django.utils.translation import gettext_noop

from certificates.parsing import Parsed
from certificates.report import (
    DUPLICATE,
    EXPIRED,
    EXPIRING_SOON,
    NO_CERTIFICATE,
    NON_CA,
    NOT_YET_VALID,
    SHA1,
    UNLINKED,
    WEAK_KEY,
    Problem,
    iso_utc,
)
from common.i18n import Phrase

MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
_WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5", "md2": "MD2", "md4": "MD4"}
_EC_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp224r1": "P-224"}


# --- Signatures and roots --------------------------------------------------------------


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
    try:
        return _verify_with_primitives(cert, issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _verify_with_primitives(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when the signature verifies; raises (or returns False) when it does not."""
    public_key = issuer.public_key()
    algorithm = cert.signature_hash_algorithm
    signature, signed = cert.signature, cert.tbs_certificate_bytes
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        public_key.verify(signature, signed)
        return True
    if algorithm is None:
        return False
    if isinstance(public_key, rsa.RSAPublicKey):
        params = cert.signature_algorithm_parameters
        pad = params if isinstance(params, padding.AsymmetricPadding) else padding.PKCS1v15()
        public_key.verify(signature, signed, pad, algorithm)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, signed, ec.ECDSA(algorithm))
    elif isinstance(public_key, dsa.DSAPublicKey):
        public_key.verify(signature, signed, algorithm)
    else:
        return False
    return True


def is_root(cert: x509.Certificate) -> bool:
    """A self-signed certificate: its own name and key issued it. Every chain ends in one;
    it is trusted because devices pin it, so nothing above it is needed."""
    return signed_by(cert, cert)


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


def basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def is_ca(cert: x509.Certificate) -> bool:
    constraints = basic_constraints(cert)
    return bool(constraints and constraints.ca)


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- Who issued whom ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChainGraph:
    """The links between the certificates of one file, by index into ``certs``."""

    certs: list[Parsed]
    self_signed: list[bool]
    #: i -> the other certificates whose name and key signed certificate i.
    issuers: dict[int, list[int]]
    #: i -> the other certificates with the same subject and key (a renewed or
    #: cross-signed copy of the same CA). Devices build their path with whichever copy
    #: works, so a copy that fails is redundant, not fatal.
    twins: dict[int, list[int]]
    reaches_root: list[bool]
    #: Certificates that issue another certificate of the file.
    issues_others: frozenset[int]
    #: Certificates blamed as unlinked on their own: no linked twin and no issuer here.
    orphans: frozenset[int]

    @classmethod
    def of(cls, certs: list[Parsed]) -> ChainGraph:
        # Every pair with matching names costs a signature check: quadratic in the count,
        # which is why the number of certificates is capped before this.
        self_signed = [is_root(p.cert) for p in certs]
        issuers = {
            i: [
                j for j, parent in enumerate(certs) if j != i and signed_by(child.cert, parent.cert)
            ]
            for i, child in enumerate(certs)
        }
        twins = _twins(certs)
        reaches_root = _reaching_root(self_signed, issuers)
        orphans = {
            i
            for i in range(len(certs))
            if not reaches_root[i] and not issuers[i] and not any(reaches_root[j] for j in twins[i])
        }
        return cls(
            certs=certs,
            self_signed=self_signed,
            issuers=issuers,
            twins=twins,
            reaches_root=reaches_root,
            issues_others=frozenset(j for parents in issuers.values() for j in parents),
            orphans=frozenset(orphans),
        )

    def linked_twin(self, i: int) -> Parsed | None:
        """A copy of certificate i that does lead to a root of the file."""
        return next((self.certs[j] for j in self.twins[i] if self.reaches_root[j]), None)

    def valid_twin(self, i: int, now: dt.datetime) -> Parsed | None:
        """A copy of certificate i that is valid at ``now``."""
        return next((self.certs[j] for j in self.twins[i] if _valid_at(self.certs[j], now)), None)

    def ancestors(self, i: int) -> set[int]:
        """Every certificate above i along signatures (i itself only within a loop)."""
        found: set[int] = set()
        stack = list(self.issuers[i])
        while stack:
            j = stack.pop()
            if j not in found:
                found.add(j)
                stack.extend(self.issuers[j])
        return found

    def root_first(self) -> list[int]:
        """Depth-first from each root, children in input order: for a plain chain every
        certificate directly follows the one that issued it. Anything not reached comes last."""
        children: dict[int, list[int]] = {i: [] for i in range(len(self.certs))}
        for child, parents in self.issuers.items():
            for parent in parents:
                children[parent].append(child)
        order: list[int] = []
        seen: set[int] = set()
        roots = [i for i, root in enumerate(self.self_signed) if root]
        for start in [*roots, *range(len(self.certs))]:
            stack = [start]
            while stack:
                node = stack.pop()
                if node not in seen:
                    seen.add(node)
                    order.append(node)
                    stack.extend(reversed([c for c in children[node] if c not in seen]))
        return order


def _twins(certs: list[Parsed]) -> dict[int, list[int]]:
    spkis = [_spki(p.cert) for p in certs]
    return {
        i: [
            j
            for j, other in enumerate(certs)
            if i != j and certs[i].cert.subject == other.cert.subject and spkis[i] == spkis[j]
        ]
        for i in range(len(certs))
    }


def _reaching_root(self_signed: list[bool], issuers: dict[int, list[int]]) -> list[bool]:
    reaches_root = list(self_signed)
    changed = True
    while changed:
        changed = False
        for i, parents in issuers.items():
            if not reaches_root[i] and any(reaches_root[j] for j in parents):
                reaches_root[i] = changed = True
    return reaches_root


def _valid_at(parsed: Parsed, now: dt.datetime) -> bool:
    return parsed.cert.not_valid_before_utc <= now <= parsed.cert.not_valid_after_utc


# --- Findings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A problem, and whether it refuses the file (an error) or only warns."""

    problem: Problem
    refuses: bool


# Problems are Phrases (common.i18n): English for commands and JSON, translated where a
# page shows them (ChainReport.error_messages). Values that are sentences are Phrases too.


def _error(code: str, block: int | None, message: str) -> Finding:
    return Finding(Problem(code, block, message), refuses=True)


def _warning(code: str, block: int | None, message: str) -> Finding:
    return Finding(Problem(code, block, message), refuses=False)


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or Phrase(gettext_noop("(empty subject)"))


def _label(parsed: Parsed) -> Phrase:
    return Phrase(
        gettext_noop("Block {block} ({name})"), block=parsed.block, name=_name(parsed.cert)
    )


@dataclass(frozen=True)
class Judging:
    """Everything a rule may look at: the file's certificates and what they are for."""

    graph: ChainGraph
    target: str  # "ums" or "icg"
    now: dt.datetime
    expiry_warning_days: int


# --- The file as a whole -----------------------------------------------------------------


def without_duplicates(certs: Iterable[Parsed]) -> tuple[list[Parsed], list[Problem]]:
    """The certificates once each; the second and later copies are reported (errors)."""
    unique: list[Parsed] = []
    duplicates: list[Problem] = []
    first_seen: dict[str, int] = {}
    for parsed in certs:
        if parsed.fingerprint in first_seen:
            duplicates.append(
                Problem(
                    DUPLICATE,
                    parsed.block,
                    Phrase(
                        gettext_noop(
                            "Block {block} is the same certificate as block {first} ({name}). "
                            "Include each certificate once."
                        ),
                        block=parsed.block,
                        first=first_seen[parsed.fingerprint],
                        name=_name(parsed.cert),
                    ),
                )
            )
            continue
        first_seen[parsed.fingerprint] = parsed.block
        unique.append(parsed)
    return unique, duplicates


NOTHING_READABLE = Problem(
    NO_CERTIFICATE,
    None,
    Phrase(
        gettext_noop(
            "The file contains no readable certificate: expected PEM text with "
            "-----BEGIN CERTIFICATE----- blocks, a DER certificate or a PKCS#7 (.p7b) bundle."
        )
    ),
)


# --- One certificate at a time ---------------------------------------------------------------


def links(judging: Judging, i: int) -> Iterator[Finding]:
    """Certificate i leads, by verified signatures, to a self-signed root of the file."""
    graph = judging.graph
    parsed = graph.certs[i]
    if graph.reaches_root[i]:
        return
    twin = graph.linked_twin(i)
    if twin is not None:
        yield _warning(
            UNLINKED,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} is issued by {issuer}, which is not in the file (a cross-signed "
                    "copy). Accepted: block {twin} holds the same CA with the same key and leads "
                    "to a root of the file."
                ),
                label=_label(parsed),
                issuer=parsed.cert.issuer.rfc4514_string(),
                twin=twin.block,
            ),
        )
    elif i in graph.orphans:
        yield _error(
            UNLINKED,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} {why}. The chain must link every certificate to a self-signed root."
                ),
                label=_label(parsed),
                why=_why_unlinked(graph, parsed),
            ),
        )


def _why_unlinked(graph: ChainGraph, parsed: Parsed) -> Phrase:
    cert = parsed.cert
    issuer = cert.issuer.rfc4514_string()
    if cert.subject == cert.issuer:
        return Phrase(
            gettext_noop(
                "names itself as issuer, but its signature does not verify with its own key"
            )
        )
    same_name = next(
        (p for p in graph.certs if p.cert.subject == cert.issuer and p is not parsed), None
    )
    if same_name is not None:
        return Phrase(
            gettext_noop(
                "names {issuer} as issuer, but its signature does not verify against block "
                "{block}, which has that name"
            ),
            issuer=issuer,
            block=same_name.block,
        )
    return Phrase(
        gettext_noop(
            "is issued by {issuer}, which is not in the file; add that certificate (up to the "
            "self-signed root)"
        ),
        issuer=issuer,
    )


def ca_flag(judging: Judging, i: int) -> Iterator[Finding]:
    """Certificate i is a CA if it issues others; an ICG chain holds no end certificate."""
    graph = judging.graph
    parsed = graph.certs[i]
    constraints = basic_constraints(parsed.cert)
    if constraints is not None and constraints.ca:
        return
    old_root = constraints is None and graph.self_signed[i]
    label = _label(parsed)
    if old_root and parsed.cert.version == x509.Version.v1:
        # OpenSSL, which the devices use, treats a self-signed version 1
        # certificate as a CA (it cannot carry extensions); a v3 one needs CA:TRUE.
        yield _warning(
            NON_CA,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} is a version 1 root (no extensions, so no CA flag). Accepted: "
                    "devices' OpenSSL trusts a self-signed v1 root as a CA. Test connection "
                    "cannot confirm a path through it (its verifier requires v3 certificates); "
                    "re-issue the root as v3 with CA:TRUE when convenient."
                ),
                label=label,
            ),
        )
    elif i in graph.issues_others:
        yield _error(
            NON_CA,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} issues other certificates of the file but is not a CA "
                    "(basicConstraints CA:TRUE missing); devices reject a path through it."
                ),
                label=label,
            ),
        )
    elif old_root:
        yield _warning(
            NON_CA,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} is a self-signed certificate without basicConstraints (an old "
                    "v1-style root). Accepted as a trust anchor; a current UMS/ICG root is "
                    "marked CA:TRUE."
                ),
                label=label,
            ),
        )
    else:
        yield _end_certificate(judging.target, parsed)


def _end_certificate(target: str, parsed: Parsed) -> Finding:
    if target == "icg":
        return _error(
            NON_CA,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} is not a CA: it is an end (server) certificate. For an ICG route "
                    "the file must hold every certificate of the ICG's chain except the end "
                    "certificate; remove this one."
                ),
                label=_label(parsed),
            ),
        )
    return _warning(
        NON_CA,
        parsed.block,
        Phrase(
            gettext_noop(
                "{label} is not a CA: it looks like the UMS's own server certificate. Accepted "
                "for a UMS route (devices trust the CAs above it; it does no harm), but it is "
                "not needed and goes stale when the server certificate is renewed."
            ),
            label=_label(parsed),
        ),
    )


def validity(judging: Judging, i: int) -> Iterator[Finding]:
    """Certificate i is valid now, or the file holds a valid copy of it."""
    parsed = judging.graph.certs[i]
    cert, now = parsed.cert, judging.now
    valid_twin = judging.graph.valid_twin(i, now)
    for code, bad, when in (
        (
            EXPIRED,
            cert.not_valid_after_utc < now,
            Phrase(gettext_noop("expired on {date}"), date=iso_utc(cert.not_valid_after_utc)),
        ),
        (
            NOT_YET_VALID,
            cert.not_valid_before_utc > now,
            Phrase(
                gettext_noop("is not valid before {date}"),
                date=iso_utc(cert.not_valid_before_utc),
            ),
        ),
    ):
        if not bad:
            continue
        if valid_twin is not None:
            yield _warning(
                code,
                parsed.block,
                Phrase(
                    gettext_noop(
                        "{label} {when}. Accepted: block {twin} is a valid copy of the same CA "
                        "with the same key, which devices use instead. Remove this one when "
                        "convenient."
                    ),
                    label=_label(parsed),
                    when=when,
                    twin=valid_twin.block,
                ),
            )
        else:
            yield _error(
                code,
                parsed.block,
                Phrase(
                    gettext_noop(
                        "{label} {when}; devices reject a chain with it. Download the current "
                        "chain from the UMS/ICG."
                    ),
                    label=_label(parsed),
                    when=when,
                ),
            )


def expiring_soon(judging: Judging, i: int) -> Iterator[Finding]:
    """A warning while certificate i has less than the warning threshold left."""
    parsed = judging.graph.certs[i]
    not_after, now, days = parsed.cert.not_valid_after_utc, judging.now, judging.expiry_warning_days
    if now <= not_after <= now + dt.timedelta(days=days):
        yield _warning(
            EXPIRING_SOON,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} expires on {date}, in {days} days (warning threshold {threshold} "
                    "days). Renew it and upload the new chain in time."
                ),
                label=_label(parsed),
                date=iso_utc(not_after),
                days=(not_after - now).days,
                threshold=days,
            ),
        )


def key_strength(judging: Judging, i: int) -> Iterator[Finding]:
    """Certificate i's key is at least RSA/DSA 2048 or EC 224 bits, the root's too."""
    parsed = judging.graph.certs[i]
    key_text, bits = describe_key(parsed.cert)
    key = parsed.cert.public_key()
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        minimum = MIN_RSA_BITS
    elif isinstance(key, ec.EllipticCurvePublicKey):
        minimum = MIN_EC_BITS
    else:
        return  # Ed25519 and Ed448 have one fixed, strong size
    if bits is not None and bits < minimum:
        yield _error(
            WEAK_KEY,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} has a weak key ({key}); at least RSA {bits} or EC P-256 is required. "
                    "Devices' TLS refuses such keys and they can be broken."
                ),
                label=_label(parsed),
                key=key_text,
                bits=str(MIN_RSA_BITS),
            ),
        )


def signature_hash(judging: Judging, i: int) -> Iterator[Finding]:
    """Certificate i is not signed with SHA-1 or MD5, unless it is a root (a warning then)."""
    parsed = judging.graph.certs[i]
    try:
        algorithm = parsed.cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    weak_hash = _WEAK_HASHES.get(algorithm.name) if algorithm is not None else None
    if not weak_hash:
        return
    if judging.graph.self_signed[i]:
        yield _warning(
            SHA1,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} is a self-signed root signed with {hash}. Accepted: a pinned root is "
                    "trusted as it is, its own signature is never checked; re-issue it with "
                    "SHA-256 when convenient."
                ),
                label=_label(parsed),
                hash=weak_hash,
            ),
        )
    else:
        yield _error(
            SHA1,
            parsed.block,
            Phrase(
                gettext_noop(
                    "{label} is signed with {hash}, which devices' TLS refuses and which can be "
                    "forged; the CA must re-issue it with SHA-256 or better."
                ),
                label=_label(parsed),
                hash=weak_hash,
            ),
        )


Rule = Callable[[Judging, int], Iterator[Finding]]

#: Applied to every certificate of the file, in this order.
CERTIFICATE_RULES: tuple[Rule, ...] = (
    links,
    ca_flag,
    validity,
    expiring_soon,
    key_strength,
    signature_hash,
)


# --- The chain as a whole ----------------------------------------------------------------


def no_rootless_loops(judging: Judging) -> Iterator[Finding]:
    """Certificates signing each other in a loop with no root: each member is blamed once,
    unless one of its ancestors already is (as unlinked, by :func:`links`)."""
    graph = judging.graph
    for i, parsed in enumerate(graph.certs):
        if graph.reaches_root[i] or i in graph.orphans or graph.linked_twin(i) is not None:
            continue
        if not graph.ancestors(i) & graph.orphans:
            yield _error(
                UNLINKED,
                parsed.block,
                Phrase(
                    gettext_noop(
                        "{label} does not lead to a self-signed root: its issuers are in the file "
                        "but none of them ends in a root. Add the root certificate."
                    ),
                    label=_label(parsed),
                ),
            )


def judge(judging: Judging) -> Iterator[Finding]:
    """Every rule over every certificate, then the rules about the chain as a whole."""
    for i in range(len(judging.graph.certs)):
        for rule in CERTIFICATE_RULES:
            yield from rule(judging, i)
    yield from no_rootless_loops(judging)
