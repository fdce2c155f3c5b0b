"""``manage.py check --deploy``: production settings that work but should not be used.

Warnings, not errors: a lab or a single-machine install may choose them knowingly.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

#: A passphrase (not a generated Fernet key) shorter than this is guessable offline.
MIN_PASSPHRASE_LENGTH = 32


def _is_fernet_key(raw: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(raw.encode())) == 32
    except (binascii.Error, ValueError):
        return False


@register(deploy=True)
def database_in_production(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return []
    return [
        Warning(
            "The database is SQLite: one file on one machine, with writers taking turns.",
            hint="Set DATABASE_URL to a PostgreSQL database (docs/deployment.md).",
            id="operations.W001",
        )
    ]


@register(Tags.caches, deploy=True)
def cache_in_production(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    backend = settings.CACHES["default"]["BACKEND"]
    if not backend.endswith(("LocMemCache", "DummyCache", "FileBasedCache")):
        return []
    return [
        Warning(
            f"The cache ({backend.rsplit('.', 1)[-1]}) is private to each process: rate "
            "limits multiply by the number of workers and cached IdP keys are not shared.",
            hint="Set REDIS_URL (or CACHE_URL) to a Redis server shared by every process.",
            id="operations.W002",
        )
    ]


@register(Tags.security, deploy=True)
def field_encryption_key(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    warnings = []
    for position, key in enumerate(settings.FIELD_ENCRYPTION_KEYS, start=1):
        if key == settings.DEVELOPMENT_FIELD_ENCRYPTION_KEY:
            warnings.append(
                Warning(
                    f"FIELD_ENCRYPTION_KEY (key {position}) is the development key, which "
                    "is published in the source: stored IdP secrets are readable by anyone.",
                    hint="Generate one: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                    id="operations.W003",
                )
            )
        elif not _is_fernet_key(key) and len(key) < MIN_PASSPHRASE_LENGTH:
            warnings.append(
                Warning(
                    f"FIELD_ENCRYPTION_KEY (key {position}) is a {len(key)}-character "
                    f"passphrase; shorter than {MIN_PASSPHRASE_LENGTH} it can be guessed.",
                    hint="Use a generated Fernet key (docs/deployment.md, Keys).",
                    id="operations.W004",
                )
            )
    return warnings
