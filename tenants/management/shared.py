"""What the operator commands share: the company account named by its slug, and a
``ValidationError`` told in the one line a command prints before it exits non-zero."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from tenants.models import Tenant
from tenants.selectors import tenant_by_slug


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
