from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from onboarding.models import Route

pytestmark = pytest.mark.django_db


def test_the_demo_loads_a_working_route_once_and_prints_the_logins(client):
    out = StringIO()
    call_command("load_demo", stdout=out)
    call_command("load_demo", stdout=out)
    text = out.getvalue()
    assert "Demo data loaded." in text and "Demo data already present." in text
    assert "/admin/" in text and "operator / operator-demo" in text

    route = Route.objects.get()
    assert route.tenant.is_activated
    assert route.ums_hostname == "UMS01.Acme.example"
    assert route.mapped_users.get().email == "alice@acme.example"
    assert route.mapped_domains.get().domain == "acme.example"
    certificates = list(route.certificate_chain.certificates.order_by("position"))
    assert len(certificates) == 2 and certificates[0].self_signed

    signed_in = client.post("/admin/login/", {"username": "alice", "password": "alice-demo"})
    assert signed_in.status_code == 302
    assert client.get(f"/admin/onboarding/route/{route.pk}/change/").status_code == 200


def test_the_demo_routes_its_users_and_does_again_after_an_upgrade_left_claims_pending():
    from domains.models import CompanyDomain, DomainStatus
    from onboarding.selectors import route_lookup

    call_command("load_demo", stdout=StringIO())
    assert route_lookup("alice@acme.example").route is not None
    # A database from before company domains: the migration left the claim pending.
    CompanyDomain.objects.update(status=DomainStatus.PENDING, method="")
    assert route_lookup("alice@acme.example").route is None
    call_command("load_demo", stdout=StringIO())
    assert route_lookup("alice@acme.example").route is not None


def test_the_demo_has_a_second_company_not_yet_activated_for_the_guides_first_step(client):
    from tenants.models import Tenant

    out = StringIO()
    call_command("load_demo", stdout=out)
    call_command("load_demo", stdout=StringIO())

    globex = Tenant.objects.get(slug="globex")
    assert not globex.is_activated
    assert "grace / grace-demo" in out.getvalue() and "not activated yet" in out.getvalue()
    client.post("/admin/login/", {"username": "grace", "password": "grace-demo"})
    home = client.get("/admin/").content.decode()
    assert 'id="activate-button"' in home and "Globex Industries" in home
