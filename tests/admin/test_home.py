"""The admin home page: the guide's checklist from real state, the last 30 days, attention."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from onboarding.models import EventAction, EventResult
from tenants.models import Activation
from tests import factories

pytestmark = pytest.mark.django_db

HOME = reverse("admin:index")


def _steps(response) -> list[bool]:
    return [step.done for step in response.context["steps"]]


def test_a_new_company_starts_with_nothing_ticked_and_the_activation_button(client, acme, alice):
    Activation.objects.filter(tenant=acme).delete()
    client.force_login(alice)

    response = client.get(HOME)

    assert _steps(response) == [False] * 6
    page = response.content.decode()
    assert "IGEL OS Onboarding is not activated for Acme Corp" in page
    assert reverse("admin:tenants_tenant_activate", args=[acme.pk]) in page


def test_the_activation_button_activates_and_returns_home(client, acme, alice):
    Activation.objects.filter(tenant=acme).delete()
    client.force_login(alice)

    response = client.post(reverse("admin:tenants_tenant_activate", args=[acme.pk]), {"next": HOME})

    assert response.status_code == 302 and response["Location"] == HOME
    assert Activation.objects.filter(tenant=acme).exists()
    assert _steps(client.get(HOME))[0] is True


def test_an_account_admin_sees_the_banner_but_no_button(client, acme, carol):
    Activation.objects.filter(tenant=acme).delete()
    client.force_login(carol)

    page = client.get(HOME).content.decode()

    assert "not activated" in page and 'id="activate-button"' not in page
    response = client.post(reverse("admin:tenants_tenant_activate", args=[acme.pk]))
    assert not Activation.objects.filter(tenant=acme).exists()
    assert response.status_code == 302


def test_another_companys_activation_url_is_not_found(client, globex, bob):
    Activation.objects.filter(tenant=globex).delete()
    client.force_login(bob)

    response = client.post(reverse("admin:tenants_tenant_activate", args=[globex.pk]))

    assert response.status_code == 404
    assert not Activation.objects.filter(tenant=globex).exists()


def test_each_step_is_ticked_by_what_the_database_holds(client, acme, bob):
    idp = factories.IdentityProviderFactory(tenant=acme, discovery_tested_at=timezone.now())
    idp.discovery_passed_at = idp.discovery_tested_at
    idp.save()
    route = factories.RouteFactory(tenant=acme, identity_provider=idp)
    factories.MappedUserFactory(route=route, email="alice@acme.example")
    factories.CompanyDomainFactory(tenant=acme, domain="acme.example", status="verified")
    factories.OnboardingEventFactory(
        tenant=acme, action=EventAction.TOKEN, result=EventResult.SUCCESS
    )
    client.force_login(bob)

    assert _steps(client.get(HOME)) == [True] * 6


def test_the_last_30_days_count_outcomes_and_name_failures_in_words(client, acme, bob):
    for _ in range(2):
        factories.OnboardingEventFactory(
            tenant=acme,
            action=EventAction.AUTHORIZE,
            result=EventResult.FAILURE,
            reason="not_mapped",
        )
    factories.OnboardingEventFactory(
        tenant=acme, action=EventAction.TOKEN, result=EventResult.SUCCESS
    )
    client.force_login(bob)

    response = client.get(HOME)

    assert response.context["onboarded"] == 1 and response.context["failed"] == 2
    page = response.content.decode()
    assert "The e-mail address is not mapped to any route" in page and "not_mapped —" not in page


def test_expiring_chains_and_routes_without_users_need_attention(client, acme, bob):
    chain = factories.CertificateChainFactory(tenant=acme, name="Old chain")
    chain.certificates.update(not_after=timezone.now() + dt.timedelta(days=3))
    factories.RouteFactory(tenant=acme, display_name="Lonely UMS")
    client.force_login(bob)

    page = client.get(HOME).content.decode()

    assert "Old chain" in page and "Lonely UMS" in page


def test_the_operator_switches_between_companies(client, acme, globex, operator):
    client.force_login(operator)

    response = client.get(HOME, {"company": "globex"})

    assert response.context["company"] == globex
    assert 'id="company-switcher"' in response.content.decode()


def test_a_member_cannot_switch_to_another_company(client, acme, globex, bob):
    client.force_login(bob)

    response = client.get(HOME, {"company": "globex"})

    assert response.context["company"] == acme
    assert "Globex" not in response.content.decode()
