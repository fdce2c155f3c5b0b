"""The admin's home page and sidebar (django-unfold callbacks named in settings.UNFOLD)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse_lazy

from certificates.models import CertificateChain
from domains.models import CompanyDomain
from identity.models import IdentityProvider
from onboarding.models import MappedDomain, MappedUser, OnboardingEvent, Route
from tenants.models import Membership, Tenant


def favicon_url(request: HttpRequest) -> str:
    return static("favicon.svg")


def _may_view(model: type[Model]):  # type: ignore[no-untyped-def]
    def check(request: HttpRequest) -> bool:
        model_admin = admin.site._registry.get(model)
        return model_admin is not None and model_admin.has_module_permission(request)

    return check


def _item(title: str, icon: str, model: type[Model]) -> dict[str, Any]:
    meta = model._meta
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(f"admin:{meta.app_label}_{meta.model_name}_changelist"),
        "permission": _may_view(model),
    }


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """The sidebar in the order of the vendor guide's steps, then what staff look up."""
    return [
        {
            "title": "IGEL OS Onboarding",
            "separator": False,
            "items": [
                {"title": "Home", "icon": "home", "link": reverse_lazy("admin:index")},
                _item("Company accounts", "apartment", Tenant),
                _item("Identity providers", "badge", IdentityProvider),
                _item("Certificate chains", "verified_user", CertificateChain),
                _item("Routes", "alt_route", Route),
                _item("Company domains", "dns", CompanyDomain),
            ],
        },
        {
            "title": "Look up",
            "separator": True,
            "items": [
                _item("Mapped users", "person", MappedUser),
                _item("Mapped domains", "domain", MappedDomain),
                _item("Onboarding events", "history", OnboardingEvent),
                _item("Members", "group", Membership),
            ],
        },
        {
            "title": "Platform",
            "separator": True,
            "collapsible": True,
            "items": _platform_items(),
        },
    ]


def _platform_items() -> list[dict[str, Any]]:
    from axes.models import AccessAttempt
    from django.contrib.auth.models import Group, User

    from certificates.models import Certificate
    from identity.models import ExternalIdentity
    from tenants.models import Activation

    return [
        _item("Activations", "toggle_on", Activation),
        _item("Certificates", "workspace_premium", Certificate),
        _item("Users", "manage_accounts", User),
        _item("Groups", "groups", Group),
        _item("Staff sign-ins (IdP)", "key", ExternalIdentity),
        _item("Sign-in lock-outs", "lock", AccessAttempt),
    ]


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    return context
