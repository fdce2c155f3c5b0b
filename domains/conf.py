"""Settings of domain verification, read in one place (defaults live in config/settings.py)."""

from __future__ import annotations

import datetime

from django.conf import settings

MODE_DNS = "dns"
MODE_OFF = "off"
MODES = (MODE_DNS, MODE_OFF)


def verification_enabled() -> bool:
    """False for a single-company install: every domain a tenant maps counts as its own."""
    return settings.DOMAIN_VERIFICATION != MODE_OFF


def grace_period() -> datetime.timedelta:
    return datetime.timedelta(days=settings.DOMAIN_VERIFICATION_GRACE_DAYS)


def nameservers() -> list[str]:
    return list(settings.DOMAIN_VERIFICATION_NAMESERVERS)


def timeout() -> float:
    return float(settings.DOMAIN_VERIFICATION_TIMEOUT)
