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
from typing import Any, cast

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


UNDECRYPTABLE = (
    "A stored secret cannot be decrypted with any of the {count} key(s) in "
    "FIELD_ENCRYPTION_KEY: the key it was encrypted with is missing (restored with another "
    "key, or rotated without keeping the old one). Put that key back, first or after the "
    "current one, or enter the secret again."
)


class SecretUnavailable(ValueError):
    """A stored secret that none of the configured keys decrypts."""


def decrypt(token: str) -> str:
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    try:
        return _multifernet(keys).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnavailable(UNDECRYPTABLE.format(count=len(keys))) from exc


class SealedSecret:
    """A secret as loaded from the database: still encrypted until :meth:`reveal`.

    Loading a row never decrypts, so a wrong ``FIELD_ENCRYPTION_KEY`` breaks only what
    uses the secret (the token request), not every page or request that reads the row.
    Saving it back stores the same ciphertext. Comparing it with a string decrypts.
    """

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def reveal(self) -> str:
        return decrypt(self.token)

    def __bool__(self) -> bool:
        return bool(self.token)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SealedSecret):
            return self.token == other.token
        if isinstance(other, str):
            return self.reveal() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.token)

    def __repr__(self) -> str:
        return "SealedSecret(...)"

    __str__ = __repr__


def reveal(secret: str | SealedSecret) -> str:
    """The plaintext of a secret that may still be sealed; SecretUnavailable if it cannot."""
    return secret.reveal() if isinstance(secret, SealedSecret) else secret


class EncryptedTextField(models.TextField):
    """Stores ``encrypt(value)``; loads a :class:`SealedSecret`, decrypted where used.

    Assign a plaintext string to change the secret. Empty strings are stored as empty
    strings so "no secret" stays visible in the database without revealing anything.
    """

    def from_db_value(
        self, value: str | None, expression: Any, connection: Any
    ) -> SealedSecret | str | None:
        if not value:
            return value
        return SealedSecret(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, SealedSecret):
            return value
        return super().to_python(value)

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, SealedSecret):
            return value.token
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)

    def value_to_string(self, obj: models.Model) -> str:
        # dumpdata writes the plaintext, which loaddata encrypts again (as before).
        # The stubs type the stored value as a TextField's str; it is loaded sealed.
        stored = cast("SealedSecret | str", self.value_from_object(obj))
        return reveal(stored or "")
