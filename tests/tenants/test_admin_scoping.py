"""Tenant isolation in the admin: the cross-tenant matrix and the role matrix.

Every model registered in the admin that belongs to a tenant is covered: a member of
Acme asking for Globex's objects sees nothing in lists and gets 404 on change, delete
and history pages, exactly as for an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib import admin
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from certificates.models import Certificate, CertificateChain
from tenants.models import Membership, Tenant
from tenants.selectors import tenant_lookup
from tests import factories

pytestmark = pytest.mark.django_db


def _objects_of(tenant) -> dict[type[models.Model], Callable[[], models.Model]]:
    """How to make one object of each tenant-owned model for ``tenant``."""

    def route():
        return factories.RouteFactory(tenant=tenant)

    return {
        type(tenant): lambda: tenant,
        Membership: lambda: factories.MembershipFactory(tenant=tenant),
        **_extra_objects(tenant, route),
    }


def _extra_objects(tenant, route):
    from certificates.models import Certificate, CertificateChain
    from domains.models import CompanyDomain
    from identity.models import IdentityProvider
    from onboarding.models import MappedDomain, MappedUser, OnboardingEvent, Route
    from tenants.audit import audit_record
    from tenants.models import Activation, AuditEntry, AuditOutcome

    made = {
        Activation: lambda: tenant.activation,
        IdentityProvider: lambda: factories.IdentityProviderFactory(tenant=tenant),
        CertificateChain: lambda: factories.CertificateChainFactory(tenant=tenant),
        Certificate: lambda: factories.CertificateChainFactory(tenant=tenant).certificates.first(),
        Route: route,
        MappedUser: lambda: factories.MappedUserFactory(route=route()),
        MappedDomain: lambda: factories.MappedDomainFactory(route=route()),
        OnboardingEvent: lambda: factories.OnboardingEventFactory(tenant=tenant),
        CompanyDomain: lambda: factories.CompanyDomainFactory(tenant=tenant),
        AuditEntry: lambda: audit_record(
            action="claim_domain", actor="os:root", outcome=AuditOutcome.SUCCEEDED, tenant=tenant
        ),
    }
    made.update(getattr(factories, "EXTRA_TENANT_OBJECTS", lambda t, r: {})(tenant, route))
    return made


def scoped_admin_models() -> list[type[models.Model]]:
    return [m for m in admin.site._registry if tenant_lookup(m) is not None]


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_tenant_owned_admin_model_is_covered_by_this_matrix(globex):
    makers = _objects_of(globex)
    missing = [m.__name__ for m in scoped_admin_models() if m not in makers]
    assert not missing, f"add these models to the isolation matrix: {missing}"


@pytest.mark.parametrize("model", scoped_admin_models(), ids=lambda m: m.__name__)
@pytest.mark.parametrize("persona", ["alice", "bob", "carol"])
def test_a_member_of_acme_never_reaches_globex_objects(client, request, globex, model, persona):
    user = request.getfixturevalue(persona)
    foreign = _objects_of(globex)[model]()
    client.force_login(user)

    changelist = client.get(_url(model, "changelist"))
    if changelist.status_code == 200:
        assert foreign not in changelist.context["cl"].queryset
        # Not even in list filters, search hints or anywhere else on the page.
        assert globex.name not in changelist.content.decode()
    else:
        assert changelist.status_code == 403

    for view in ("change", "delete", "history"):
        response = client.get(_url(model, view, foreign.pk))
        assert response.status_code == 404, f"{model.__name__} {view}: {response.status_code}"
    post = client.post(_url(model, "delete", foreign.pk), {"post": "yes"})
    assert post.status_code == 404
    assert type(foreign).objects.filter(pk=foreign.pk).exists()


@pytest.mark.parametrize("model", scoped_admin_models(), ids=lambda m: m.__name__)
def test_an_unknown_id_answers_404_like_a_foreign_one(admin_client, model):
    response = admin_client.get(_url(model, "change", 987654))
    assert response.status_code == 404


@pytest.mark.parametrize("model", scoped_admin_models(), ids=lambda m: m.__name__)
def test_the_platform_operator_sees_every_tenants_objects(client, operator, globex, model):
    foreign = _objects_of(globex)[model]()
    client.force_login(operator)
    assert client.get(_url(model, "change", foreign.pk)).status_code == 200


def test_foreign_key_choices_offer_only_the_users_tenants(client, bob, acme, globex):
    factories.IdentityProviderFactory(tenant=globex, name="Globex IdP")
    factories.CertificateChainFactory(tenant=globex, name="Globex chain")
    own_idp = factories.IdentityProviderFactory(tenant=acme, name="Acme IdP")
    client.force_login(bob)
    form = client.get(_url(factories.RouteFactory._meta.model, "add")).context["adminform"].form
    assert list(form.fields["tenant"].queryset) == [acme]
    assert list(form.fields["identity_provider"].queryset) == [own_idp]
    assert "Globex chain" not in [c.name for c in form.fields["certificate_chain"].queryset]


def test_a_route_posted_with_another_tenants_idp_is_refused(client, bob, acme, globex):
    from onboarding.models import Route

    foreign_idp = factories.IdentityProviderFactory(tenant=globex)
    chain = factories.CertificateChainFactory(tenant=acme)
    client.force_login(bob)
    response = client.post(
        _url(Route, "add"),
        {
            "tenant": acme.pk,
            "display_name": "Sneaky",
            "ums_hostname": "ums.acme.example",
            "ums_port": 8443,
            "target": "ums",
            "identity_provider": foreign_idp.pk,
            "certificate_chain": chain.pk,
            "enabled": "on",
            "mapped_users-TOTAL_FORMS": 0,
            "mapped_users-INITIAL_FORMS": 0,
            "mapped_domains-TOTAL_FORMS": 0,
            "mapped_domains-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "identity_provider" in response.context["adminform"].form.errors
    assert not Route.objects.filter(display_name="Sneaky").exists()


def unscoped_admin_models() -> list[type[models.Model]]:
    return [m for m in admin.site._registry if tenant_lookup(m) is None]


@pytest.mark.parametrize("model", unscoped_admin_models(), ids=lambda m: m.__name__)
@pytest.mark.parametrize("persona", ["alice", "bob", "carol"])
def test_staff_get_404_for_any_id_of_models_outside_tenants(
    client, request, mallory, model, persona
):
    """Users, groups, staff identities: existing and missing ids look the same."""
    from axes.models import AccessAttempt
    from django.contrib.auth.models import Group

    from identity.models import ExternalIdentity

    existing = {
        type(mallory): lambda: mallory,
        Group: lambda: Group.objects.create(name="g"),
        AccessAttempt: lambda: AccessAttempt.objects.create(
            username="alice", ip_address="192.0.2.1", failures_since_start=5
        ),
        ExternalIdentity: lambda: ExternalIdentity.objects.create(
            user=mallory, issuer="https://i.example", subject="s"
        ),
    }[model]()
    client.force_login(request.getfixturevalue(persona))
    for pk in (existing.pk, 987654):
        for view in ("change", "delete", "history"):
            assert client.get(_url(model, view, pk)).status_code == 404, (model.__name__, view, pk)


@pytest.mark.parametrize(
    ("app_label", "model_name", "field_name", "target"),
    [
        ("onboarding", "route", "identity_provider", "identity_provider_id"),
        ("onboarding", "route", "certificate_chain", "certificate_chain_id"),
        ("onboarding", "route", "tenant", "tenant_id"),
        ("onboarding", "mappeduser", "route", "pk"),
        ("tenants", "membership", "tenant", "tenant_id"),
    ],
)
def test_autocomplete_offers_only_the_users_tenants(
    client, alice, acme, globex, app_label, model_name, field_name, target
):
    own = factories.RouteFactory(tenant=acme)
    foreign = factories.RouteFactory(tenant=globex)
    client.force_login(alice)
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": ""},
    )
    assert response.status_code == 200
    ids = {int(r["id"]) for r in response.json()["results"]}
    assert ids == {getattr(own, target)}, (ids, getattr(foreign, target))


@pytest.mark.parametrize("model", scoped_admin_models(), ids=lambda m: m.__name__)
def test_every_scoped_admin_queryset_keeps_a_stable_order(rf, alice, model):
    """Autocomplete pages are cut from get_queryset: an annotation must not drop the order."""
    request = rf.get("/admin/")
    request.user = alice
    queryset = admin.site._registry[model].get_queryset(request)
    assert queryset.ordered, model.__name__


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("persona", ["alice", "operator"])
@pytest.mark.parametrize(
    "model", [Tenant, Membership, CertificateChain, Certificate], ids=lambda m: m.__name__
)
def test_a_list_page_asks_as_many_queries_for_many_rows_as_for_one(
    client, request, acme, persona, model
):
    client.force_login(request.getfixturevalue(persona))
    factories.CertificateChainFactory(tenant=acme)
    factories.MembershipFactory(tenant=acme, user=None, email="one@acme.example")
    one = _queries(client, _url(model, "changelist"))
    for n in range(3):
        factories.CertificateChainFactory(tenant=acme)
        factories.MembershipFactory(tenant=acme, user=None, email=f"more{n}@acme.example")
        factories.ActiveTenantFactory(slug=f"more-{n}")
    assert _queries(client, _url(model, "changelist")) == one


@pytest.mark.parametrize("model", scoped_admin_models(), ids=lambda m: m.__name__)
@pytest.mark.parametrize("persona", ["alice", "bob", "carol"])
def test_own_pages_never_mention_another_company(client, request, acme, globex, model, persona):
    """Add and change pages of one's own objects: choices, inlines and help show no Globex."""
    foreign = _objects_of(globex)[model]()  # noqa: F841 - exists, must stay invisible
    own = _objects_of(acme)[model]()
    client.force_login(request.getfixturevalue(persona))
    for url in (_url(model, "add"), _url(model, "change", own.pk)):
        response = client.get(url)
        if response.status_code == 200:
            assert globex.name not in response.content.decode(), url
