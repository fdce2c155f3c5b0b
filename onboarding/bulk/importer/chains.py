"""The certificate-chain check as the importer uses it: the one upload rule of
``certificates.services`` (read at most one byte past the limit, one verdict), judged once
per content and target however many routes name the same file.
"""

from __future__ import annotations

import hashlib
from typing import IO

from certificates.conf import chain_max_bytes
from certificates.services import chain_check_upload, chain_read_upload
from certificates.validation import ChainReport


def inspect(data: bytes, target: str, cache: dict[tuple[str, str], ChainReport]) -> ChainReport:
    # Many routes often name the same chain file; judge each content once per target.
    key = (hashlib.sha256(data).hexdigest(), target)
    if key not in cache:
        checked = chain_check_upload(data, target=target if target in ("ums", "icg") else "ums")
        cache[key] = checked.report
    return cache[key]


def read_limited(handle: IO[bytes]) -> bytes:
    """The chain file's bytes, at most one byte over the limit (enough for the check to
    say "too large" without reading a huge file whole)."""
    with handle:
        return chain_read_upload(handle)


def longest_cell_chars() -> int:
    """The longest token or cell a reader accepts: an inline chain as PEM text (DER grows
    by 4/3 in base64), or 16 Mi characters, whichever is more."""
    return max(16 << 20, 4 * chain_max_bytes())
