"""A company's invitation never touches someone's account (issue 15, finding 4)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants import services
from tenants.models import Membership, Role
from tests import factories

pytestmark = pytest.mark.django_db


def test_an_invitation_from_another_company_does_not_link_an_existing_account(
    client, acme, alice, globex
):
    globex_admin = factories.UserFactory(username="gary", email="gary@globex.example")
    factories.MembershipFactory(
        tenant=globex, user=globex_admin, email=globex_admin.email, role=Role.ACCOUNT_ADMIN
    )
    client.force_login(globex_admin)
    response = client.post(
        reverse("admin:tenants_membership_add"),
        {"tenant": globex.pk, "email": "Alice@Acme.example", "role": "obs_admin"},
    )
    assert response.status_code == 302
    invitation = Membership.objects.get(tenant=globex, email="alice@acme.example")
    assert invitation.user is None
    assert not alice.memberships.filter(tenant=globex).exists()


def test_an_invitation_never_turns_is_staff_back_on(client, acme, carol):
    cleared = factories.UserFactory(username="erin", email="erin@acme.example", is_staff=False)
    client.force_login(carol)
    client.post(
        reverse("admin:tenants_membership_add"),
        {"tenant": acme.pk, "email": "erin@acme.example", "role": "obs_admin"},
    )
    cleared.refresh_from_db()
    assert not cleared.is_staff
    assert Membership.objects.get(email="erin@acme.example").user is None


def test_the_operator_still_links_an_existing_account(acme):
    user = factories.UserFactory(username="fred", email="fred@acme.example", is_staff=False)
    membership, _ = services.membership_save(tenant=acme, email=user.email, role=Role.OBS_ADMIN)
    user.refresh_from_db()
    assert membership.user == user and user.is_staff
