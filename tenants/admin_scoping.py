"""One mixin scopes the admin to the tenants a staff member may manage.

After openwisp-users' multitenancy mixin: it restricts the change list, every object
view (another tenant's id answers 404, not 403, so ids cannot be probed), and the
choices of every foreign key in forms and inlines. Subclasses say which roles manage
the model (``roles``); the tenant is found through ``tenants.selectors.tenant_lookup``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Field as ModelField
from django.db.models import ForeignKey, Model, QuerySet
from django.forms import Field as FormField
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest, HttpResponse
from unfold.admin import ModelAdmin

from tenants.models import OBS_ROLES, Role, Tenant
from tenants.selectors import scope_queryset, tenant_lookup, tenant_of, tenants_for

if TYPE_CHECKING:
    # The mixins below typed as what they are mixed into; plain objects at run time.
    _AnyModelAdmin = admin.options.BaseModelAdmin[Any]
    _Inline = admin.options.InlineModelAdmin[Any, Any]
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _AnyModelAdmin = _Inline = _ModelAdmin = object


def can_manage(request: HttpRequest, roles: frozenset[Role], obj: Model | None = None) -> bool:
    """Whether the staff member may manage ``obj`` (None: anything) with one of ``roles``.

    Answers from the per-request cache below, so an admin page (or an action looping
    over many objects) asks the database once per role set, not once per question.
    """
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    allowed = _allowed_tenant_ids(request, roles)
    if obj is None:
        return bool(allowed)
    tenant = tenant_of(obj)
    return tenant is not None and tenant.pk in allowed


def _allowed_tenant_ids(request: HttpRequest, roles: frozenset[Role]) -> set[int]:
    # Cached on the request: the admin asks the same question many times per page.
    cache: dict[frozenset[Role], set[int]] = request.__dict__.setdefault("_tenant_scope", {})
    if roles not in cache:
        cache[roles] = set(tenants_for(request.user, roles=roles).values_list("pk", flat=True))
    return cache[roles]


def _is_relation(model: type[Model], path: str) -> bool:
    try:
        return bool(get_fields_from_path(model, path)[-1].is_relation)
    except (FieldDoesNotExist, NotRelationField):
        return False


class _ScopedFormFields(_AnyModelAdmin):
    roles: frozenset[Role] = OBS_ROLES

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        related = db_field.related_model
        if tenant_lookup(related) is not None:
            base = kwargs.get("queryset", related._default_manager.all())
            kwargs["queryset"] = scope_queryset(base, request.user, roles=self.roles)
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        is_tenant_choice = related is Tenant and db_field.name == "tenant"
        if field is not None and field.queryset is not None and is_tenant_choice:
            companies = list(field.queryset[:2])
            if len(companies) == 1:
                # Someone with one company account never has to pick it from "---------".
                field.initial = companies[0].pk
                field.empty_label = None
        return field

    def formfield_for_dbfield(
        self, db_field: ModelField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> FormField | None:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        widget = getattr(field, "widget", None)
        if isinstance(widget, RelatedFieldWidgetWrapper):
            # No edit/add/delete shortcuts beside a choice: identity providers and chains
            # are set up on their own pages (the guide's steps), not in a popup.
            widget.can_add_related = widget.can_change_related = False
            widget.can_delete_related = widget.can_view_related = False
        return field


_M = TypeVar("_M", bound=Model)


class TenantScopedAdmin(_ScopedFormFields, ModelAdmin, Generic[_M]):
    """A ModelAdmin showing and accepting only objects of the user's permitted tenants."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[_M]:
        queryset = super().get_queryset(request)
        ordering = self.model._meta.ordering
        if ordering and not queryset.query.order_by:
            # Meta.ordering spelled out: a subclass that annotates an aggregate (counts,
            # first expiry) makes a GROUP BY query, which drops the implicit ordering, and
            # autocomplete pages need a stable order.
            queryset = queryset.order_by(*ordering)
        return scope_queryset(queryset, request.user, roles=self.roles)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # "Routes", not Django's "Select route to change".
        title = str(self.model._meta.verbose_name_plural)
        extra = {"title": title[:1].upper() + title[1:], **(extra_context or {})}
        return super().changelist_view(request, extra)

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        """No "company account" column for someone who has only one: room for the rest."""
        columns = list(super().get_list_display(request))
        if not request.user.is_superuser and len(_allowed_tenant_ids(request, self.roles)) <= 1:
            columns = [c for c in columns if c != "tenant"]
        return columns

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        """Filters on relations offer only values in this user's rows.

        Django's plain related-field filter lists every row of the related table, so a
        "company account" or "route" filter would show other companies' names.
        """
        filters: list[Any] = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and _is_relation(self.model, entry):
                filters.append((entry, admin.RelatedOnlyFieldListFilter))
            else:
                filters.append(entry)
        return filters

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> _M:
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Django would redirect with "doesn't exist"; an unknown id and another
            # tenant's id must look the same, and both are "not found".
            raise Http404("No such object.")
        return obj

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_manage(request, self.roles)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage(request, self.roles, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can_manage(request, self.roles)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage(request, self.roles, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage(request, self.roles, obj)


class TenantScopedInline(_ScopedFormFields, _Inline):
    """Mix into an InlineModelAdmin: permissions follow the parent object's tenant."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage(request, self.roles, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage(request, self.roles, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage(request, self.roles, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage(request, self.roles, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope_queryset(super().get_queryset(request), request.user, roles=self.roles)


class NotFoundUnlessPermitted(_ModelAdmin):
    """For admins of objects that belong to no tenant (users, groups, staff identities).

    Staff without rights get 404 for every id, existing or not, so ids cannot be
    probed; Django alone answers 403 for an existing id and redirects for a missing one.
    """

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Model:
        obj = super().get_object(request, object_id, from_field)
        if obj is None or not self.has_view_or_change_permission(request, obj):
            raise Http404("No such object.")
        return obj


if TYPE_CHECKING:
    _ScopedAdmin = TenantScopedAdmin[Any]
else:
    _ScopedAdmin = object


class RecordsOnly(_ScopedAdmin):
    """Rows the service writes itself (events, audit entries, parsed certificates, ...):
    never added or changed in the admin; deleted only where ``records_deletable`` says
    (then by the usual permission rules)."""

    records_deletable = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.records_deletable and super().has_delete_permission(request, obj)
