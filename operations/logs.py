"""Log formats: one JSON object per line in production, plain text in development.

``LOG_FORMAT=json`` (the default with DEBUG off) or ``text``. Every record carries the
id of the request it belongs to (``X-Request-ID``), so a request's lines can be found
together; extra fields given as ``extra={"fields": {...}}`` become keys of the object.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from common.requestlog import current_request_id


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``LEVEL logger [request id] message key=value ...`` for a developer's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", "")
        fields = getattr(record, "fields", None)
        line = f"{record.levelname} {record.name}"
        if request_id:
            line += f" [{request_id[:8]}]"
        line += f" {record.getMessage()}"
        if isinstance(fields, dict):
            line += "".join(f" {k}={v}" for k, v in fields.items() if k != "request_id")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line
