"""Reads about tenants and who may see them: the one scoping rule of the product.

Every query that serves a company's staff goes through ``tenants_for`` (directly or via
``scope_queryset``), so "which tenants may this person see for this purpose" is decided
in one place. Superusers (platform operators) see every tenant.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.db.models import QuerySet

from tenants.models import Membership, Role, Tenant


def tenants_for(user, *, roles: Iterable[Role | str]) -> QuerySet[Tenant]:  # type: ignore[no-untyped-def]
    """Tenants in which ``user`` holds one of ``roles``."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Tenant.objects.none()
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(
        pk__in=Membership.objects.filter(user=user, role__in=list(roles)).values("tenant_id")
    )


def tenant_lookup(model: type[models.Model]) -> str | None:
    """The ORM path from ``model`` to its Tenant ('' for Tenant itself), or None if unscoped.

    Follows a ``tenant`` foreign key, else a ``route`` or ``chain`` one, so new models are
    scoped by declaring the natural relation rather than by registering anything.
    """
    if model is Tenant:
        return ""
    names = {
        f.name: f
        for f in model._meta.get_fields()
        if f.concrete and (f.many_to_one or f.one_to_one)  # forward foreign keys only
    }
    if "tenant" in names:
        return "tenant"
    for name in ("route", "chain"):
        related = names[name].related_model if name in names else None
        if isinstance(related, type):
            inner = tenant_lookup(related)
            if inner is not None:
                return f"{name}__{inner}" if inner else name
    return None


def scope_queryset(queryset: QuerySet, user, *, roles: Iterable[Role | str]) -> QuerySet:  # type: ignore[no-untyped-def]
    """Restrict ``queryset`` to rows of tenants where ``user`` holds one of ``roles``."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return queryset
    path = tenant_lookup(queryset.model)
    if path is None:
        return queryset.none()
    allowed = tenants_for(user, roles=roles)
    return queryset.filter(**{f"{path}__in" if path else "pk__in": allowed})


def tenant_of(obj: models.Model) -> Tenant | None:
    path = tenant_lookup(type(obj))
    if path is None:
        return None
    current: object = obj
    for step in [p for p in path.split("__") if p]:
        current = getattr(current, step, None)
        if current is None:
            return None
    return current if isinstance(current, Tenant) else None


def tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()
