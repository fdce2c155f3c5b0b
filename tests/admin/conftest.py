"""Fixtures of the admin tests: Acme's route and its OpenID provider on loopback (trials)."""

from __future__ import annotations

from tests.onboarding.conftest import acme_route, idp  # noqa: F401
