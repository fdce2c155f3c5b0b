"""The one verdict on a root certificate chain file, exactly as an upload is judged.

One function, :func:`inspect_chain_bytes`, used by the upload service, the admin, the
route import and ``inspect_chain``, so every entry point gives the same verdict. It is
pure: no database, no storage, no logging of the input.

It reads the file (:mod:`certificates.parsing`), applies the rules
(:mod:`certificates.rules`) and reports in the shape of spec section 4.2
(:mod:`certificates.report`). The names other modules import from here stay here.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import serialization
from django.utils.translation import gettext_noop

from certificates import conf
from certificates.parsing import Parsed, read_chain_file
from certificates.report import (
    CODES,
    DUPLICATE,
    EXPIRED,
    EXPIRING_SOON,
    NO_CERTIFICATE,
    NON_CA,
    NOT_YET_VALID,
    PRIVATE_KEY,
    SHA1,
    TARGETS,
    TOO_LARGE,
    UNLINKED,
    UNPARSEABLE,
    WEAK_KEY,
    CertInfo,
    ChainReport,
    Problem,
)
from certificates.rules import (
    NOTHING_READABLE,
    ChainGraph,
    Judging,
    describe_key,
    is_ca,
    judge,
    without_duplicates,
)
from common.i18n import Phrase

__all__ = [
    "CODES",
    "DUPLICATE",
    "EXPIRED",
    "EXPIRING_SOON",
    "NON_CA",
    "NOT_YET_VALID",
    "NO_CERTIFICATE",
    "PRIVATE_KEY",
    "SHA1",
    "TARGETS",
    "TOO_LARGE",
    "UNLINKED",
    "UNPARSEABLE",
    "WEAK_KEY",
    "CertInfo",
    "ChainReport",
    "Problem",
    "inspect_chain_bytes",
]


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
    ``accepted`` is true exactly when there are no errors. The limits default to the
    settings (:mod:`certificates.conf`).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    max_bytes = conf.chain_max_bytes() if max_bytes is None else max_bytes
    if len(data) > max_bytes:
        # Not parsed at all: a huge file is refused before any work is spent on it.
        return ChainReport(accepted=False, errors=[_file_too_large(len(data), max_bytes)])
    reading = read_chain_file(data)
    max_certificates = conf.max_certificates() if max_certificates is None else max_certificates
    if reading.blocks > max_certificates:
        # Refused before the pairwise checks; a key in the file is still named.
        keys = [p for p in reading.errors if p.code == PRIVATE_KEY][:1]
        too_many = _too_many_blocks(reading.blocks, max_certificates)
        return ChainReport(accepted=False, errors=[too_many, *keys])

    certs, duplicates = without_duplicates(reading.certs)
    errors = [*reading.errors, *duplicates]
    if not certs and not reading.damaged_der:
        errors.append(NOTHING_READABLE)
    judging = Judging(
        graph=ChainGraph.of(certs),
        target=target,
        now=now or dt.datetime.now(dt.UTC),
        expiry_warning_days=(
            conf.expiry_warning_days() if expiry_warning_days is None else expiry_warning_days
        ),
    )
    findings = list(judge(judging))
    errors += [f.problem for f in findings if f.refuses]
    warnings = [f.problem for f in findings if not f.refuses]
    return _report(judging.graph, errors, warnings)


def _file_too_large(size: int, max_bytes: int) -> Problem:
    return Problem(
        TOO_LARGE,
        None,
        Phrase(
            gettext_noop(
                "The file is {size:,} bytes; at most {limit:,} bytes are accepted. "
                "A certificate chain is a few kilobytes."
            ),
            size=size,
            limit=max_bytes,
        ),
    )


def _too_many_blocks(blocks: int, max_certificates: int) -> Problem:
    return Problem(
        TOO_LARGE,
        None,
        Phrase(
            gettext_noop(
                "The file holds {blocks:,} blocks; at most {limit:,} certificates are accepted. "
                "A certificate chain holds a few."
            ),
            blocks=blocks,
            limit=max_certificates,
        ),
    )


def _report(graph: ChainGraph, errors: list[Problem], warnings: list[Problem]) -> ChainReport:
    infos = [_info(graph.certs[i], graph.self_signed[i]) for i in graph.root_first()]
    return ChainReport(
        accepted=not errors,
        certificates=infos,
        errors=sorted(errors, key=Problem.sort_key),
        warnings=sorted(warnings, key=Problem.sort_key),
        pem="".join(c.pem for c in infos),
    )


def _info(parsed: Parsed, self_signed: bool) -> CertInfo:
    cert = parsed.cert
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "X"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=parsed.fingerprint,
        is_ca=is_ca(cert),
        self_signed=self_signed,
        key=describe_key(cert)[0],
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        block=parsed.block,
    )
