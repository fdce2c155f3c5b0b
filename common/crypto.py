"""Encryption at rest for secrets kept in the database (IdP client secrets).

Values are Fernet tokens (AES-128-CBC + HMAC-SHA256) made with the first key of
``settings.FIELD_ENCRYPTION_KEYS``; every listed key can decrypt, so a key is rotated
by putting the new one first: old values stay readable and are re-encrypted with the
new key whenever they are saved again.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


def _fernet_key(raw: str) -> bytes:
    """Accept a Fernet key as generated, or derive one from any other passphrase."""
    try:
        if len(base64.urlsafe_b64decode(raw.encode())) == 32:
            return raw.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest())


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys])


def encrypt(plaintext: str) -> str:
    return _multifernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _multifernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY; "
            "was the key changed without keeping the old one?"
        ) from exc


class EncryptedTextField(models.TextField):
    """Stores ``encrypt(value)``; Python code only ever sees the plaintext.

    Empty strings are stored as empty strings so "no secret" stays visible in the
    database without revealing anything.
    """

    def from_db_value(self, value, expression, connection):  # type: ignore[no-untyped-def]
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):  # type: ignore[no-untyped-def]
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
