"""The route and mapping services the import, the admin and the API share."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from certificates.models import CertificateChain
from certificates.services import ChainRejected
from onboarding import services
from tests import factories, pki

pytestmark = pytest.mark.django_db


def test_route_create_runs_the_model_rules(acme, corp_idp):
    chain = factories.CertificateChainFactory(tenant=acme)
    with pytest.raises(ValidationError) as caught:
        services.route_create(
            tenant=acme,
            display_name="X",
            ums_hostname="https://x.example.com",
            identity_provider=corp_idp,
            certificate_chain=chain,
        )
    assert "ums_hostname" in caught.value.message_dict


def test_route_update_saves_only_what_changed(acme, corp_idp):
    route = factories.RouteFactory(tenant=acme, identity_provider=corp_idp, ums_port=8443)
    stamp = route.updated_at
    assert services.route_update(route=route, data={"ums_port": 8443}) == []
    route.refresh_from_db()
    assert route.updated_at == stamp
    assert services.route_update(route=route, data={"ums_port": 9443, "enabled": False}) == [
        "ums_port",
        "enabled",
    ]
    with pytest.raises(ValidationError):
        services.route_update(route=route, data={"ums_port": 0})
    with pytest.raises(ValueError, match="tenant"):
        services.route_update(route=route, data={"tenant": acme})


def test_route_set_chain_with_the_same_certificates_changes_nothing(acme, corp_idp):
    route = factories.RouteFactory(tenant=acme, identity_provider=corp_idp)
    pem = route.certificate_chain.pem
    chain, changed = services.route_set_chain(route=route, data=pem.encode(), filename="x.pem")
    assert (chain, changed) == (route.certificate_chain, False)
    assert CertificateChain.objects.count() == 1


def test_route_set_chain_replaces_and_keeps_history(acme, corp_idp, chain_b):
    route = factories.RouteFactory(tenant=acme, identity_provider=corp_idp)
    old = route.certificate_chain
    chain, changed = services.route_set_chain(route=route, data=chain_b.encode(), filename="b.pem")
    old.refresh_from_db()
    route.refresh_from_db()
    assert changed and route.certificate_chain == chain and old.superseded_by == chain


def test_route_set_chain_refuses_a_bad_chain_and_stores_nothing(acme, corp_idp):
    route = factories.RouteFactory(tenant=acme, identity_provider=corp_idp)
    issued = pki.chain()
    with pytest.raises(ChainRejected):
        services.route_set_chain(
            route=route, data=(issued[0].pem + issued[0].key_pem).encode(), filename="k.pem"
        )
    assert CertificateChain.objects.count() == 1


def test_mapped_user_add_normalises_and_refuses_a_taken_address(acme, globex):
    mine = factories.RouteFactory(tenant=acme)
    user = services.mapped_user_add(route=mine, email="Alice@Example.COM")
    assert user.email == "alice@example.com"
    with pytest.raises(ValidationError, match="already mapped"):
        services.mapped_user_add(
            route=factories.RouteFactory(tenant=globex), email="ALICE@example.com"
        )


def test_mapped_domain_add_stores_the_a_label(acme):
    mapped = services.mapped_domain_add(
        route=factories.RouteFactory(tenant=acme), domain="Bücher.Example"
    )
    assert mapped.domain == "xn--bcher-kva.example"
    with pytest.raises(ValidationError):
        services.mapped_domain_add(
            route=factories.RouteFactory(tenant=acme), domain="*.example.com"
        )
