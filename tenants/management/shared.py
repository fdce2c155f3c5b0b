"""What the operator commands share: the company account named by its slug, a
``ValidationError`` told in the one line a command prints before it exits non-zero, and
the audit entry each run of a command that changes something leaves."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from tenants.audit import audit_record, os_actor, safe_arguments
from tenants.models import AuditOutcome, Tenant
from tenants.selectors import tenant_by_slug

logger = logging.getLogger(__name__)


def tenant_or_error(slug: str) -> Tenant:
    """The company account with ``slug``, or the command's one-line error."""
    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise CommandError(f"No company account with slug {slug!r}.")
    return tenant


def one_line(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class AuditedCommand(BaseCommand):
    """A command that changes something: every run leaves one ``tenants.AuditEntry``.

    The entry says who (the shell account), what (the command and its options, secrets
    left out), ``audit_counts`` as ``handle`` filled them, and how it ended: succeeded,
    or failed with the command's one-line error. The company account is the one the
    ``slug`` argument names. A run that changes nothing (``audit_wanted`` False, such
    as a dry run) writes no entry.
    """

    #: Options written only as "(hidden)", besides those whose names look secret.
    audit_hidden: frozenset[str] = frozenset()

    def audit_wanted(self, options: dict[str, Any]) -> bool:
        return True

    @property
    def audit_action(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

    def execute(self, *args: Any, **options: Any) -> str | None:
        self.audit_counts: dict[str, int] = {}
        if not self.audit_wanted(options):
            return super().execute(*args, **options)
        try:
            output = super().execute(*args, **options)
        except CommandError as exc:
            self._audit_failure(options, str(exc))
            raise
        except Exception as exc:
            # Only the kind of error: its text may quote input, such as a secret.
            self._audit_failure(options, type(exc).__name__)
            raise
        self._audit(options, AuditOutcome.SUCCEEDED, "")
        return output

    def _audit_failure(self, options: dict[str, Any], message: str) -> None:
        try:
            self._audit(options, AuditOutcome.FAILED, message)
        except DatabaseError:
            # The database is likely why the command failed: keep that error, not this.
            logger.exception("Could not write the audit entry of %s", self.audit_action)

    def _audit(self, options: dict[str, Any], outcome: AuditOutcome, message: str) -> None:
        slug = options.get("slug")
        audit_record(
            action=self.audit_action,
            actor=os_actor(),
            outcome=outcome,
            tenant=tenant_by_slug(slug) if isinstance(slug, str) else None,
            tenant_slug=slug if isinstance(slug, str) else "",
            arguments=safe_arguments(options, self.audit_hidden),
            counts=self.audit_counts,
            message=message,
        )
