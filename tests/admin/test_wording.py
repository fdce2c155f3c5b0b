"""What a customer reads is in words, not codes (issue 13, defect 8)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from onboarding.events import REASON_IDP_UNAVAILABLE
from onboarding.reasons import REASON_TEXT, reason_text
from onboarding.selectors import REASON_DOMAIN_UNVERIFIED
from tests import factories

pytestmark = pytest.mark.django_db


def test_every_reason_code_has_a_sentence():
    import onboarding.events as events
    import onboarding.selectors as selectors

    codes = {
        value
        for module in (events, selectors)
        for name, value in vars(module).items()
        if name.startswith("REASON_")
    }
    assert codes <= set(REASON_TEXT)


def test_the_event_list_and_page_give_reasons_in_words(client, acme, bob):
    event = factories.OnboardingEventFactory(
        tenant=acme, result="failure", reason=REASON_IDP_UNAVAILABLE, device_os_version="12.5.1"
    )
    client.force_login(bob)

    listing = client.get(reverse("admin:onboarding_onboardingevent_changelist")).content.decode()
    detail = client.get(
        reverse("admin:onboarding_onboardingevent_change", args=[event.pk])
    ).content.decode()

    assert reason_text(REASON_IDP_UNAVAILABLE) in listing
    assert ">idp_unavailable<" not in listing
    assert reason_text(REASON_IDP_UNAVAILABLE) in detail
    assert "IGEL OS version" in detail and "Device os version" not in detail


def test_the_reason_filter_offers_sentences(client, acme, bob):
    factories.OnboardingEventFactory(tenant=acme, result="failure", reason=REASON_DOMAIN_UNVERIFIED)
    client.force_login(bob)

    page = client.get(reverse("admin:onboarding_onboardingevent_changelist")).content.decode()

    assert "not verified for the company" in page


def test_an_activation_refusal_names_roles_as_the_admin_shows_them(client, acme, carol):
    from tenants.models import Activation

    Activation.objects.filter(tenant=acme).delete()
    client.force_login(carol)

    response = client.post(reverse("admin:tenants_tenant_activate", args=[acme.pk]), follow=True)

    page = response.content.decode()
    assert "super admin or an OBS admin" in page and "super_admin or obs_admin" not in page


def test_a_list_is_titled_by_what_it_lists(client, bob):
    client.force_login(bob)

    page = client.get(reverse("admin:onboarding_route_changelist")).content.decode()

    assert "Select route to change" not in page and "<title>" in page


def test_someone_with_one_company_never_picks_it_and_gets_no_popup_shortcuts(client, bob):
    client.force_login(bob)

    response = client.get(reverse("admin:onboarding_route_add"))

    form = response.context["adminform"].form
    assert form.fields["tenant"].empty_label is None
    assert form.initial.get("tenant") or form["tenant"].value()
    page = response.content.decode()
    assert "add_id_identity_provider" not in page and "change_id_certificate_chain" not in page
