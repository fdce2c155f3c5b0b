"""Where an import file and the chain files its rows name come from.

A file on disk resolves chain paths relative to its own directory and never outside it
(the path guard); an upload resolves them among the chain files uploaded with it, so an
admin upload never reads the server's file system.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.utils.translation import gettext_noop

from common.i18n import Phrase
from onboarding.bulk.importer.chains import read_limited

FORMATS = ("json", "csv")
UNKNOWN_FORMAT = gettext_noop(
    "The import file must be JSON (.json) or CSV (.csv); {name} is neither."
)
CHAIN_NOT_FOUND = gettext_noop('"{ref}" was not found (paths are relative to {base})')
CHAIN_OUTSIDE = gettext_noop(
    '"{ref}" is outside the directory of {name}: a chain path is relative to the import '
    "file and stays inside its directory (also through symbolic links)"
)
DIRECTORY_OF = gettext_noop("the directory of {name}")
UPLOADED_CHAINS = gettext_noop("the chain files uploaded with it")
TEMPLATES = (UNKNOWN_FORMAT, CHAIN_NOT_FOUND, CHAIN_OUTSIDE, DIRECTORY_OF, UPLOADED_CHAINS)


class ChainNotFound(LookupError):
    pass


class ChainOutside(LookupError):
    """A chain path of a file on disk that leads out of the file's directory."""


@dataclass
class ImportSource:
    """An import file and how to find the chain files its rows name.

    ``name`` is what messages show (``routes.csv:17: ...``). Chain references are
    resolved by ``read_chain``: relative to the file's directory for a file on disk;
    among the uploaded chain files (by path, then by file name) for an upload, so an
    admin upload never reads the server's file system.
    """

    name: str
    format: str
    opener: Callable[[], IO[bytes]]
    size: int | None
    chain_reader: Callable[[str], tuple[bytes, str]]
    base_description: str

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> ImportSource:
        file = Path(path)
        base = file.resolve().parent

        def read_chain(ref: str) -> tuple[bytes, str]:
            # An import file may come from a customer: its paths must not make the
            # command read other files of the server (/etc/..., ../../, a symlink out).
            candidate = Path(ref)
            if candidate.is_absolute():
                raise ChainOutside(ref)
            candidate = (base / candidate).resolve()
            if not candidate.is_relative_to(base):
                raise ChainOutside(ref)
            if not candidate.is_file():
                raise ChainNotFound(ref)
            return read_limited(candidate.open("rb")), candidate.name

        return cls(
            name=file.name,
            format=detect_format(file.name),
            opener=lambda: file.open("rb"),
            size=file.stat().st_size,
            chain_reader=read_chain,
            base_description=Phrase(DIRECTORY_OF, name=file.name),
        )

    @classmethod
    def from_bytes(
        cls, name: str, data: bytes, chain_files: Mapping[str, bytes] | None = None
    ) -> ImportSource:
        chains = dict(chain_files or {})
        by_basename = {basename(k): v for k, v in chains.items()}

        def read_chain(ref: str) -> tuple[bytes, str]:
            found = chains.get(ref)
            if found is None:
                found = by_basename.get(basename(ref))
            if found is None:
                raise ChainNotFound(ref)
            return found, basename(ref)

        return cls(
            name=basename(name),
            format=detect_format(name),
            opener=lambda: io.BytesIO(data),
            size=len(data),
            chain_reader=read_chain,
            base_description=Phrase(UPLOADED_CHAINS),
        )


def detect_format(name: str) -> str:
    extension = os.path.splitext(name)[1].lower().lstrip(".")
    if extension not in FORMATS:
        raise ValueError(Phrase(UNKNOWN_FORMAT, name=basename(name)))
    return extension


def basename(name: str) -> str:
    """The file name of a path written with / or \\ (an upload from Windows)."""
    return os.path.basename(name.replace("\\", "/"))
