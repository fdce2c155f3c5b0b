from __future__ import annotations

import pytest

from identity import oidc
from tests.idp_server import idp  # noqa: F401  (the loopback IdP fixture)


class FakeClock:
    """Replaces ``identity.oidc.clock`` so "once per minute" is tested without waiting."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    import time

    fake = FakeClock(time.time())
    monkeypatch.setattr(oidc, "clock", fake)
    return fake
