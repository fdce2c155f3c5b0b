"""The audit log: who changed what through an operator command or the admin's route import.

Operator commands that change something derive from
``tenants.management.shared.AuditedCommand``, which writes one entry per run; the
admin's import jobs write theirs when they end (``onboarding.job_runner``). Entries live
here, in ``tenants``, because every app's commands may import ``tenants`` and an entry
belongs to a company account: staff read their company's entries through the one
scoping rule (``tenants.selectors``), operators read all.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

from tenants.models import AuditEntry, AuditOutcome, Tenant

#: Options whose name contains one of these are never written down, only whether given.
SECRET_WORDS = ("secret", "password", "passphrase", "token", "key", "credential")
HIDDEN = "(hidden)"
#: Options every Django command has; they say nothing about what was done.
COMMON_OPTIONS = frozenset(
    {
        "verbosity",
        "settings",
        "pythonpath",
        "traceback",
        "no_color",
        "force_color",
        "skip_checks",
        "stdout",
        "stderr",
    }
)
MAX_MESSAGE_CHARS = 2000


def os_actor() -> str:
    """The shell account running a command: ``os:deploy``, ``os:root (sudo by alice)``."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        # A container may run under a uid without a passwd entry.
        name = f"uid {os.getuid()}"
    sudo = os.environ.get("SUDO_USER", "")
    if sudo and sudo != name:
        return f"os:{name} (sudo by {sudo})"
    return f"os:{name}"


def staff_actor(user: AbstractBaseUser | AnonymousUser | None) -> str:
    if user is None or not user.is_authenticated:
        return "admin:(unknown)"
    return f"admin:{user.get_username()}"


def safe_arguments(options: Mapping[str, Any], hidden: frozenset[str] = frozenset()) -> dict:
    """A command's options as JSON, without Django's own and without secrets."""
    arguments: dict[str, Any] = {}
    for name, value in options.items():
        if name in COMMON_OPTIONS:
            continue
        if name in hidden or any(word in name.lower() for word in SECRET_WORDS):
            arguments[name] = HIDDEN if value else value
            continue
        arguments[name] = _json_value(value)
    return arguments


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return str(value)


def audit_record(
    *,
    action: str,
    actor: str,
    outcome: AuditOutcome,
    tenant: Tenant | None = None,
    tenant_slug: str = "",
    user: User | None = None,
    arguments: Mapping[str, Any] | None = None,
    counts: Mapping[str, int] | None = None,
    message: str = "",
) -> AuditEntry:
    """Write one audit entry (outside any transaction of the work it records)."""
    return AuditEntry.objects.create(
        action=action,
        actor=actor[:200],
        outcome=outcome,
        tenant=tenant,
        tenant_slug=tenant.slug if tenant is not None else tenant_slug[:63],
        user=user if user is not None and user.pk is not None else None,
        arguments=dict(arguments or {}),
        counts=dict(counts or {}),
        message=message[:MAX_MESSAGE_CHARS],
    )
