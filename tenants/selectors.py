"""Reads about tenants and who may see them: the one scoping rule of the product.

Every query that serves a company's staff goes through ``tenants_for`` (directly or via
``scope_queryset``), so "which tenants may this person see for this purpose" is decided
in one place. Superusers (platform operators) see every tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

from django.db import models
from django.db.models import QuerySet

from tenants.models import Membership, Role, Tenant

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    #: Whoever asks: ``request.user`` (signed in or not).
    AnyUser = User | AnonymousUser

_M = TypeVar("_M", bound=models.Model)


def tenants_for(user: AnyUser, *, roles: Iterable[Role | str]) -> QuerySet[Tenant]:
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

    A foreign key to Tenant, else the one forward foreign key that leads to a tenant (a
    certificate through its chain), so a new model is scoped by declaring its natural
    relation: nothing is registered here, and no other app's field names are known here.
    A model with two such ways and no key of its own to Tenant is ambiguous: unscoped.
    """
    return _tenant_lookup(model, seen=frozenset())


def _tenant_lookup(model: type[models.Model], *, seen: frozenset[type]) -> str | None:
    if model is Tenant:
        return ""
    relations = [
        (f.name, f.related_model)
        for f in model._meta.get_fields()
        # forward foreign keys only
        if f.concrete and (f.many_to_one or f.one_to_one) and isinstance(f.related_model, type)
    ]
    direct = [name for name, related in relations if related is Tenant]
    if direct:
        return direct[0] if len(direct) == 1 else None
    seen = seen | {model}  # a relation back to a model on the way leads nowhere new
    paths = set()
    for name, related in relations:
        if related in seen:
            continue
        inner = _tenant_lookup(related, seen=seen)
        if inner is not None:
            paths.add(f"{name}__{inner}")
    return paths.pop() if len(paths) == 1 else None


def scope_queryset(
    queryset: QuerySet[_M], user: AnyUser, *, roles: Iterable[Role | str]
) -> QuerySet[_M]:
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
