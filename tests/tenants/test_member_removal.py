"""Removing members follows the role rules of changing them (issue 15, finding 1)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tenants import services
from tenants.models import Membership, Role
from tests import factories

pytestmark = pytest.mark.django_db


def _bulk_delete(client, *memberships):
    return client.post(
        reverse("admin:tenants_membership_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [m.pk for m in memberships],
            "post": "yes",
        },
    )


def test_an_account_admin_cannot_delete_a_super_admin(client, alice, carol):
    target = Membership.objects.get(user=alice)
    client.force_login(carol)
    response = client.post(
        reverse("admin:tenants_membership_delete", args=[target.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Membership.objects.filter(pk=target.pk).exists()


def test_an_account_admin_cannot_bulk_delete_a_super_admin(client, alice, bob, carol):
    target = Membership.objects.get(user=alice)
    other = Membership.objects.get(user=bob)
    client.force_login(carol)
    response = _bulk_delete(client, target, other)
    assert response.status_code == 403
    assert Membership.objects.filter(pk__in=[target.pk, other.pk]).count() == 2


def test_an_account_admin_still_removes_other_members(client, alice, bob, carol):
    client.force_login(carol)
    response = _bulk_delete(client, Membership.objects.get(user=bob))
    assert response.status_code == 302
    assert not Membership.objects.filter(user=bob).exists()


def test_the_last_super_admin_cannot_be_deleted_even_by_a_super_admin(client, alice):
    own = Membership.objects.get(user=alice)
    client.force_login(alice)
    page = client.get(reverse("admin:tenants_membership_delete", args=[own.pk]))
    assert services.LAST_SUPER_ADMIN in page.content.decode()
    response = client.post(
        reverse("admin:tenants_membership_delete", args=[own.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Membership.objects.filter(pk=own.pk).exists()


def test_bulk_deleting_every_super_admin_is_refused(client, acme, alice):
    second = factories.MembershipFactory(tenant=acme, role=Role.SUPER_ADMIN)
    own = Membership.objects.get(user=alice)
    client.force_login(alice)
    response = _bulk_delete(client, own, second)
    assert response.status_code == 403
    assert Membership.objects.filter(tenant=acme, role=Role.SUPER_ADMIN).count() == 2


def test_a_super_admin_removes_another_super_admin(client, acme, alice):
    second = factories.MembershipFactory(tenant=acme, role=Role.SUPER_ADMIN)
    client.force_login(alice)
    response = client.post(
        reverse("admin:tenants_membership_delete", args=[second.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=second.pk).exists()


def test_the_last_super_admin_cannot_be_demoted(client, alice):
    own = Membership.objects.get(user=alice)
    client.force_login(alice)
    response = client.post(
        reverse("admin:tenants_membership_change", args=[own.pk]), {"role": "obs_admin"}
    )
    assert services.LAST_SUPER_ADMIN in str(response.context["adminform"].form.errors)
    own.refresh_from_db()
    assert own.role == Role.SUPER_ADMIN


def test_the_operator_too_keeps_one_super_admin_per_company(acme, alice):
    with pytest.raises(ValidationError, match="at least one super admin"):
        services.membership_save(tenant=acme, email=alice.email, role=Role.OBS_ADMIN)
    with pytest.raises(ValidationError, match="at least one super admin"):
        services.memberships_delete(memberships=Membership.objects.filter(user=alice))
    assert Membership.objects.get(user=alice).role == Role.SUPER_ADMIN
