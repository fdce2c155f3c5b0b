"""The environment of a bench that runs the service as in production: DEBUG off, and
the secrets production then requires, generated for the one run."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def production_environment(work: Path, **settings: str) -> dict[str, str]:
    """This process's environment with DEBUG off, fresh secrets, a new signing key and
    the media folder in ``work``; ``settings`` come last and win."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    signing_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (work / "signing.pem").write_bytes(signing_key)
    return {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": secrets.token_urlsafe(40),
        "ONBOARDING_SIGNING_KEYS_FILE": str(work / "signing.pem"),
        "MEDIA_ROOT": str(work / "media"),
        **settings,
    }
