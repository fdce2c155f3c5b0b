"""Settings of certificate chains, read in one place (defaults live in config/settings.py:
``CERTIFICATE_CHAIN_MAX_BYTES`` 1 MiB, ``CERTIFICATE_CHAIN_MAX_CERTIFICATES`` 50,
``CERTIFICATE_EXPIRY_WARNING_DAYS`` 30).

Read at call time, so a test's ``settings`` override applies to the next upload.
"""

from __future__ import annotations

from django.conf import settings


def chain_max_bytes() -> int:
    """The largest chain file accepted; a larger one is refused unparsed (``too_large``)."""
    return int(settings.CERTIFICATE_CHAIN_MAX_BYTES)


def max_certificates() -> int:
    """More blocks than this in one file is refused (``too_large``) before the pairwise
    signature checks, whose cost grows with the square of the count (a real chain holds
    a handful; 1,600 certificates under one name took minutes)."""
    return int(settings.CERTIFICATE_CHAIN_MAX_CERTIFICATES)


def expiry_warning_days() -> int:
    """A certificate expiring within this many days is ``expiring_soon``."""
    return int(settings.CERTIFICATE_EXPIRY_WARNING_DAYS)
