"""The file storage as the background import jobs use it: streamed reads, listings.

Django's storages can hand a stored file back whole: django-storages' S3 file downloads
the object into a spooled temporary file that (with its default ``max_memory_size`` of
0) never rolls over to disk, so a 50 MB import file would sit in a worker's memory.
``open_stream`` reads an S3 object as the HTTP body arrives instead; local files are
read from disk as they are.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

from django.core.files.storage import Storage


class _BodyReader(io.RawIOBase):
    """A raw binary stream over an HTTP body with ``read(n)`` (botocore's StreamingBody),
    counting what it has read so that ``tell()`` works as progress."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._position += size
        return size

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def open_stream(storage: Storage, name: str) -> IO[bytes]:
    """The stored file ``name`` as a binary stream read in pieces, never whole."""
    bucket = getattr(storage, "bucket", None)
    if bucket is not None and hasattr(storage, "_normalize_name"):
        from storages.utils import clean_name

        # django-storages' S3Storage: the object key as its own open() computes it.
        key = storage._normalize_name(clean_name(name))
        body = bucket.Object(key).get()["Body"]
        return io.BufferedReader(_BodyReader(body), buffer_size=64 * 1024)
    stored = storage.open(name, "rb")
    return stored.file if isinstance(stored.file, io.BufferedIOBase) else stored


def stored_names(storage: Storage, folder: str) -> Iterator[str]:
    """Every file below ``folder`` (none if it does not exist), as storage names."""
    try:
        directories, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{folder}/{name}"
    for directory in directories:
        yield from stored_names(storage, f"{folder}/{directory}")
