"""Import routes with their mapped users, domains and chains: check everything, then write.

The import runs in three phases inside one transaction (:mod:`.engine`):

1. **Read and check** the file as a stream. Every mapping goes through the model rules
   (:func:`onboarding.services.mapped_user_build` / ``mapped_domain_build``); every
   route through ``Route.full_clean`` (:mod:`.routes`, values coerced by :mod:`.fields`);
   every chain through :func:`certificates.validation.inspect_chain_bytes`
   (:mod:`.chains`), found through the :class:`ImportSource` (:mod:`.source`). All
   problems are collected with their line, none stops the reading (except broken JSON
   syntax).
2. **Plan** against the database: which routes and mappings are created, changed,
   moved or removed, and which values another company account already maps (found
   per batch through the ``lower(...)`` unique indexes, never a query per row).
3. **Write**, only when there is no problem and it is not a dry run: routes and chains
   through the services the admin uses, mappings with batched ``bulk_create`` /
   ``update`` / ``delete``. Any failure rolls the whole import back, including chain
   files already put into storage (:func:`certificates.services.chain_files_atomic`).
   The outcome is an :class:`ImportReport` (:mod:`.report`).

Memory: the file is never held whole, and the mapping keys of the file and of the
company (up to some two million in a 50 MiB file) are kept on disk in a private SQLite
database (:mod:`.keys`), so an import's memory does not grow with the file; chain
files are read one at a time.
"""

from __future__ import annotations

from onboarding.bulk import readers
from onboarding.bulk.importer import engine, fields, report, routes, source
from onboarding.bulk.importer.engine import (
    BATCH_SIZE,
    DUPLICATE_IN_FILE,
    LOOKUP_BATCH,
    NOT_UTF8,
    NOT_UTF8_LINE,
    WRITE_FAILED,
    import_routes,
)
from onboarding.bulk.importer.report import (
    MAX_LISTED_PROBLEMS,
    MORE_PROBLEMS,
    SAMPLE_SIZE,
    ImportReport,
    MappingChanges,
)
from onboarding.bulk.importer.source import (
    CHAIN_NOT_FOUND,
    CHAIN_OUTSIDE,
    FORMATS,
    UNKNOWN_FORMAT,
    ChainNotFound,
    ChainOutside,
    ImportSource,
    detect_format,
)

#: Every template of what an import says (its report's lines, problems, stages), so that
#: text stored in English is said in its reader's language (``common.i18n``).
TEMPLATES = (
    *engine.TEMPLATES,
    *routes.TEMPLATES,
    *fields.TEMPLATES,
    *source.TEMPLATES,
    *report.TEMPLATES,
    *readers.TEMPLATES,
)

__all__ = [
    "TEMPLATES",
    "BATCH_SIZE",
    "CHAIN_NOT_FOUND",
    "CHAIN_OUTSIDE",
    "DUPLICATE_IN_FILE",
    "FORMATS",
    "LOOKUP_BATCH",
    "MAX_LISTED_PROBLEMS",
    "MORE_PROBLEMS",
    "NOT_UTF8",
    "NOT_UTF8_LINE",
    "SAMPLE_SIZE",
    "UNKNOWN_FORMAT",
    "WRITE_FAILED",
    "ChainNotFound",
    "ChainOutside",
    "ImportReport",
    "ImportSource",
    "MappingChanges",
    "detect_format",
    "import_routes",
]
