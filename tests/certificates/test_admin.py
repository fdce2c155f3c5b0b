"""The chain admin: upload through the service, errors on the form, a readable chain page."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from certificates.models import CertificateChain
from certificates.services import chain_create
from tests import factories, pki


def stored_files(settings) -> list[str]:
    return [f for _d, _s, files in os.walk(settings.MEDIA_ROOT) for f in files]


@pytest.fixture(scope="module")
def issued() -> list[pki.Issued]:
    return pki.chain(intermediates=1, leaf="ums.example.com")


def upload(client, tenant, data: bytes, *, name: str = "Berlin", target: str = "ums"):
    return client.post(
        reverse("admin:certificates_certificatechain_add"),
        {
            "tenant": tenant.pk,
            "name": name,
            "target": target,
            "upload": SimpleUploadedFile("chain.pem", data),
        },
    )


def test_bob_uploads_a_chain_through_the_service(client, acme, bob, issued, settings):
    client.force_login(bob)

    response = upload(client, acme, (issued[1].pem + issued[0].pem).encode())

    assert response.status_code == 302, response.content.decode()[:2000]
    chain = CertificateChain.objects.get()
    assert chain.uploaded_by == bob
    assert chain.tenant == acme
    assert chain.certificates.count() == 2
    assert len(stored_files(settings)) == 1


def test_a_refused_upload_shows_block_numbered_errors_and_stores_nothing(
    client, acme, bob, issued, settings
):
    client.force_login(bob)
    data = (issued[0].pem + issued[1].pem + pki.rsa_key_pem(issued[1].key)).encode()

    response = upload(client, acme, data)

    assert response.status_code == 200
    assert "Block 3 is a private key" in response.content.decode()
    assert CertificateChain.objects.count() == 0
    assert stored_files(settings) == []


def test_an_icg_upload_with_the_end_certificate_is_refused_on_the_form(
    client, acme, bob, issued, settings
):
    client.force_login(bob)

    response = upload(client, acme, "".join(c.pem for c in issued).encode(), target="icg")

    assert "except the end certificate" in response.content.decode()
    assert stored_files(settings) == []


def test_bob_cannot_upload_into_another_tenant(client, acme, globex, bob, issued, settings):
    client.force_login(bob)

    response = upload(client, globex, issued[0].pem.encode())

    assert response.status_code == 200
    assert CertificateChain.objects.count() == 0
    assert stored_files(settings) == []


def test_the_chain_page_shows_every_certificate_with_copyable_fingerprints_and_warnings(
    client, acme, bob
):
    root = pki.issue("Root CA")
    soon = pki.issue("Soon CA", issuer=root, days=5)
    chain = chain_create(
        tenant=acme, name="Soon", data=(root.pem + soon.pem).encode(), filename="s.pem"
    )
    client.force_login(bob)

    page = client.get(reverse("admin:certificates_certificatechain_change", args=[chain.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    for cert in chain.certificates.all():
        assert f'readonly value="{cert.sha256}"' in html
    assert "expiring_soon" in html
    assert "background:#fff4e5" in html
    assert "-----BEGIN CERTIFICATE-----" in html


def test_the_expiry_filter_finds_chains_expiring_soon_and_expired(client, acme, bob):
    root = pki.issue("Root CA")
    soon = pki.issue("Soon CA", issuer=root, days=5)
    expiring = chain_create(
        tenant=acme, name="Expiring", data=(root.pem + soon.pem).encode(), filename="s.pem"
    )
    fine = factories.CertificateChainFactory(tenant=acme, name="Fine")
    client.force_login(bob)
    url = reverse("admin:certificates_certificatechain_changelist")

    soon_page = client.get(url, {"expiry": "soon"}).content.decode()
    expired_page = client.get(url, {"expiry": "expired"}).content.decode()
    ok_page = client.get(url, {"expiry": "ok"}).content.decode()

    assert expiring.name in soon_page and fine.name not in soon_page
    assert expiring.name not in expired_page
    assert fine.name in ok_page and expiring.name not in ok_page


def test_mallory_sees_no_acme_chain(client, acme, mallory):
    chain = factories.CertificateChainFactory(tenant=acme, name="Acme secret chain")
    client.force_login(mallory)

    listing = client.get(reverse("admin:certificates_certificatechain_changelist"))
    detail = client.get(reverse("admin:certificates_certificatechain_change", args=[chain.pk]))

    assert "Acme secret chain" not in listing.content.decode()
    assert detail.status_code == 404


def test_a_chain_used_by_a_route_is_kept_with_a_page_naming_the_route(client, acme, bob):
    route = factories.RouteFactory(tenant=acme, display_name="Berlin UMS")
    client.force_login(bob)

    response = client.post(
        reverse("admin:certificates_certificatechain_delete", args=[route.certificate_chain.pk]),
        {"post": "yes"},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Routes still use it" in page and "Berlin UMS" in page
    assert reverse("admin:onboarding_route_change", args=[route.pk]) in page
    assert CertificateChain.objects.filter(pk=route.certificate_chain.pk).exists()


@pytest.mark.parametrize("persona", ["bob", "operator"])
def test_an_unused_chain_can_be_deleted(client, acme, persona, request):
    chain = factories.CertificateChainFactory(tenant=acme)
    client.force_login(request.getfixturevalue(persona))
    url = reverse("admin:certificates_certificatechain_delete", args=[chain.pk])

    assert "Are you sure" in client.get(url).content.decode()
    response = client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not CertificateChain.objects.filter(pk=chain.pk).exists()


def test_the_uploader_is_named_not_linked_to_a_user_page(client, acme, bob):
    chain = factories.CertificateChainFactory(tenant=acme, uploaded_by=bob)
    client.force_login(bob)

    page = client.get(reverse("admin:certificates_certificatechain_change", args=[chain.pk]))

    assert "/admin/auth/user/" not in page.content.decode()
    assert bob.email in page.content.decode()


def test_certificates_are_read_only(client, acme, bob):
    chain = factories.CertificateChainFactory(tenant=acme)
    cert = chain.certificates.first()
    client.force_login(bob)

    page = client.get(reverse("admin:certificates_certificate_change", args=[cert.pk]))

    assert page.status_code == 200
    assert f'value="{cert.sha256}"' in page.content.decode()
    assert client.get(reverse("admin:certificates_certificate_add")).status_code == 403
