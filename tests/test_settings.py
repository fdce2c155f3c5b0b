"""Settings: runs with nothing configured; refuses to start in production without secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent


def _signing_key() -> str:
    """A fresh EC P-256 key as PEM, as ONBOARDING_SIGNING_KEYS takes it."""
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(ROOT)),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_without_a_secret_key_refuses_to_start():
    result = _run(
        {
            "DEBUG": "False",
            "FIELD_ENCRYPTION_KEY": "k" * 40,
            "ONBOARDING_SIGNING_KEYS": _signing_key(),
        },
        "check",
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_without_a_field_encryption_key_refuses_to_start():
    result = _run(
        {"DEBUG": "False", "SECRET_KEY": "x" * 60, "ONBOARDING_SIGNING_KEYS": _signing_key()},
        "check",
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stderr


def test_production_without_signing_keys_refuses_to_start(tmp_path):
    result = _run(
        {"DEBUG": "False", "SECRET_KEY": "x" * 60, "FIELD_ENCRYPTION_KEY": "k" * 40},
        "check",
    )
    assert result.returncode != 0
    assert "ONBOARDING_SIGNING_KEYS is not set" in result.stderr


def test_signing_keys_can_be_given_on_one_line_with_escaped_line_breaks():
    one_line = _signing_key().replace("\n", "\\n")
    assert "\n" not in one_line
    result = _run(
        {
            "DEBUG": "False",
            "SECRET_KEY": "x" * 60,
            "FIELD_ENCRYPTION_KEY": "k" * 40,
            "ONBOARDING_SIGNING_KEYS": one_line,
            "BASE_URL": "https://obs.example.com",
        },
        "check",
    )
    assert result.returncode == 0, result.stderr  # a key that did not parse stops start-up


def test_a_signing_key_that_does_not_parse_stops_start_up(tmp_path):
    keys = tmp_path / "keys.pem"
    keys.write_text(
        _signing_key() + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    result = _run(
        {
            "DEBUG": "False",
            "SECRET_KEY": "x" * 60,
            "FIELD_ENCRYPTION_KEY": "k" * 40,
            "ONBOARDING_SIGNING_KEYS_FILE": str(keys),
        },
        "migrate",
        "--check",
    )
    assert result.returncode != 0
    assert "ONBOARDING_SIGNING_KEYS: block 2 does not parse as a PEM private key." in result.stderr


def test_secrets_can_be_read_from_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("y" * 60)
    result = _run(
        {
            "DEBUG": "False",
            "SECRET_KEY_FILE": str(secret),
            "FIELD_ENCRYPTION_KEY": "k" * 40,
            "ONBOARDING_SIGNING_KEYS": _signing_key(),
            "BASE_URL": "https://obs.example.com",
        },
        "check",
    )
    assert result.returncode == 0, result.stderr


def test_the_deploy_check_is_clean_behind_https(tmp_path):
    result = _run(
        {
            "DEBUG": "False",
            "SECRET_KEY": "a-long-random-production-secret-key-with-many-characters-1234567890",
            "FIELD_ENCRYPTION_KEY": "k" * 40,
            "ONBOARDING_SIGNING_KEYS": _signing_key(),
            "BASE_URL": "https://obs.example.com",
            # Production's database and cache (named only: the deploy check connects to
            # neither); SQLite or an in-process cache would be warned about.
            "DATABASE_URL": "postgres://obs@db.invalid:5432/obs",
            "REDIS_URL": "redis://cache.invalid:6379/0",
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_with_nothing_configured_it_runs_on_sqlite_and_local_storage(settings):
    assert settings.DATABASES["default"]["ENGINE"] in (
        "django.db.backends.sqlite3",
        "common.postgresql",  # CI's second run sets DATABASE_URL (Django's, subclassed)
    )
    assert settings.STORAGES["default"]["BACKEND"] in (
        "django.core.files.storage.FileSystemStorage",
        "storages.backends.s3.S3Storage",
    )


def _production(tmp_path, base_url: str) -> dict[str, str]:
    return {
        "DEBUG": "False",
        "SECRET_KEY": "a-long-random-production-secret-key-with-many-characters-1234567890",
        "FIELD_ENCRYPTION_KEY": "k" * 40,
        "ONBOARDING_SIGNING_KEYS": _signing_key(),
        "BASE_URL": base_url,
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "STATIC_ROOT": str(tmp_path / "static-never-collected"),
    }


_PROBE = (
    "import django; django.setup();"
    "from django.conf import settings; from django.test import Client;"
    "r = Client().get('/admin/login/', secure=True);"
    "print(r.status_code, settings.CSRF_COOKIE_SECURE, settings.SESSION_COOKIE_SECURE, settings.SECURE_SSL_REDIRECT)"
)


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [("https://obs.example.com", "True"), ("http://obs.lab.example", "False")],
    ids=["https", "plain-http"],
)
def test_production_serves_the_admin_without_collectstatic_and_cookies_follow_the_scheme(
    tmp_path, base_url, secure
):
    """https: secure cookies and the redirect; plain http (a lab): cookies usable over http.

    Either way the admin renders though collectstatic never ran."""
    env = _production(tmp_path, base_url)
    assert _run(env, "migrate", "-v0").returncode == 0
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **env,
        },
    )
    assert result.stdout.split() == ["200", secure, secure, secure], result.stderr[-2000:]


def test_without_debug_set_a_public_base_url_never_gets_the_development_keys():
    """Issue 15 #6: forgetting DEBUG is production, not development on a public host."""
    result = _run({"BASE_URL": "https://obs.example.com"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


_SHOW = (
    "import django; django.setup(); from django.conf import settings;"
    "print(settings.DEBUG, settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES, settings.OUTBOUND_REQUIRE_HTTPS)"
)


def test_without_debug_set_the_service_runs_in_production_mode(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _SHOW],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "a-long-random-production-secret-key-with-many-characters-1234567890",
            "FIELD_ENCRYPTION_KEY": "k" * 40,
            "ONBOARDING_SIGNING_KEYS": _signing_key(),
            "BASE_URL": "https://obs.example.com",
        },
    )
    assert result.stdout.split() == ["False", "True", "True"], result.stderr[-2000:]
