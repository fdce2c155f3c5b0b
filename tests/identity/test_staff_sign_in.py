"""Staff sign-in to the admin with the platform IdP, against the loopback IdP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model

from identity.models import ExternalIdentity
from tenants.models import Membership, Role
from tests.factories import MembershipFactory, UserFactory
from tests.idp_server import CLIENT_ID, CLIENT_SECRET, IdPServer, loopback_settings

pytestmark = pytest.mark.django_db
User = get_user_model()

FAILED = "/admin/login/?oidc=failed"


@pytest.fixture
def platform_idp(settings):
    with IdPServer() as idp:
        loopback_settings(settings, idp)
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
        settings.OIDC_OP_ISSUER = idp.issuer
        settings.STAFF_OIDC_ENABLED = True
        settings.AUTHENTICATION_BACKENDS = [
            "django.contrib.auth.backends.ModelBackend",
            "identity.staff.StaffOIDCBackend",
        ]
        yield idp


def invite(tenant, email, role=Role.OBS_ADMIN):
    return MembershipFactory(tenant=tenant, user=None, email=email, role=role)


def sign_in(client, idp_server, *, next_url="/admin/"):
    """Browser round trip: our start URL → the IdP (auto-approves) → our callback."""
    start = client.get("/staff/oidc/authenticate/", {"next": next_url})
    assert start.status_code == 302
    at_idp = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert at_idp.status_code == 302, at_idp.text
    callback = urlsplit(at_idp.headers["Location"])
    assert callback.path == "/staff/oidc/callback/"
    return client.get(f"{callback.path}?{callback.query}")


def test_an_invited_person_signs_in_and_gets_the_membership(client, platform_idp, acme):
    membership = invite(acme, "dana@acme.example")
    platform_idp.add_user("Dana@Acme.example", sub="dana-sub", email_verified=True)

    response = sign_in(client, platform_idp)

    assert response.status_code == 302 and response["Location"] == "/admin/"
    membership.refresh_from_db()
    user = membership.user
    assert user is not None and user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert ExternalIdentity.objects.get(user=user).subject == "dana-sub"
    assert client.get("/admin/").status_code == 200


def test_the_authorization_request_uses_pkce_and_a_nonce(client, platform_idp, acme):
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example")
    sign_in(client, platform_idp)
    grant = next(iter(platform_idp.authorizations.values()))
    assert grant.code_challenge_method == "S256" and grant.nonce


def test_a_person_without_an_invitation_is_refused(client, platform_idp, acme):
    platform_idp.add_user("stranger@acme.example", sub="stranger")
    response = sign_in(client, platform_idp)
    assert response["Location"] == FAILED
    assert not User.objects.filter(email="stranger@acme.example").exists()
    assert not ExternalIdentity.objects.exists()


def test_an_unverified_email_accepts_no_invitation(client, platform_idp, acme):
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example", email_verified=False)
    assert sign_in(client, platform_idp)["Location"] == FAILED
    assert Membership.objects.get(email="dana@acme.example").user is None


def test_a_returning_person_is_recognised_by_subject_not_email(client, platform_idp, acme):
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example", sub="dana-sub")
    sign_in(client, platform_idp)
    first = ExternalIdentity.objects.get().user
    client.logout()

    # The address changed at the IdP; the same sub is still the same person.
    platform_idp.add_user("dana.new@acme.example", sub="dana-sub")
    assert sign_in(client, platform_idp)["Location"] == "/admin/"
    assert ExternalIdentity.objects.get().user == first


def test_another_idp_account_with_a_reused_email_is_refused(client, platform_idp, acme):
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example", sub="old-dana")
    sign_in(client, platform_idp)
    client.logout()

    platform_idp.add_user("dana@acme.example", sub="new-person")
    assert sign_in(client, platform_idp)["Location"] == FAILED
    assert ExternalIdentity.objects.count() == 1


def test_an_operator_account_is_never_entered_through_the_idp(client, platform_idp, acme):
    operator = UserFactory(username="op", email="op@acme.example", is_superuser=True)
    MembershipFactory(tenant=acme, user=operator, email="op@acme.example")
    platform_idp.add_user("op@acme.example")
    assert sign_in(client, platform_idp)["Location"] == FAILED


def test_an_existing_local_account_of_the_invitee_is_used(client, platform_idp, acme):
    local = UserFactory(username="erin", email="erin@acme.example")
    MembershipFactory(tenant=acme, user=local, email="erin@acme.example")
    platform_idp.add_user("erin@acme.example", sub="erin-sub")
    assert sign_in(client, platform_idp)["Location"] == "/admin/"
    assert ExternalIdentity.objects.get().user == local


def test_a_member_removed_from_every_account_can_no_longer_sign_in(client, platform_idp, acme):
    membership = invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example")
    sign_in(client, platform_idp)
    client.logout()
    membership.delete()
    assert sign_in(client, platform_idp)["Location"] == FAILED


def test_a_token_for_another_audience_is_refused(client, platform_idp, acme):
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example")
    platform_idp.id_token_overrides = {"aud": "someone-else"}
    assert sign_in(client, platform_idp)["Location"] == FAILED


def test_a_token_from_another_issuer_is_refused(client, platform_idp, acme):
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example")
    platform_idp.id_token_overrides = {"iss": "https://evil.example"}
    assert sign_in(client, platform_idp)["Location"] == FAILED


def test_only_the_configured_algorithm_is_accepted(client, platform_idp, acme):
    # The IdP signs with ES256 while RS256 is configured: refused.
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example")
    platform_idp.rotate_key("ES256", keep_old=False)
    assert sign_in(client, platform_idp)["Location"] == FAILED


def test_es256_works_when_configured(client, platform_idp, acme, settings):
    settings.OIDC_RP_SIGN_ALGO = "ES256"
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example")
    platform_idp.rotate_key("ES256", keep_old=False)
    assert sign_in(client, platform_idp)["Location"] == "/admin/"


def test_local_password_login_still_works(client, platform_idp, bob):
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "bob", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_a_code_smuggled_into_the_password_login_is_ignored(client, platform_idp, acme):
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example")
    response = client.post(
        "/admin/login/?code=stolen&state=x", {"username": "dana", "password": "x"}
    )
    assert response.status_code == 200  # the form again, nobody signed in
    assert platform_idp.requests["/token"] == 0


def test_the_login_page_offers_the_company_sign_in_when_configured(client, platform_idp):
    page = client.get("/admin/login/?next=/admin/").content.decode()
    assert "Sign in with your company account" in page
    assert "/staff/oidc/authenticate/?next=/admin/" in page


def test_the_login_page_has_no_company_sign_in_without_configuration(client, settings, db):
    settings.STAFF_OIDC_ENABLED = False
    page = client.get("/admin/login/").content.decode()
    assert "Sign in with your company account" not in page
    assert client.get("/staff/oidc/authenticate/").status_code == 404


def test_a_failed_sign_in_is_explained_on_the_login_page(client, platform_idp):
    page = client.get(FAILED).content.decode()
    assert "did not work" in page


def test_a_half_configured_staff_sign_in_is_a_startup_error(settings):
    from identity.checks import staff_oidc_settings

    settings.STAFF_OIDC_ENABLED = True
    settings.OIDC_OP_ISSUER = ""
    settings.OIDC_RP_CLIENT_SECRET = ""
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    assert {e.id for e in staff_oidc_settings()} == {
        "identity.E001",
        "identity.E002",
        "identity.E003",
    }


def test_a_staff_sign_in_response_from_another_issuer_is_not_redeemed(client, platform_idp, acme):
    # RFC 9207 (issue 15 #10): the IdP advertises and sends iss; a mixed-up response
    # naming another issuer never reaches the token endpoint.
    invite(acme, "dana@acme.example")
    platform_idp.add_user("dana@acme.example", sub="dana-sub")
    platform_idp.discovery_overrides = {"authorization_response_iss_parameter_supported": True}
    start = client.get("/staff/oidc/authenticate/", {"next": "/admin/"})
    at_idp = requests.get(start["Location"], allow_redirects=False, timeout=5)
    callback = urlsplit(at_idp.headers["Location"])
    response = client.get(f"{callback.path}?{callback.query}&iss=https://evil.example")
    assert response["Location"] == FAILED
    assert platform_idp.token_requests == []
    platform_idp.send_response_iss = True
    assert sign_in(client, platform_idp)["Location"] == "/admin/"
