"""Load the demo company account from fixtures/demo.json (idempotent; used by `make run`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from certificates.models import CertificateChain
from certificates.services import chain_create
from domains.models import CompanyDomain, DomainStatus
from domains.services import domain_verify_by_operator
from identity.services import idp_create
from onboarding.models import DEFAULT_UMS_PORT, Target
from onboarding.services import mapped_domain_add, mapped_user_add, route_create
from tenants.models import Tenant
from tenants.services import membership_save, onboarding_activate, tenant_create

DEMO_FILE = Path(settings.BASE_DIR) / "fixtures" / "demo.json"


class Command(BaseCommand):
    help = "Load the demo company account, its route, chain and logins (changes nothing if already loaded)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=DEMO_FILE)

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        demo = json.loads(file.read_text())
        with transaction.atomic():
            created = self._load(demo, file.parent)
        base = settings.BASE_URL
        self.stdout.write(
            self.style.SUCCESS("Demo data loaded." if created else "Demo data already present.")
        )
        self.stdout.write(f"  Admin:    {base}/admin/")
        op = demo["operator"]
        self.stdout.write(f"  Operator (all tenants):      {op['username']} / {op['password']}")
        for company in (demo, demo.get("not_activated") or {}):
            for member in company.get("members", []):
                if member.get("password"):
                    self.stdout.write(
                        f"  {company['tenant']['name']} {member['role']}:"
                        f" {member['username']} / {member['password']}"
                    )
        if demo.get("not_activated"):
            self.stdout.write(
                f"  {demo['not_activated']['tenant']['name']} is not activated yet: sign in as"
                " its member to try the vendor guide's first step."
            )

    def _load(self, demo: dict[str, Any], folder: Path) -> bool:
        User = get_user_model()
        op = demo["operator"]
        if not User.objects.filter(username=op["username"]).exists():
            User.objects.create_superuser(op["username"], op["email"], op["password"])
        if demo.get("not_activated"):
            # A second company, left for the guide's first step: "Activate".
            _company(demo["not_activated"])
        existing = Tenant.objects.filter(slug=demo["tenant"]["slug"]).first()
        if existing is not None:
            # A database from before company domains: its claims were migrated as
            # pending; the demo must still onboard after `make run`.
            _vouch_for_demo_domains(existing)
            return False
        tenant = _company(demo)
        onboarding_activate(tenant=tenant, by_email=demo["members"][0]["email"])
        idps = {}
        for spec in demo["identity_providers"]:
            idp = idp_create(tenant=tenant, **spec)
            idps[idp.name] = idp
        chains: dict[str, CertificateChain] = {}
        for spec in demo["certificate_chains"]:
            path = folder / spec["file"]
            chains[spec["name"]] = chain_create(
                tenant=tenant, name=spec["name"], data=path.read_bytes(), filename=path.name
            )
        for spec in demo["routes"]:
            route = route_create(
                tenant=tenant,
                display_name=spec["display_name"],
                ums_hostname=spec["ums_hostname"],
                ums_port=spec.get("ums_port", DEFAULT_UMS_PORT),
                target=spec.get("target", Target.UMS),
                identity_provider=idps[spec["identity_provider"]],
                certificate_chain=chains[spec["certificate_chain"]],
                enabled=spec.get("enabled", True),
            )
            for email in spec.get("mapped_users", []):
                mapped_user_add(route=route, email=email)
            for domain in spec.get("mapped_domains", []):
                mapped_domain_add(route=route, domain=domain)
        _vouch_for_demo_domains(tenant)
        return True


def _company(spec: dict[str, Any]) -> Tenant:
    """The company account and its members with their logins (existing ones are kept)."""
    User = get_user_model()
    tenant = Tenant.objects.filter(slug=spec["tenant"]["slug"]).first()
    if tenant is None:
        tenant = tenant_create(**spec["tenant"])
    for member in spec["members"]:
        if member.get("username") and not User.objects.filter(username=member["username"]).exists():
            User.objects.create_user(
                member["username"], member["email"], member["password"], is_staff=True
            )
        membership_save(tenant=tenant, email=member["email"], role=member["role"])
    return tenant


def _vouch_for_demo_domains(tenant: Tenant) -> None:
    # The demo's domains cannot be proven in DNS: the operator vouches for them, so
    # `make run` onboards at once (spec 2.1).
    for claim in CompanyDomain.objects.filter(tenant=tenant).exclude(status=DomainStatus.VERIFIED):
        domain_verify_by_operator(claim=claim, by="load_demo")
