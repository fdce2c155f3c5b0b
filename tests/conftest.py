"""Shared fixtures: personas and fast defaults.

Personas, after healthchecks' habit: ``alice`` is super_admin of Acme, ``bob`` its
obs_admin, ``carol`` its account_admin; ``mallory`` is obs_admin of Globex, the other
company, and must never see Acme's data; ``operator`` is the platform's superuser.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from identity.oidc.cache import forget_local
from onboarding.ratelimit import forget_refusals
from tenants.models import Role
from tests import factories


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(tmp_path / "media"), "allow_overwrite": False},
            },
        }
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # The development signing key of each test in its own folder, not the checkout's.
    settings.ONBOARDING_DEVELOPMENT_KEY_FILE = tmp_path / "dev-signing-key.pem"
    cache.clear()
    forget_local()  # this process's copies of what the cache held (identity.oidc.cache)
    forget_refusals()  # and the rate-limit refusals it saw (onboarding.ratelimit)
    yield
    cache.clear()
    forget_local()
    forget_refusals()


@pytest.fixture
def acme(db):
    return factories.ActiveTenantFactory(slug="acme", name="Acme Corp")


@pytest.fixture
def globex(db):
    return factories.ActiveTenantFactory(slug="globex", name="Globex Inc")


def _member(tenant, username: str, role: Role):
    user = factories.UserFactory(username=username, email=f"{username}@{tenant.slug}.example")
    factories.MembershipFactory(tenant=tenant, user=user, email=user.email, role=role)
    return user


@pytest.fixture
def alice(acme):
    return _member(acme, "alice", Role.SUPER_ADMIN)


@pytest.fixture
def bob(acme):
    return _member(acme, "bob", Role.OBS_ADMIN)


@pytest.fixture
def carol(acme):
    return _member(acme, "carol", Role.ACCOUNT_ADMIN)


@pytest.fixture
def mallory(globex):
    return _member(globex, "mallory", Role.OBS_ADMIN)


@pytest.fixture
def operator(db):
    return factories.UserFactory(username="operator", is_superuser=True)
