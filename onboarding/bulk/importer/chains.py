"""The certificate-chain check as the importer uses it: the size limit and one verdict per
content and target.

Kept apart (and small) because the chain-upload rule is being made one service for the
admin forms and the importer (issue 10); these two functions are where the importer
switches to it.
"""

from __future__ import annotations

import hashlib
from typing import IO

from django.conf import settings

from certificates.validation import DEFAULT_MAX_BYTES, ChainReport, inspect_chain_bytes


def _chain_max_bytes() -> int:
    return int(getattr(settings, "CERTIFICATE_CHAIN_MAX_BYTES", DEFAULT_MAX_BYTES))


def _inspect(data: bytes, target: str, cache: dict[tuple[str, str], ChainReport]) -> ChainReport:
    # Many routes often name the same chain file; judge each content once per target.
    key = (hashlib.sha256(data).hexdigest(), target)
    if key not in cache:
        cache[key] = inspect_chain_bytes(data, target=target if target in ("ums", "icg") else "ums")
    return cache[key]


def read_limited(handle: IO[bytes]) -> bytes:
    """The chain file's bytes, at most one byte over the limit (enough for the check to
    say "too large" without reading a huge file whole)."""
    limit = _chain_max_bytes()
    with handle:
        return handle.read(limit + 1)


def longest_cell_chars() -> int:
    """The longest token or cell a reader accepts: an inline chain as PEM text (DER grows
    by 4/3 in base64), or 16 Mi characters, whichever is more."""
    return max(16 << 20, 4 * _chain_max_bytes())
