"""Reads of certificate chains. Tenant scoping for staff is the admin mixin's job;
these are the platform-wide reads that commands and the scoping layer build on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.core.files.storage import Storage, default_storage
from django.db.models import Exists, Min, OuterRef, QuerySet
from django.utils import timezone

from certificates.models import Certificate, CertificateChain


def _horizon(days: int, now: dt.datetime | None) -> dt.datetime:
    return (now or timezone.now()) + dt.timedelta(days=days)


def current_chains() -> QuerySet[CertificateChain]:
    """Chains in use or usable: not replaced by a newer upload."""
    return CertificateChain.objects.filter(replaced_at__isnull=True)


def certificates_expiring_within(
    days: int, *, now: dt.datetime | None = None
) -> QuerySet[Certificate]:
    """Certificates of current chains whose not-after is within ``days`` (expired ones too),
    soonest first, with chain and tenant loaded."""
    return (
        Certificate.objects.filter(
            chain__replaced_at__isnull=True, not_after__lte=_horizon(days, now)
        )
        .select_related("chain", "chain__tenant")
        .order_by("not_after", "chain__tenant__name", "chain__name", "position")
    )


def chains_expiring_within(
    days: int, *, now: dt.datetime | None = None
) -> QuerySet[CertificateChain]:
    """Current chains with at least one certificate expiring within ``days`` (or expired),
    annotated with ``first_expiry``, the earliest not-after of the chain."""
    expiring = Certificate.objects.filter(chain=OuterRef("pk"), not_after__lte=_horizon(days, now))
    return (
        current_chains()
        .filter(Exists(expiring))
        .annotate(first_expiry=Min("certificates__not_after"))
        .select_related("tenant")
        .order_by("first_expiry", "tenant__name", "name")
    )


#: Folder of the storage that holds uploaded chains (see ``models.chain_upload_path``).
CHAIN_FOLDER = "chains"


def _stored_names(storage: Storage, folder: str) -> Iterator[str]:
    directories, files = storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}"
    for directory in directories:
        yield from _stored_names(storage, f"{folder}/{directory}")


def orphan_chain_files(*, older_than: dt.timedelta) -> list[str]:
    """Files under ``chains/`` in the storage that no CertificateChain row names.

    A killed import or upload can leave its file behind (the row was never committed).
    Files younger than ``older_than`` are left out: one may belong to an upload whose
    transaction has not committed yet.
    """
    storage = default_storage
    try:
        stored = sorted(_stored_names(storage, CHAIN_FOLDER))
    except FileNotFoundError:
        return []  # nothing was ever uploaded
    referenced = set(CertificateChain.objects.values_list("file", flat=True))
    cutoff = timezone.now() - older_than
    return [
        name
        for name in stored
        if name not in referenced and storage.get_modified_time(name) < cutoff
    ]
