"""Who may do what inside a company account (spec section 1)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from onboarding.models import Route
from tenants.models import Activation, Membership, Role
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def inactive(db):
    return factories.TenantFactory(slug="initech", name="Initech")


def _member_of(tenant, username, role):
    user = factories.UserFactory(username=username)
    factories.MembershipFactory(tenant=tenant, user=user, email=user.email, role=role)
    return user


def _activate(client, tenant):
    return client.post(
        reverse("admin:tenants_tenant_changelist"),
        {"action": "activate_onboarding", "_selected_action": [tenant.pk]},
        follow=True,
    )


@pytest.mark.parametrize(
    ("role", "may_activate"),
    [(Role.SUPER_ADMIN, True), (Role.OBS_ADMIN, True), (Role.ACCOUNT_ADMIN, False)],
)
def test_only_super_and_obs_admins_may_activate_onboarding(client, inactive, role, may_activate):
    user = _member_of(inactive, "dana", role)
    client.force_login(user)
    _activate(client, inactive)
    assert Activation.objects.filter(tenant=inactive).exists() is may_activate
    if may_activate:
        activation = Activation.objects.get(tenant=inactive)
        assert activation.activated_by == user
        assert activation.activated_by_email == user.email


def test_activating_twice_keeps_the_first_activation(client, inactive):
    first = _member_of(inactive, "dana", Role.OBS_ADMIN)
    second = _member_of(inactive, "erin", Role.SUPER_ADMIN)
    client.force_login(first)
    _activate(client, inactive)
    client.force_login(second)
    response = _activate(client, inactive)
    assert "already active" in response.content.decode()
    assert Activation.objects.get(tenant=inactive).activated_by == first


def test_a_member_cannot_activate_another_tenant(client, mallory, inactive):
    client.force_login(mallory)
    _activate(client, inactive)
    assert not Activation.objects.filter(tenant=inactive).exists()


@pytest.mark.parametrize(
    ("persona", "routes", "members"),
    [("alice", 200, 200), ("bob", 200, 403), ("carol", 403, 200)],
)
def test_roles_decide_who_manages_routes_and_members(client, request, persona, routes, members):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("admin:onboarding_route_changelist")).status_code == routes
    assert client.get(reverse("admin:tenants_membership_changelist")).status_code == members


def test_a_staff_user_without_membership_sees_no_onboarding_admin(client, db):
    user = factories.UserFactory(username="nobody")
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert response.context["app_list"] == []


def test_routes_cannot_be_created_for_a_tenant_that_is_not_activated(client, inactive):
    user = _member_of(inactive, "dana", Role.OBS_ADMIN)
    idp = factories.IdentityProviderFactory(tenant=inactive)
    chain = factories.CertificateChainFactory(tenant=inactive)
    client.force_login(user)
    response = client.post(
        reverse("admin:onboarding_route_add"),
        {
            "tenant": inactive.pk,
            "display_name": "Too early",
            "ums_hostname": "ums.initech.example",
            "ums_port": 8443,
            "target": "ums",
            "identity_provider": idp.pk,
            "certificate_chain": chain.pk,
            "enabled": "on",
            "mapped_users-TOTAL_FORMS": 0,
            "mapped_users-INITIAL_FORMS": 0,
            "mapped_domains-TOTAL_FORMS": 0,
            "mapped_domains-INITIAL_FORMS": 0,
        },
    )
    assert "not activated" in str(response.context["adminform"].form.errors["tenant"])
    assert not Route.objects.exists()


def test_an_account_admin_invites_members_by_e_mail(client, carol, acme):
    client.force_login(carol)
    response = client.post(
        reverse("admin:tenants_membership_add"),
        {"tenant": acme.pk, "email": "New.Person@Acme.example", "role": "obs_admin"},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(email="new.person@acme.example")
    assert membership.user is None and membership.role == "obs_admin"


def test_an_account_admin_cannot_grant_super_admin(client, carol, acme):
    client.force_login(carol)
    response = client.post(
        reverse("admin:tenants_membership_add"),
        {"tenant": acme.pk, "email": "boss@acme.example", "role": "super_admin"},
    )
    assert response.status_code == 200
    assert not Membership.objects.filter(email="boss@acme.example").exists()
    own = Membership.objects.get(user=carol)
    response = client.post(
        reverse("admin:tenants_membership_change", args=[own.pk]), {"role": "super_admin"}
    )
    own.refresh_from_db()
    assert own.role == "account_admin"


def test_a_super_admin_can_grant_super_admin(client, alice, acme):
    client.force_login(alice)
    client.post(
        reverse("admin:tenants_membership_add"),
        {"tenant": acme.pk, "email": "boss@acme.example", "role": "super_admin"},
    )
    assert Membership.objects.get(email="boss@acme.example").role == "super_admin"


def test_a_route_is_added_with_its_mapped_users_and_domains_normalised(client, bob, acme):
    idp = factories.IdentityProviderFactory(tenant=acme)
    chain = factories.CertificateChainFactory(tenant=acme)
    client.force_login(bob)
    response = client.post(
        reverse("admin:onboarding_route_add"),
        {
            "tenant": acme.pk,
            "display_name": "Berlin UMS",
            "ums_hostname": "UMS01.Acme.example",
            "ums_port": 8443,
            "target": "ums",
            "identity_provider": idp.pk,
            "certificate_chain": chain.pk,
            "enabled": "on",
            "mapped_users-TOTAL_FORMS": 1,
            "mapped_users-INITIAL_FORMS": 0,
            "mapped_users-0-email": "Alice@Acme.Example",
            "mapped_domains-TOTAL_FORMS": 1,
            "mapped_domains-INITIAL_FORMS": 0,
            "mapped_domains-0-domain": "Bücher.Example",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    route = Route.objects.get(display_name="Berlin UMS")
    assert route.ums_hostname == "UMS01.Acme.example"
    assert list(route.mapped_users.values_list("email", flat=True)) == ["alice@acme.example"]
    assert list(route.mapped_domains.values_list("domain", flat=True)) == ["xn--bcher-kva.example"]


def test_a_mapping_owned_by_another_tenant_is_refused_without_naming_it(client, bob, acme, globex):
    factories.MappedUserFactory(
        route=factories.RouteFactory(tenant=globex, display_name="Secret Globex UMS"),
        email="taken@example.com",
        verify_domain=False,
    )
    route = factories.RouteFactory(tenant=acme)
    client.force_login(bob)
    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]),
        {
            "display_name": route.display_name,
            "ums_hostname": route.ums_hostname,
            "ums_port": 8443,
            "target": "ums",
            "identity_provider": route.identity_provider_id,
            "certificate_chain": route.certificate_chain_id,
            "enabled": "on",
            "mapped_users-TOTAL_FORMS": 1,
            "mapped_users-INITIAL_FORMS": 0,
            "mapped_users-0-email": "Taken@Example.com",
            "mapped_domains-TOTAL_FORMS": 0,
            "mapped_domains-INITIAL_FORMS": 0,
        },
    )
    body = response.content.decode()
    assert "already mapped" in body
    assert "Globex" not in body and "Secret Globex UMS" not in body


def test_an_obs_admin_sees_who_activated_their_account(client, bob, acme, globex):
    client.force_login(bob)
    response = client.get(reverse("admin:tenants_activation_changelist"))
    assert list(response.context["cl"].queryset) == [acme.activation]
