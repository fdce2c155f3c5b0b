"""Bulk import and export of routes, mapped users, mapped domains and chains.

``import_routes`` and ``export_routes`` are the services behind the commands of the
same names and the admin's "Import routes" page and "Export" action.
"""

from __future__ import annotations

from onboarding.bulk.exporter import EXPORT_FORMATS, ChainFiles, ExportSummary, export_routes
from onboarding.bulk.importer import ImportReport, ImportSource, detect_format, import_routes
from onboarding.bulk.progress import Progress, StreamProgress
from onboarding.bulk.readers import Issue

__all__ = [
    "EXPORT_FORMATS",
    "ChainFiles",
    "ExportSummary",
    "ImportReport",
    "ImportSource",
    "Issue",
    "Progress",
    "StreamProgress",
    "detect_format",
    "export_routes",
    "import_routes",
]
