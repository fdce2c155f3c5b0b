"""Spec 2.1, attacked: one company must never capture another company's devices.

Globex (the attacker, persona ``mallory``) maps Acme's addresses to its own route,
and its IdP on loopback approves any address without a password. Acme has verified
acme.example (the ``acme_route`` fixture maps alice@acme.example and acme.example).
Whatever the entry point, a device of an Acme user must never receive Globex's route.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from domains.models import CompanyDomain, DomainStatus
from identity.services import idp_create
from onboarding.models import DeviceAuthorization, MappedUser, OnboardingEvent
from onboarding.selectors import route_lookup
from tests import factories
from tests.onboarding.conftest import LOOKUP, confirm, local_path, post_json, sign_in

pytestmark = pytest.mark.django_db

CEO = "ceo@acme.example"


@pytest.fixture
def captured(globex_route, globex_idp):
    """Globex's rows for Acme's CEO and a subdomain, as if saved before Acme verified.

    (Saving them now is refused: see the admin and import tests below. Rows made before
    a verification stay, and must simply stop counting.)
    """
    globex_idp.add_user(CEO, sub="fake-ceo")  # "approves anyone"
    factories.MappedUserFactory(route=globex_route, email=CEO, verify_domain=False)
    factories.MappedDomainFactory(route=globex_route, domain="eu.acme.example", verify_domain=False)
    return globex_route


def poll_after_interval(device):
    DeviceAuthorization.objects.update(last_polled_at=timezone.now() - dt.timedelta(seconds=10))
    return device.poll()


def test_a_device_of_acmes_ceo_is_routed_to_acme_not_to_the_company_that_mapped_it(
    client, device, acme_route, idp, captured
):
    idp.add_user(CEO, sub="real-ceo")
    started = device.authorize(CEO).json()
    authorization = DeviceAuthorization.objects.get()
    assert authorization.tenant.slug == "acme"
    sign_in(client, device)
    answer = poll_after_interval(device).json()["onboarding"]
    assert answer["ums_hostname"] == "UMS01.Acme.example"
    assert "globex" not in json.dumps(answer).lower()
    assert started["user_code"]


def test_a_subdomain_acme_has_not_mapped_is_not_routed_by_another_company(
    device, acme_route, captured
):
    response = device.authorize(
        "someone@eu.acme.example", device={"hostname": "ACME-LAPTOP-42", "serial": "SN-1"}
    )
    assert response.status_code == 400
    # Acme holds the domain: the attempt is Acme's to see (not mapped there), and the
    # company whose stale row matched learns nothing of Acme's users or devices.
    event = OnboardingEvent.objects.get()
    assert (event.reason, event.tenant.slug, event.route) == ("not_mapped", "acme", None)
    assert not OnboardingEvent.objects.filter(tenant__slug="globex").exists()


def test_an_address_whose_domain_nobody_verified_is_answered_like_an_unknown_one(
    device, globex_route
):
    factories.MappedUserFactory(route=globex_route, email="x@initech.example", verify_domain=False)
    unverified = device.authorize("x@initech.example")
    unknown = device.authorize("nobody@nowhere.example")
    assert unverified.status_code == unknown.status_code == 400
    assert unverified.json() == unknown.json()
    reasons = set(OnboardingEvent.objects.values_list("reason", flat=True))
    assert reasons == {"domain_unverified", "not_mapped"}


def test_a_disabled_route_of_another_company_does_not_deny_acmes_user(
    client, device, acme_route, idp, captured
):
    captured.enabled = False
    captured.save()
    idp.add_user(CEO, sub="real-ceo")
    assert device.authorize(CEO).status_code == 200
    assert DeviceAuthorization.objects.get().route == acme_route


def test_when_acme_verifies_its_domain_the_rows_of_others_stop_routing_at_once(
    device, globex_route
):
    factories.MappedUserFactory(route=globex_route, email=CEO, verify_domain=False)
    factories.CompanyDomainFactory(tenant=globex_route.tenant, domain="acme.example")
    # Nobody has verified acme.example: Globex's row does not route either.
    assert route_lookup(CEO).reason == "domain_unverified"
    acme = factories.ActiveTenantFactory(slug="acme", name="Acme Corp")
    factories.VerifiedDomainFactory(tenant=acme, domain="acme.example")
    assert route_lookup(CEO).route is None
    assert device.authorize(CEO).status_code == 400


def test_the_callback_refuses_an_address_another_company_holds(
    client, device, globex_route, globex_idp, acme_route
):
    # Globex starts an onboarding for its own user, but its IdP answers with Acme's CEO.
    globex_idp.add_user("gina@globex.example", sub="gina-sub")
    globex_idp.default_user = globex_idp.add_user(CEO, sub="fake-ceo")
    device.authorize("gina@globex.example")
    started = device.started
    client.get(local_path(started["verification_uri_complete"]))
    to_idp = confirm(client, started["user_code"])
    # The IdP signs "anyone" in: ignore the hint and return the CEO.
    globex_idp.users.pop("gina@globex.example")
    from tests.onboarding.conftest import idp_redirect

    page = client.get(local_path(idp_redirect(to_idp["Location"])))
    assert page.status_code == 400 and b"UMS01" not in page.content
    assert DeviceAuthorization.objects.get().state == "denied"
    assert poll_after_interval(device).json()["error"] == "access_denied"


def test_lookup_with_the_other_companys_token_for_acmes_ceo_gives_no_route(
    client, acme_route, idp, captured, globex_idp
):
    token = globex_idp.id_token(user=globex_idp.users[CEO])
    response = post_json(client, LOOKUP, {"id_token": token})
    assert response.status_code == 404 and response.json()["error"] == "no_route"
    event = OnboardingEvent.objects.get()
    assert event.tenant.slug == "acme"


def test_lookup_for_an_unverified_domain_is_no_route(client, globex_route, globex_idp):
    factories.MappedUserFactory(route=globex_route, email="x@initech.example", verify_domain=False)
    user = globex_idp.add_user("x@initech.example", sub="x-sub")
    response = post_json(client, LOOKUP, {"id_token": globex_idp.id_token(user=user)})
    assert response.status_code == 404
    assert OnboardingEvent.objects.get().reason == "domain_unverified"


def test_the_confirmation_page_names_the_company_and_the_verified_domain(
    client, device, acme_route
):
    device.authorize("bob@acme.example")
    page = client.get(local_path(device.started["verification_uri_complete"]))
    body = page.content.decode()
    assert "Acme Corp" in body and "acme.example" in body
    assert "Verified company domain" in body


# --- Saving rows under another company's verified domain -----------------------------


def route_form(route, users=(), domains=()):
    data = {
        "display_name": route.display_name,
        "ums_hostname": route.ums_hostname,
        "ums_port": 8443,
        "target": "ums",
        "identity_provider": route.identity_provider_id,
        "certificate_chain": route.certificate_chain_id,
        "enabled": "on",
        "mapped_users-TOTAL_FORMS": len(users),
        "mapped_users-INITIAL_FORMS": 0,
        "mapped_domains-TOTAL_FORMS": len(domains),
        "mapped_domains-INITIAL_FORMS": 0,
    }
    data.update({f"mapped_users-{n}-email": e for n, e in enumerate(users)})
    data.update({f"mapped_domains-{n}-domain": d for n, d in enumerate(domains)})
    return data


@pytest.mark.parametrize(
    ("users", "domains"),
    [([CEO.upper()], []), ([], ["acme.example"]), ([], ["EU.acme.example"])],
)
def test_the_admin_refuses_rows_under_another_companys_domain_without_naming_it(
    client, mallory, acme_route, globex_route, users, domains
):
    client.force_login(mallory)
    url = reverse("admin:onboarding_route_change", args=[globex_route.pk])
    response = client.post(url, route_form(globex_route, users, domains))
    body = response.content.decode()
    assert response.status_code == 200
    assert "which another company account has verified as its own" in body
    assert "Acme" not in body and "Berlin UMS" not in body
    assert not MappedUser.objects.filter(email=CEO).exists()


def test_the_admin_lists_a_duplicate_on_one_page_as_an_error_not_a_crash(
    client, mallory, globex_route
):
    client.force_login(mallory)
    url = reverse("admin:onboarding_route_change", args=[globex_route.pk])
    data = route_form(globex_route, ["dup@globex.example", "DUP@globex.example"])
    response = client.post(url, data)
    assert response.status_code == 200
    assert "is listed twice on this page" in response.content.decode()


def test_a_new_mapping_claims_its_domain_for_the_company(client, mallory, globex_route):
    client.force_login(mallory)
    url = reverse("admin:onboarding_route_change", args=[globex_route.pk])
    response = client.post(url, route_form(globex_route, ["x@initech.example"], ["hooli.example"]))
    assert response.status_code == 302
    claims = CompanyDomain.objects.filter(tenant=globex_route.tenant)
    assert {(c.domain, c.status) for c in claims if c.domain != "globex.example"} == {
        ("initech.example", DomainStatus.PENDING),
        ("hooli.example", DomainStatus.PENDING),
    }


def test_the_route_page_says_which_rows_cannot_route_and_what_to_do(client, mallory, globex_route):
    factories.MappedUserFactory(route=globex_route, email="x@initech.example", verify_domain=False)
    factories.CompanyDomainFactory(tenant=globex_route.tenant, domain="initech.example")
    client.force_login(mallory)
    page = client.get(reverse("admin:onboarding_route_change", args=[globex_route.pk]))
    body = page.content.decode()
    assert "Does not route yet: publish the TXT record for initech.example" in body
    assert "Routes: globex.example is verified" in body


def test_the_import_refuses_rows_under_another_companys_domain(acme_route, globex, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    factories.IdentityProviderFactory(tenant=globex, name="Globex IdP")
    chain = factories.CertificateChainFactory(tenant=globex)
    (tmp_path / "chain.pem").write_text(chain.pem)
    routes = {
        "routes": [
            {
                "display_name": "Evil",
                "ums_hostname": "ums.evil.example",
                "identity_provider": "Globex IdP",
                "certificate_chain": "chain.pem",
                "mapped_users": [CEO],
                "mapped_domains": ["sales.acme.example"],
            }
        ]
    }
    (tmp_path / "routes.json").write_text(json.dumps(routes))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_routes", "globex", str(tmp_path / "routes.json"), stderr=err)
    lines = err.getvalue()
    assert f'mapped user "{CEO}" is under acme.example, which another company account' in lines
    assert 'mapped domain "sales.acme.example" is under acme.example' in lines
    assert "Acme Corp" not in lines
    assert not MappedUser.objects.filter(email=CEO).exists()


def test_a_company_cannot_register_another_companys_identity_provider(acme_route, globex):
    from django.core.exceptions import ValidationError

    theirs = acme_route.identity_provider
    with pytest.raises(ValidationError, match="already registered"):
        idp_create(
            tenant=globex,
            name="Shadow",
            kind=theirs.kind,
            client_id=theirs.client_id,
            client_secret="x",
            issuer=theirs.issuer,
        )


def test_a_company_cannot_rename_itself(client, globex):
    from tenants.models import Role

    boss = factories.MembershipFactory(tenant=globex, role=Role.SUPER_ADMIN).user
    client.force_login(boss)
    url = reverse("admin:tenants_tenant_change", args=[globex.pk])
    client.post(url, {"name": "Acme Corp", "slug": globex.slug})
    globex.refresh_from_db()
    assert globex.name == "Globex Inc"


def test_lookup_of_an_acme_address_only_another_company_maps_is_logged_for_acme(
    client, acme_route, idp, captured
):
    user = idp.add_user("someone@eu.acme.example", sub="someone-sub")
    response = post_json(client, LOOKUP, {"id_token": idp.id_token(user=user)})
    assert response.status_code == 404
    assert list(OnboardingEvent.objects.values_list("tenant__slug", "reason")) == [
        ("acme", "not_mapped")
    ]


def test_with_verification_off_rows_of_two_companies_route_nowhere(
    device, acme_route, captured, settings
):
    settings.DOMAIN_VERIFICATION = "off"
    assert route_lookup(CEO).route is None  # Acme's domain row and Globex's user row
    assert route_lookup("alice@acme.example").route == acme_route  # Acme's alone


def test_swapping_two_mapped_users_on_one_page_is_a_form_error_not_a_crash(
    client, mallory, globex_route
):
    first = factories.MappedUserFactory(route=globex_route, email="a@globex.example")
    second = factories.MappedUserFactory(route=globex_route, email="b@globex.example")
    client.force_login(mallory)
    url = reverse("admin:onboarding_route_change", args=[globex_route.pk])
    data = route_form(globex_route)
    data.update(
        {
            "mapped_users-TOTAL_FORMS": 2,
            "mapped_users-INITIAL_FORMS": 2,
            "mapped_users-0-id": first.pk,
            "mapped_users-0-email": "b@globex.example",
            "mapped_users-1-id": second.pk,
            "mapped_users-1-email": "a@globex.example",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert "is still on another row of this page" in response.content.decode()
    first.refresh_from_db()
    assert first.email == "a@globex.example"


@pytest.mark.parametrize("spelling", ["trailing_slash", "upper_case"])
def test_an_identity_provider_cannot_be_registered_again_by_spelling_its_issuer_differently(
    acme_route, globex, spelling
):
    from django.core.exceptions import ValidationError

    theirs = acme_route.identity_provider
    scheme, _, rest = theirs.issuer.partition("://")
    host, _, path = rest.partition("/")
    issuer = {
        "trailing_slash": theirs.issuer + "/",
        "upper_case": f"{scheme.upper()}://{host.upper()}/{path}",
    }[spelling]
    with pytest.raises(ValidationError, match="already registered"):
        idp_create(
            tenant=globex,
            name="Shadow",
            kind=theirs.kind,
            client_id=theirs.client_id,
            client_secret="x",
            issuer=issuer,
        )
