"""Writes for certificate chains: check an upload, create, replace.

Every entry point that accepts a chain (the chain and route admin forms, the route
import, anything later) reads and checks the file with :func:`chain_check_upload` and
stores it with :func:`chain_create`, so they share one size limit, one verdict
(:mod:`certificates.validation`) and one rule for storage: a refused file writes
nothing, an accepted one is written once under a name that never overwrites an earlier
upload, and a failed database write removes the file again.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from certificates import conf
from certificates.models import Certificate, CertificateChain
from certificates.validation import ChainReport, inspect_chain_bytes

logger = logging.getLogger(__name__)

# English constants (the tests reuse them), said in the active language where raised.
CHAIN_REFUSED = gettext_noop("The certificate chain was refused; nothing was stored.")
CHAIN_ALREADY_REPLACED = gettext_noop("This certificate chain has already been replaced.")
CHAIN_NAME_REQUIRED = gettext_noop("Give the certificate chain a name.")


class ChainRejected(ValidationError):
    """The uploaded file was refused. ``messages`` name the block and the reason."""

    def __init__(self, report: ChainReport) -> None:
        self.report = report
        super().__init__(report.error_messages or [gettext(CHAIN_REFUSED)])


@dataclass(frozen=True)
class CheckedChain:
    """A chain file as an entry point read it, and the verdict on it."""

    data: bytes
    report: ChainReport

    @property
    def accepted(self) -> bool:
        return self.report.accepted

    def accepted_report(self) -> ChainReport:
        """The report of an accepted file; :class:`ChainRejected` for a refused one."""
        if not self.report.accepted:
            raise ChainRejected(self.report)
        return self.report


def chain_read_upload(upload: IO[bytes] | bytes) -> bytes:
    """The bytes of an uploaded chain file, at most one byte past the size limit.

    One byte more than the limit is enough for the verdict to say ``too_large``, as
    every entry point says it, without reading a huge upload into memory. Bytes already
    in memory are returned whole, so the verdict names their real size.
    """
    if isinstance(upload, bytes):
        return upload
    return upload.read(conf.chain_max_bytes() + 1)


def chain_check_upload(upload: IO[bytes] | bytes, *, target: str) -> CheckedChain:
    """Read ``upload`` (a file object or bytes) as :func:`chain_read_upload` does and judge
    it as a chain for a ``target`` route: what every upload form and the import check
    before anything is stored. Stores nothing; :func:`chain_create` stores.
    """
    data = chain_read_upload(upload)
    return CheckedChain(data, inspect_chain_bytes(data, target=target))


# Files written by chain_create inside ``chain_files_atomic``; removed if that block fails.
_stored_files: contextvars.ContextVar[list[tuple[Storage, str]] | None] = contextvars.ContextVar(
    "certificates_stored_files", default=None
)


@contextlib.contextmanager
def chain_files_atomic(using: str | None = None) -> Iterator[None]:
    """``transaction.atomic`` that also deletes the chain files stored inside it on error.

    Storage is not transactional: a chain stored early in an all-or-nothing import
    would stay behind when a later row rolls the import back. Wrap such work in this
    block instead of a bare ``transaction.atomic``.
    """
    outer = _stored_files.get()
    stored: list[tuple[Storage, str]] = []
    token = _stored_files.set(stored)
    try:
        with transaction.atomic(using=using):
            yield
    except BaseException:
        for storage, name in stored:
            _delete_quietly(storage, name)
        raise
    else:
        if outer is not None:
            # Nested: the outer block may still fail and must clean these up too.
            outer.extend(stored)
    finally:
        _stored_files.reset(token)


def _delete_quietly(storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:
        # Leave the database error (the real cause) to propagate; log the leftover name.
        logger.exception("Could not delete the stored chain file %s after a failed write", name)


def _original_name(filename: str) -> str:
    # Browsers may send a full Windows path; keep only the last component.
    return os.path.basename(filename.replace("\\", "/"))[:255] or "chain.pem"


@transaction.atomic
def chain_create(
    *,
    tenant: Any,
    name: str,
    data: bytes,
    filename: str,
    uploaded_by: Any = None,
    target: str = "ums",
) -> CertificateChain:
    """Validate ``data`` as a chain for a ``target`` route and store it for ``tenant``.

    Raises :class:`ChainRejected` (nothing stored) when the file is refused, or a
    ``ValidationError`` for a bad name. The original bytes are kept as the file; the
    normalised root-first PEM and one ``Certificate`` row per certificate are saved.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": gettext(CHAIN_NAME_REQUIRED)})
    report = chain_check_upload(data, target=target).accepted_report()
    chain = CertificateChain(
        tenant=tenant,
        name=name,
        original_filename=_original_name(filename),
        sha256=hashlib.sha256(data).hexdigest(),
        pem=report.pem,
        uploaded_by=uploaded_by,
    )
    chain.full_clean(exclude=["file"])
    # The storage is configured never to overwrite, so a second upload of the same
    # file gets a new name and history stays intact.
    chain.file.save(chain.original_filename, ContentFile(data), save=False)
    storage, stored_name = chain.file.storage, str(chain.file.name)
    tracker = _stored_files.get()
    if tracker is not None:
        tracker.append((storage, stored_name))
    try:
        chain.save()
        Certificate.objects.bulk_create(_certificate_rows(chain, report))
    except BaseException:
        _delete_quietly(storage, stored_name)
        raise
    return chain


def _certificate_rows(chain: CertificateChain, report: ChainReport) -> list[Certificate]:
    """One row per certificate of the verdict, root first."""
    return [
        Certificate(
            chain=chain,
            position=position,
            subject=info.subject,
            issuer=info.issuer,
            serial=info.serial,
            not_before=info.not_before,
            not_after=info.not_after,
            sha256=info.sha256,
            key_description=info.key,
            is_ca=info.is_ca,
            self_signed=info.self_signed,
            pem=info.pem,
        )
        for position, info in enumerate(report.certificates)
    ]


@transaction.atomic
def chain_replace(
    *,
    route_chain: CertificateChain,
    data: bytes,
    filename: str,
    replaced_by: Any = None,
    target: str = "ums",
    name: str | None = None,
) -> CertificateChain:
    """Store a new chain in place of ``route_chain`` and keep the old one as history.

    The old chain gets ``replaced_at``, ``replaced_by`` and ``superseded_by``. Routes
    are not touched here: the onboarding app points its routes at the returned chain.
    """
    old = CertificateChain.objects.select_for_update().get(pk=route_chain.pk)
    if old.replaced_at is not None:
        raise ValidationError(gettext(CHAIN_ALREADY_REPLACED))
    new = chain_create(
        tenant=old.tenant,
        name=name or old.name,
        data=data,
        filename=filename,
        uploaded_by=replaced_by,
        target=target,
    )
    old.replaced_at = timezone.now()
    old.replaced_by = replaced_by
    old.superseded_by = new
    old.save(update_fields=["replaced_at", "replaced_by", "superseded_by"])
    route_chain.refresh_from_db()
    return new
