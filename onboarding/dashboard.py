"""The admin's home page and sidebar (django-unfold callbacks named in settings.UNFOLD)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.db.models import Count, Min, Model
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse, reverse_lazy
from django.utils import formats, timezone
from django.utils.translation import gettext

from certificates import conf as certificate_conf
from certificates.models import CertificateChain
from domains import conf as domain_conf
from domains.models import CompanyDomain, DomainStatus
from identity.models import IdentityProvider
from onboarding.models import (
    EventAction,
    EventResult,
    MappedDomain,
    MappedUser,
    OnboardingEvent,
    Route,
)
from onboarding.reasons import reason_text
from tenants.admin_scoping import can_manage
from tenants.models import ALL_ROLES, OBS_ROLES, Activation, AuditEntry, Membership, Tenant
from tenants.selectors import tenants_for


def favicon_url(request: HttpRequest) -> str:
    return static("favicon.svg")


def stylesheet_url(request: HttpRequest) -> str:
    return static("obs-admin.css")


def script_url(request: HttpRequest) -> str:
    return static("obs-admin.js")


def _may_view(model: type[Model]) -> Callable[[HttpRequest], bool]:
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
                {
                    "title": gettext("Home"),
                    "icon": "home",
                    "link": reverse_lazy("admin:index"),
                },
                _item(gettext("Company accounts"), "apartment", Tenant),
                _item(gettext("Identity providers"), "badge", IdentityProvider),
                _item(gettext("Certificate chains"), "verified_user", CertificateChain),
                _item(gettext("Routes"), "alt_route", Route),
                _item(gettext("Company domains"), "dns", CompanyDomain),
            ],
        },
        {
            "title": gettext("Look up"),
            "separator": True,
            "items": [
                _item(gettext("Mapped users"), "person", MappedUser),
                _item(gettext("Mapped domains"), "domain", MappedDomain),
                _item(gettext("Onboarding events"), "history", OnboardingEvent),
                _item(gettext("Members"), "group", Membership),
                _item(gettext("Audit log"), "receipt_long", AuditEntry),
            ],
        },
        {
            "title": gettext("Platform"),
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
        _item(gettext("Activations"), "toggle_on", Activation),
        _item(gettext("Certificates"), "workspace_premium", Certificate),
        _item(gettext("Users"), "manage_accounts", User),
        _item(gettext("Groups"), "groups", Group),
        _item(gettext("Staff sign-ins (IdP)"), "key", ExternalIdentity),
        _item(gettext("Sign-in lock-outs"), "lock", AccessAttempt),
    ]


# --- Home page -------------------------------------------------------------------------

PERIOD_DAYS = 30
TOP_REASONS = 5


@dataclass(frozen=True)
class Step:
    """One step of the vendor guide's order, ticked from what the database holds."""

    title: str
    done: bool
    url: str
    action: str
    hint: str = ""


def _url(name: str, *args: Any, query: str = "") -> str:
    return reverse(f"admin:{name}", args=args) + (f"?{query}" if query else "")


def checklist(tenant: Tenant) -> list[Step]:
    """Getting started, in the guide's order; each step links to where it is done."""
    activated = Activation.objects.filter(tenant=tenant).exists()
    idps = IdentityProvider.objects.filter(tenant=tenant)
    routes = Route.objects.filter(tenant=tenant)
    company = f"tenant__id__exact={tenant.pk}"
    return [
        Step(
            gettext("Activate IGEL OS Onboarding"),
            activated,
            _url("tenants_tenant_change", tenant.pk),
            gettext("Activate"),
            gettext("Once per company account, by a super admin or an OBS admin."),
        ),
        Step(
            gettext("Add your identity provider and test its discovery"),
            any(idp.discovery_ok for idp in idps),
            _url("identity_identityprovider_changelist", query=company)
            if idps.exists()
            else _url("identity_identityprovider_add"),
            gettext("Open identity providers")
            if idps.exists()
            else gettext("Add an identity provider"),
            gettext("Press “Save and test discovery” on the provider's page."),
        ),
        Step(
            gettext("Create a route with the UMS / ICG certificate chain"),
            routes.filter(certificate_chain__isnull=False).exists(),
            _url("onboarding_route_add"),
            gettext("Add a route"),
            gettext("The chain is the file from “Download Certificate Chain” in the UMS Web App."),
        ),
        Step(
            gettext("Map users or domains to the route"),
            MappedUser.objects.filter(tenant=tenant).exists()
            or MappedDomain.objects.filter(tenant=tenant).exists(),
            _url("onboarding_route_changelist", query=company),
            gettext("Open routes"),
        ),
        Step(
            gettext("Prove your domains with a DNS TXT record"),
            _domains_proven(tenant),
            _url("domains_companydomain_changelist", query=company),
            gettext("Open company domains"),
            gettext("Addresses route only under a verified domain."),
        ),
        Step(
            gettext("Onboard a first device"),
            OnboardingEvent.objects.filter(
                tenant=tenant, action=EventAction.TOKEN, result=EventResult.SUCCESS
            ).exists(),
            _url("onboarding_onboardingevent_changelist", query=company),
            gettext("Open onboarding events"),
            gettext("Try an address in the routing preview on the route list first."),
        ),
    ]


