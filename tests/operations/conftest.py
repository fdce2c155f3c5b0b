"""Fixtures of the operations tests; the device-flow fixtures are shared with them."""

from __future__ import annotations

from tests.onboarding.conftest import acme_route, device, globex_idp, globex_route, idp  # noqa: F401
