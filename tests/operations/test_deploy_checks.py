"""check --deploy warns about development choices in production; bad *_FILE is clear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
# The checks read the database engine only; no connection is made with the override.
database_override = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


def _ids(**kwargs) -> set[str]:
    return {message.id for message in run_checks(include_deployment_checks=True, **kwargs)}


@database_override
def test_sqlite_and_a_per_process_cache_are_warned_about(settings):
    settings.DATABASES = {
        **settings.DATABASES,
        "default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.sqlite3"},
    }
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert {"operations.W001", "operations.W002"} <= _ids()


@database_override
def test_postgresql_and_redis_are_not_warned_about(settings):
    settings.DATABASES = {
        **settings.DATABASES,
        "default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql"},
    }
    redis = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
    with override_settings(CACHES=redis):  # restored before the teardown clears the cache
        assert not {"operations.W001", "operations.W002"} & _ids()


def test_the_development_or_a_short_encryption_key_is_warned_about(settings):
    settings.FIELD_ENCRYPTION_KEYS = [settings.DEVELOPMENT_FIELD_ENCRYPTION_KEY]
    assert "operations.W003" in _ids()
    settings.FIELD_ENCRYPTION_KEYS = ["hunter2"]
    assert "operations.W004" in _ids()
    settings.FIELD_ENCRYPTION_KEYS = ["a passphrase of well over thirty-two characters"]
    assert not {"operations.W003", "operations.W004"} & _ids()


def test_a_secret_file_that_does_not_exist_is_a_clear_start_up_error(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY_FILE": str(tmp_path / "missing-secret"),
        "FIELD_ENCRYPTION_KEY": "x" * 44,
        "ONBOARDING_SIGNING_KEYS": "unused",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"SECRET_KEY_FILE is '{tmp_path / 'missing-secret'}', which cannot be read" in (
        result.stderr
    )
    assert "FileNotFoundError" not in result.stderr