def _domains_proven(tenant: Tenant) -> bool:
    if not domain_conf.verification_enabled():
        return True
    claims = CompanyDomain.objects.filter(tenant=tenant)
    return claims.exists() and not claims.exclude(status=DomainStatus.VERIFIED).exists()


def _days() -> list[dt.date]:
    today = timezone.localdate()
    return [today - dt.timedelta(days=n) for n in range(PERIOD_DAYS - 1, -1, -1)]


def activity(tenant: Tenant) -> dict[str, Any]:
    """Onboardings of the last 30 days by outcome, per day, and the commonest failures."""
    since = timezone.now() - dt.timedelta(days=PERIOD_DAYS)
    recent = OnboardingEvent.objects.filter(tenant=tenant, created_at__gte=since)
    done = recent.filter(action=EventAction.TOKEN, result=EventResult.SUCCESS)
    failed = recent.filter(result=EventResult.FAILURE)
    per_day = {
        kind: dict(
            events.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
            .values_list("day")
            .annotate(n=Count("pk"))
            .values_list("day", "n")
        )
        for kind, events in (("done", done), ("failed", failed))
    }
    days = _days()
    chart = {
        # "02 Dec" in English; the translation chooses the format ("2. Dez").
        "labels": [formats.date_format(d, gettext("d M")) for d in days],
        "datasets": [
            {"label": gettext("Onboarded"), "data": [per_day["done"].get(d, 0) for d in days]},
            {"label": gettext("Failed"), "data": [per_day["failed"].get(d, 0) for d in days]},
        ],
    }
    reasons = (
        failed.exclude(reason="")
        .values("reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "reason")[:TOP_REASONS]
    )
    return {
        "onboarded": done.count(),
        "failed": failed.count(),
        "chart": json.dumps(chart),
        "reasons": [
            {
                "text": reason_text(r["reason"]),
                "count": r["n"],
                "url": _url(
                    "onboarding_onboardingevent_changelist",
                    query=f"tenant__id__exact={tenant.pk}&reason={r['reason']}",
                ),
            }
            for r in reasons
        ],
    }


def attention(tenant: Tenant) -> dict[str, Any]:
    """Chains expiring soon and routes no one is mapped to."""
    horizon = timezone.now() + dt.timedelta(days=certificate_conf.expiry_warning_days())
    chains = (
        CertificateChain.objects.filter(tenant=tenant, replaced_at__isnull=True)
        .annotate(first_expiry=Min("certificates__not_after"))
        .filter(first_expiry__lte=horizon)
        .order_by("first_expiry")
    )
    idle = (
        Route.objects.filter(tenant=tenant)
        .annotate(users=Count("mapped_users"), domains=Count("mapped_domains"))
        .filter(users=0, domains=0)
        .order_by("display_name")
    )
    return {"expiring_chains": list(chains), "idle_routes": list(idle)}


def _chosen_tenant(request: HttpRequest, tenants: list[Tenant]) -> Tenant | None:
    wanted = request.GET.get("company", "")
    return next((t for t in tenants if t.slug == wanted), tenants[0] if tenants else None)


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """The home page: one company's checklist and figures (the operator switches company)."""
    tenants = list(tenants_for(request.user, roles=ALL_ROLES).select_related("activation"))
    tenant = _chosen_tenant(request, tenants)
    context["companies"] = tenants
    context["company"] = tenant
    if tenant is None:
        return context
    steps = checklist(tenant)
    context.update(
        {
            "activated": steps[0].done,
            "may_activate": can_manage(request, OBS_ROLES, tenant),
            "activate_url": _url("tenants_tenant_activate", tenant.pk),
            "steps": steps,
            "steps_done": sum(step.done for step in steps),
            "period_days": PERIOD_DAYS,
            **activity(tenant),
            **attention(tenant),
        }
    )
    return context
