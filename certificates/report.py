"""The verdict on a chain file: problem codes (spec section 4.2) and the report shape.

Shared by :mod:`certificates.parsing` (problems found while reading) and
:mod:`certificates.rules` (problems found while judging); :mod:`certificates.validation`
puts them together into a :class:`ChainReport`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from common.i18n import translated

TARGETS = ("ums", "icg")

# Problem codes of spec section 4.2; a code can be an error in one case and a warning in
# another, the message says which and why. The order is the order of a block's problems.
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


@dataclass(frozen=True)
class Problem:
    code: str
    block: int | None  # None: the file as a whole (too large, nothing found)
    #: English (commands, JSON); a :class:`common.i18n.Phrase` where it was judged, so a
    #: page can say it in its reader's language (:attr:`ChainReport.error_messages`).
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "block": self.block, "message": self.message}

    def sort_key(self) -> tuple[int, int]:
        """Reports list problems by block (the whole file first), then by code."""
        return (self.block or 0, CODES.index(self.code))


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
            "not_before": iso_utc(self.not_before),
            "not_after": iso_utc(self.not_after),
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

    @property
    def error_messages(self) -> list[str]:
        """What a form or an exception shows for a refused file, block by block, in the
        active language (each ``message`` stays English for commands and JSON)."""
        return [translated(p.message) for p in self.errors]

    @property
    def warning_messages(self) -> list[str]:
        """The warnings as :attr:`error_messages` says the errors."""
        return [translated(p.message) for p in self.warnings]


def iso_utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
