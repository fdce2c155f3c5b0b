"""Load the demo company account from fixtures/demo.json (idempotent; used by `make run`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
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

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
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
        for member in demo["members"]:
            if member.get("password"):
                self.stdout.write(
                    f"  {demo['tenant']['name']} {member['role']}: {member['username']} / {member['password']}"
                )

    def _load(self, demo: dict[str, Any], folder: Path) -> bool:
        User = get_user_model()
        op = demo["operator"]
        if not User.objects.filter(username=op["username"]).exists():
            User.objects.create_superuser(op["username"], op["email"], op["password"])
        existing = Tenant.objects.filter(slug=demo["tenant"]["slug"]).first()
        if existing is not None:
            # A database from before company domains: its claims were migrated as
            # pending; the demo must still onboard after `make run`.
            _vouch_for_demo_domains(existing)
            return False
        tenant = tenant_create(**demo["tenant"])
        for member in demo["members"]:
            if (
                member.get("username")
                and not User.objects.filter(username=member["username"]).exists()
            ):
                User.objects.create_user(
                    member["username"], member["email"], member["password"], is_staff=True
                )
            membership_save(tenant=tenant, email=member["email"], role=member["role"])
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


def _vouch_for_demo_domains(tenant: Tenant) -> None:
    # The demo's domains cannot be proven in DNS: the operator vouches for them, so
    # `make run` onboards at once (spec 2.1).
    for claim in CompanyDomain.objects.filter(tenant=tenant).exclude(status=DomainStatus.VERIFIED):
        domain_verify_by_operator(claim=claim, by="load_demo")
