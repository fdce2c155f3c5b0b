"""The route form: chain upload ("Required - Upload"), replacement, ICG rule, test connection."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from certificates.models import CertificateChain
from certificates.validation import inspect_chain_bytes
from onboarding import services
from onboarding.models import ROUTE_CHAIN_REPLACED, Route
from tests import factories, pki
from tests.tls_server import tls_server

pytestmark = pytest.mark.django_db

ADD = reverse("admin:onboarding_route_add")
NO_INLINES = {
    "mapped_users-TOTAL_FORMS": 0,
    "mapped_users-INITIAL_FORMS": 0,
    "mapped_domains-TOTAL_FORMS": 0,
    "mapped_domains-INITIAL_FORMS": 0,
}


def _stored_files() -> list[str]:
    found: list[str] = []

    def walk(folder: str) -> None:
        dirs, files = default_storage.listdir(folder)
        found.extend(f"{folder}/{f}" for f in files)
        for d in dirs:
            walk(f"{folder}/{d}")

    if default_storage.exists("chains"):
        walk("chains")
    return found


def _form(tenant, idp, **extra):
    return {
        "tenant": tenant.pk,
        "display_name": "Berlin UMS",
        "ums_hostname": "UMS01.Acme.example",
        "ums_port": 8443,
        "target": "ums",
        "identity_provider": idp.pk,
        "enabled": "on",
        **NO_INLINES,
        **extra,
    }


def _upload(content: str | bytes, name: str = "chain.pem") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode() if isinstance(content, str) else content)


def _change_form(route: Route, **extra):
    return {
        "display_name": route.display_name,
        "ums_hostname": route.ums_hostname,
        "ums_port": route.ums_port,
        "target": route.target,
        "identity_provider": route.identity_provider_id,
        "certificate_chain": route.certificate_chain_id,
        "enabled": "on",
        **NO_INLINES,
        **extra,
    }


def test_a_route_is_created_with_an_uploaded_chain(client, bob, acme):
    idp = factories.IdentityProviderFactory(tenant=acme)
    certs = pki.chain(intermediates=1)
    client.force_login(bob)
    response = client.post(
        ADD, _form(acme, idp, certificate_file=_upload(certs[1].pem + certs[0].pem))
    )
    assert response.status_code == 302
    route = Route.objects.get()
    chain = route.certificate_chain
    assert chain.tenant == acme and chain.uploaded_by == bob
    assert [c.subject for c in chain.certificates.order_by("position")] == [
        certs[0].cert.subject.rfc4514_string(),
        certs[1].cert.subject.rfc4514_string(),
    ]
    assert default_storage.exists(chain.file.name)


def test_a_refused_upload_shows_the_block_and_stores_nothing(client, bob, acme):
    idp = factories.IdentityProviderFactory(tenant=acme)
    certs = pki.chain(intermediates=1)
    client.force_login(bob)
    response = client.post(
        ADD,
        _form(acme, idp, certificate_file=_upload(certs[0].pem + certs[1].pem + certs[1].key_pem)),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["certificate_file"]
    assert any("3" in e and "key" in e.lower() for e in errors), errors
    assert "PRIVATE KEY-----\nMII" not in response.content.decode()
    assert not Route.objects.exists() and not CertificateChain.objects.exists()
    assert _stored_files() == []


def test_an_oversized_upload_gets_the_same_verdict_as_every_other_entry_point(
    client, bob, acme, settings
):
    idp = factories.IdentityProviderFactory(tenant=acme)
    pem = "".join(c.pem for c in reversed(pki.chain(intermediates=1))).encode()
    settings.CERTIFICATE_CHAIN_MAX_BYTES = len(pem) - 1
    client.force_login(bob)
    response = client.post(ADD, _form(acme, idp, certificate_file=_upload(pem)))
    assert response.status_code == 200
    expected = inspect_chain_bytes(pem).errors
    assert [p.code for p in expected] == ["too_large"]
    errors = response.context["adminform"].form.errors["certificate_file"]
    assert errors == [expected[0].message]
    assert not Route.objects.exists() and not CertificateChain.objects.exists()
    assert _stored_files() == []


def test_a_valid_upload_with_an_invalid_hostname_stores_nothing(client, bob, acme):
    idp = factories.IdentityProviderFactory(tenant=acme)
    client.force_login(bob)
    response = client.post(
        ADD,
        _form(
            acme,
            idp,
            ums_hostname="https://ums",
            certificate_file=_upload(pki.pem_bundle(pki.chain())),
        ),
    )
    assert "ums_hostname" in response.context["adminform"].form.errors
    assert not CertificateChain.objects.exists() and _stored_files() == []


def test_a_route_needs_a_chain_uploaded_or_chosen(client, bob, acme):
    idp = factories.IdentityProviderFactory(tenant=acme)
    client.force_login(bob)
    response = client.post(ADD, _form(acme, idp))
    assert "Required - Upload" in str(
        response.context["adminform"].form.errors["certificate_chain"]
    )


def test_uploading_again_replaces_the_chain_and_keeps_the_old_one(client, bob, acme):
    route = factories.RouteFactory(tenant=acme)
    old = route.certificate_chain
    client.force_login(bob)
    new_pem = pki.pem_bundle(pki.chain(intermediates=2))
    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]),
        _change_form(route, certificate_file=_upload(new_pem)),
    )
    assert response.status_code == 302
    route.refresh_from_db()
    old.refresh_from_db()
    assert route.certificate_chain != old
    assert route.certificate_chain.certificates.count() == 3
    assert (
        old.replaced_at is not None
        and old.replaced_by == bob
        and old.superseded_by == route.certificate_chain
    )


def test_uploading_the_same_certificates_replaces_nothing(client, bob, acme):
    route = factories.RouteFactory(tenant=acme)
    client.force_login(bob)
    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]),
        _change_form(route, certificate_file=_upload(route.certificate_chain.pem)),
        follow=True,
    )
    assert "nothing was replaced" in response.content.decode()
    assert CertificateChain.objects.count() == 1


def test_switching_to_icg_with_a_chain_holding_the_end_certificate_is_refused(client, bob, acme):
    with_leaf = pki.chain(intermediates=1, leaf="icg.acme.example")
    chain = factories.CertificateChainFactory(tenant=acme, issued=with_leaf)
    route = factories.RouteFactory(tenant=acme, certificate_chain=chain)
    client.force_login(bob)
    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]), _change_form(route, target="icg")
    )
    assert "end certificate" in str(response.context["adminform"].form.errors)
    route.refresh_from_db()
    assert route.target == "ums"


def test_the_route_page_lists_the_certificates_devices_will_pin(client, bob, acme):
    route = factories.RouteFactory(tenant=acme)
    client.force_login(bob)
    body = client.get(reverse("admin:onboarding_route_change", args=[route.pk])).content.decode()
    for certificate in route.certificate_chain.certificates.all():
        assert certificate.sha256 in body


def test_test_connection_reports_a_server_that_chains_to_the_uploaded_root(
    client, bob, acme, settings, tmp_path
):
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    root, inter = pki.chain(intermediates=1)
    leaf = pki.issue("127.0.0.1", issuer=inter, ca=False, san=["127.0.0.1"])
    chain = factories.CertificateChainFactory(tenant=acme, issued=[root, inter])
    stranger = pki.issue("127.0.0.1", issuer=pki.issue("Other Root"), ca=False, san=["127.0.0.1"])
    client.force_login(bob)
    with (
        tls_server(tmp_path, [leaf, inter]) as good_port,
        tls_server(tmp_path, [stranger]) as bad_port,
    ):
        good = factories.RouteFactory(
            tenant=acme, certificate_chain=chain, ums_hostname="127.0.0.1", ums_port=good_port
        )
        bad = factories.RouteFactory(
            tenant=acme, certificate_chain=chain, ums_hostname="127.0.0.1", ums_port=bad_port
        )
        response = client.post(
            reverse("admin:onboarding_route_changelist"),
            {"action": "test_connection", "_selected_action": [good.pk, bad.pk]},
            follow=True,
        )
    levels = {str(m).split(":")[0]: m.level_tag for m in response.context["messages"]}
    assert levels == {good.display_name: "success", bad.display_name: "error"}


def test_an_accepted_upload_is_kept_across_another_error_and_stored_on_save(client, bob, acme):
    idp = factories.IdentityProviderFactory(tenant=acme)
    client.force_login(bob)
    first = client.post(
        ADD,
        _form(
            acme,
            idp,
            ums_hostname="https://ums",
            certificate_file=_upload(pki.pem_bundle(pki.chain()), "berlin.pem"),
        ),
    )
    page = first.content.decode()
    assert "berlin.pem is kept" in page
    assert not CertificateChain.objects.exists() and _stored_files() == []
    token = page.split('name="kept_chain_upload" value="', 1)[1].split('"', 1)[0]

    second = client.post(ADD, _form(acme, idp, kept_chain_upload=token))

    assert second.status_code == 302
    assert Route.objects.get().certificate_chain.original_filename == "berlin.pem"


def test_a_mapping_held_by_another_route_names_that_route(client, bob, acme):
    berlin = factories.RouteFactory(tenant=acme, display_name="Berlin UMS")
    factories.MappedUserFactory(route=berlin, email="alice@acme.example")
    other = factories.RouteFactory(tenant=acme, display_name="Munich UMS")
    client.force_login(bob)
    data = _change_form(other)
    data.update({"mapped_users-TOTAL_FORMS": 1, "mapped_users-0-email": "alice@acme.example"})

    response = client.post(reverse("admin:onboarding_route_change", args=[other.pk]), data)

    assert "already mapped to the route &quot;Berlin UMS&quot;" in response.content.decode()


def test_test_connection_answers_in_a_table_without_python_reprs(
    client, bob, acme, tmp_path, settings
):
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    chain = factories.CertificateChainFactory(tenant=acme)
    stranger = pki.issue("127.0.0.1", issuer=pki.issue("Other Root"), ca=False, san=["127.0.0.1"])
    client.force_login(bob)
    with tls_server(tmp_path, [stranger]) as port:
        route = factories.RouteFactory(
            tenant=acme, certificate_chain=chain, ums_hostname="127.0.0.1", ums_port=port
        )
        response = client.post(
            reverse("admin:onboarding_route_changelist"),
            {"action": "test_connection", "_selected_action": [route.pk]},
            follow=True,
        )
    page = response.content.decode()
    assert '<table class="probe">' in page or "<table class='probe'>" in page
    assert "Trusted by the uploaded chain" in page and "devices would not connect" in page
    assert "&lt;Certificate(" not in page and "<Certificate(" not in page


# --- Writes go through the route services --------------------------------------------

LONG_AGO = timezone.now() - dt.timedelta(days=30)
CHANGELIST = reverse("admin:onboarding_route_changelist")


def _last_touched_long_ago(*routes: Route) -> None:
    Route.objects.filter(pk__in=[r.pk for r in routes]).update(updated_at=LONG_AGO)


def _updated_at(route: Route) -> dt.datetime:
    return Route.objects.values_list("updated_at", flat=True).get(pk=route.pk)


def _act(client, action: str, *routes: Route):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [r.pk for r in routes]},
        follow=True,
    )


def test_enabling_routes_marks_the_ones_it_changed_as_updated(client, bob, acme):
    off = factories.RouteFactory(tenant=acme, enabled=False)
    on = factories.RouteFactory(tenant=acme, enabled=True)
    _last_touched_long_ago(off, on)
    client.force_login(bob)

    response = _act(client, "enable_routes", off, on)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert [str(m) for m in response.context["messages"]] == ["2 route(s) enabled."]
    off.refresh_from_db()
    assert off.enabled and off.updated_at > LONG_AGO
    assert _updated_at(on) == LONG_AGO  # already enabled: nothing written


def test_disabling_routes_marks_them_as_updated(client, bob, acme):
    route = factories.RouteFactory(tenant=acme, enabled=True)
    _last_touched_long_ago(route)
    client.force_login(bob)

    response = _act(client, "disable_routes", route)

    assert [str(m) for m in response.context["messages"]] == ["1 route(s) disabled."]
    route.refresh_from_db()
    assert not route.enabled and route.updated_at > LONG_AGO


def test_the_enable_action_leaves_another_accounts_routes_alone(client, bob, acme, globex):
    foreign = factories.RouteFactory(tenant=globex, enabled=False)
    client.force_login(bob)

    _act(client, "enable_routes", foreign)

    foreign.refresh_from_db()
    assert not foreign.enabled


def test_saving_a_changed_route_writes_it_with_updated_at(client, bob, acme):
    route = factories.RouteFactory(tenant=acme, ums_port=8443)
    _last_touched_long_ago(route)
    client.force_login(bob)

    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]),
        _change_form(route, ums_port=9443),
    )

    assert response.status_code == 302
    route.refresh_from_db()
    assert route.ums_port == 9443 and route.updated_at > LONG_AGO


def test_saving_a_route_unchanged_writes_nothing(client, bob, acme):
    route = factories.RouteFactory(tenant=acme)
    _last_touched_long_ago(route)
    client.force_login(bob)

    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]), _change_form(route)
    )

    assert response.status_code == 302
    assert _updated_at(route) == LONG_AGO


def test_choosing_another_stored_chain_saves_it(client, bob, acme):
    route = factories.RouteFactory(tenant=acme)
    other = factories.CertificateChainFactory(tenant=acme, name="Munich chain")
    client.force_login(bob)

    response = client.post(
        reverse("admin:onboarding_route_change", args=[route.pk]),
        _change_form(route, certificate_chain=other.pk),
    )

    assert response.status_code == 302
    route.refresh_from_db()
    assert route.certificate_chain == other


def test_a_route_update_refuses_a_replaced_chain(acme):
    route = factories.RouteFactory(tenant=acme)
    replaced = factories.CertificateChainFactory(tenant=acme)
    CertificateChain.objects.filter(pk=replaced.pk).update(replaced_at=timezone.now())
    replaced.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        services.route_update(route=route, data={"certificate_chain": replaced})

    assert refused.value.message_dict == {"certificate_chain": [ROUTE_CHAIN_REPLACED]}
