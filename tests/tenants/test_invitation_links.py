"""Invited members get a one-time, expiring set-password link (issue 15, finding 5)."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from tenants import invitations
from tenants.models import Invitation, Membership, Role
from tests import factories

pytestmark = pytest.mark.django_db
User = get_user_model()
LINK = re.compile(r"http://[^\s]+/invitation/[^\s/]+/")
NEW_PASSWORD = "a long and fresh passphrase 42"


def _invite(client, tenant, email="new.person@acme.example"):
    return client.post(
        reverse("admin:tenants_membership_add"),
        {"tenant": tenant.pk, "email": email, "role": "obs_admin"},
        follow=True,
    )


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _set_password(client, url, password=NEW_PASSWORD):
    return client.post(_path(url), {"password1": password, "password2": password})


def test_inviting_e_mails_a_link_that_the_inviting_admin_never_sees(client, carol, acme):
    client.force_login(carol)
    page = _invite(client, acme).content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.person@acme.example"]
    url = LINK.search(mail.outbox[0].body).group(0)
    assert "e-mailed to new.person@acme.example" in page
    assert url.rsplit("/", 2)[1] not in page


def test_the_link_sets_a_password_once_and_links_the_membership(client, carol, acme):
    client.force_login(carol)
    _invite(client, acme)
    url = LINK.search(mail.outbox[0].body).group(0)
    client.logout()
    assert client.get(_path(url)).status_code == 200
    assert _set_password(client, url).status_code == 302
    membership = Membership.objects.get(email="new.person@acme.example")
    user = membership.user
    assert user is not None and user.is_staff and not user.is_superuser
    assert user.check_password(NEW_PASSWORD)
    signed_in = client.post(
        "/admin/login/", {"username": user.get_username(), "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 302
    client.logout()
    again = _set_password(client, url, "another passphrase 4242")
    assert again.status_code == 400
    assert invitations.LINK_INVALID in again.content.decode()


def test_an_expired_link_is_refused(client, acme):
    membership = factories.MembershipFactory(tenant=acme, user=None, email="late@acme.example")
    issued = invitations.invitation_send(membership=membership)
    Invitation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert _set_password(client, issued.url).status_code == 400
    assert not User.objects.filter(email="late@acme.example").exists()


def test_a_newer_link_replaces_the_older_one(client, acme):
    membership = factories.MembershipFactory(tenant=acme, user=None, email="twice@acme.example")
    first = invitations.invitation_send(membership=membership)
    second = invitations.invitation_send(membership=membership)
    assert _set_password(client, first.url).status_code == 400
    assert _set_password(client, second.url).status_code == 302


def test_accepting_links_only_the_inviting_companys_membership(client, acme, globex):
    own = factories.MembershipFactory(tenant=globex, user=None, email="pat@acme.example")
    other = factories.MembershipFactory(tenant=acme, user=None, email="pat@acme.example")
    issued = invitations.invitation_send(membership=own)
    _set_password(client, issued.url)
    own.refresh_from_db()
    other.refresh_from_db()
    assert own.user is not None and other.user is None


def test_a_link_never_takes_over_an_existing_account(client, acme, alice):
    membership = factories.MembershipFactory(
        tenant=factories.ActiveTenantFactory(slug="initech"), user=None, email=alice.email
    )
    issued = invitations.invitation_send(membership=membership)
    response = _set_password(client, issued.url, "attacker chosen passphrase 1")
    assert response.status_code == 400
    assert invitations.ACCOUNT_EXISTS in response.content.decode()
    alice.refresh_from_db()
    assert not alice.check_password("attacker chosen passphrase 1")


def test_without_e_mail_the_admin_is_told_to_ask_the_operator(client, carol, acme, settings):
    settings.INVITATION_EMAIL_ENABLED = False
    client.force_login(carol)
    page = _invite(client, acme).content.decode()
    assert "ask the platform operator" in page and "/invitation/" not in page
    assert mail.outbox == [] and not Invitation.objects.exists()


def test_add_member_send_invite_prints_the_link(client, acme, settings):
    settings.INVITATION_EMAIL_ENABLED = False
    out = io.StringIO()
    call_command(
        "add_member",
        "acme",
        "ops@acme.example",
        "--role",
        Role.OBS_ADMIN,
        "--send-invite",
        stdout=out,
    )
    url = LINK.search(out.getvalue()).group(0)
    assert mail.outbox == []
    assert _set_password(client, url).status_code == 302
    assert Membership.objects.get(email="ops@acme.example").user is not None


def test_add_member_send_invite_for_a_linked_member_says_none_is_needed(alice):
    out = io.StringIO()
    call_command(
        "add_member", "acme", alice.email, "--role", Role.SUPER_ADMIN, "--send-invite", stdout=out
    )
    assert invitations.ALREADY_LINKED in out.getvalue()
    assert not Invitation.objects.exists()
