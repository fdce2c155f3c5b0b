"""Uploading and replacing chains: what is stored, and that a refusal stores nothing."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from certificates.models import Certificate, CertificateChain
from certificates.selectors import certificates_expiring_within, chains_expiring_within
from certificates.services import (
    CHAIN_ALREADY_REPLACED,
    ChainRejected,
    chain_create,
    chain_files_atomic,
    chain_replace,
)
from tests import factories, pki


def stored_files(settings) -> list[str]:
    found = []
    for directory, _dirs, files in os.walk(settings.MEDIA_ROOT):
        found += [os.path.relpath(os.path.join(directory, f), settings.MEDIA_ROOT) for f in files]
    return sorted(found)


@pytest.fixture(scope="module")
def issued() -> list[pki.Issued]:
    return pki.chain(intermediates=1, leaf="ums.example.com")


@pytest.fixture
def chain_bytes(issued) -> bytes:
    root, intermediate, _leaf = issued
    return ("Exported from UMS\r\n" + intermediate.pem + root.pem).encode()


def test_an_accepted_upload_keeps_the_original_file_and_the_parsed_certificates(
    acme, bob, settings, chain_bytes, issued
):
    chain = chain_create(
        tenant=acme,
        name="Berlin UMS",
        data=chain_bytes,
        filename="C:\\certs\\berlin.pem",
        uploaded_by=bob,
    )

    chain.refresh_from_db()
    assert chain.original_filename == "berlin.pem"
    assert chain.uploaded_by == bob
    with chain.file.open("rb") as fh:
        assert fh.read() == chain_bytes
    assert chain.pem == issued[0].pem + issued[1].pem
    certs = list(chain.certificates.all())
    assert [c.position for c in certs] == [0, 1]
    assert certs[0].self_signed and certs[0].is_ca
    assert certs[0].key_description == "RSA 2048"
    assert certs[1].issuer == certs[0].subject
    assert stored_files(settings) == [chain.file.name]
    assert chain.file.name.startswith("chains/acme/")


def test_a_refused_upload_names_the_block_and_stores_nothing(acme, settings, issued):
    root, intermediate, _leaf = issued
    data = (root.pem + intermediate.pem + pki.rsa_key_pem(intermediate.key)).encode()

    with pytest.raises(ChainRejected) as excinfo:
        chain_create(tenant=acme, name="Leaky", data=data, filename="leaky.pem")

    assert isinstance(excinfo.value, ValidationError)
    assert excinfo.value.messages[0].startswith("Block 3 is a private key")
    assert excinfo.value.report.errors[0].code == "private_key"
    assert CertificateChain.objects.count() == 0
    assert stored_files(settings) == []


def test_an_icg_chain_with_the_end_certificate_is_refused(acme, settings, issued):
    data = "".join(c.pem for c in issued).encode()

    with pytest.raises(ChainRejected) as excinfo:
        chain_create(tenant=acme, name="ICG", data=data, filename="icg_chain.crt", target="icg")

    assert "Block 3" in excinfo.value.messages[0]
    assert stored_files(settings) == []


def test_a_chain_needs_a_name(acme, chain_bytes, settings):
    with pytest.raises(ValidationError):
        chain_create(tenant=acme, name="  ", data=chain_bytes, filename="x.pem")
    assert stored_files(settings) == []


def test_uploading_the_same_file_twice_never_overwrites_the_first(acme, settings, chain_bytes):
    first = chain_create(tenant=acme, name="One", data=chain_bytes, filename="chain.pem")
    second = chain_create(tenant=acme, name="Two", data=chain_bytes, filename="chain.pem")

    assert first.file.name != second.file.name
    assert len(stored_files(settings)) == 2


def test_the_stored_name_keeps_only_a_known_extension(acme, issued):
    der = chain_create(tenant=acme, name="DER", data=issued[0].der, filename="root.der")
    odd = chain_create(tenant=acme, name="Odd", data=issued[0].pem.encode(), filename="../../x.sh")

    assert der.file.name.endswith(".der")
    assert odd.file.name.endswith(".pem")
    assert odd.original_filename == "x.sh"


def test_a_failed_database_write_removes_the_stored_file(acme, settings, chain_bytes, monkeypatch):
    def fail(*args, **kwargs):
        raise IntegrityError("simulated")

    monkeypatch.setattr(Certificate.objects, "bulk_create", fail)

    with pytest.raises(IntegrityError):
        chain_create(tenant=acme, name="Broken", data=chain_bytes, filename="chain.pem")

    assert stored_files(settings) == []


def test_files_stored_in_a_block_that_fails_later_are_removed(acme, settings, chain_bytes):
    with pytest.raises(RuntimeError), chain_files_atomic():
        chain_create(tenant=acme, name="First row", data=chain_bytes, filename="a.pem")
        chain_create(tenant=acme, name="Second row", data=chain_bytes, filename="b.pem")
        raise RuntimeError("a later row of the import is bad")

    assert stored_files(settings) == []
    assert CertificateChain.objects.count() == 0


def test_nested_blocks_leave_cleanup_to_the_outer_one(acme, settings, chain_bytes):
    with pytest.raises(RuntimeError), chain_files_atomic():
        with chain_files_atomic():
            chain_create(tenant=acme, name="Inner", data=chain_bytes, filename="a.pem")
        raise RuntimeError("outer fails")

    assert stored_files(settings) == []


def test_replacing_a_chain_keeps_the_old_one_in_history(acme, bob, settings, issued):
    old = factories.CertificateChainFactory(tenant=acme, name="Berlin")
    new_root = pki.issue("New Root CA")

    new = chain_replace(
        route_chain=old,
        data=new_root.pem.encode(),
        filename="new.pem",
        replaced_by=bob,
        target="ums",
    )

    old.refresh_from_db()
    assert old.replaced_at is not None
    assert old.replaced_by == bob
    assert old.superseded_by == new
    assert new.name == "Berlin" and new.replaced_at is None
    assert new.uploaded_by == bob
    assert len(stored_files(settings)) == 2
    assert old.file.storage.exists(old.file.name)


def test_a_chain_is_replaced_only_once(acme, issued):
    old = factories.CertificateChainFactory(tenant=acme)
    chain_replace(route_chain=old, data=issued[0].pem.encode(), filename="a.pem")

    with pytest.raises(ValidationError) as excinfo:
        chain_replace(route_chain=old, data=issued[0].pem.encode(), filename="b.pem")
    assert excinfo.value.messages == [CHAIN_ALREADY_REPLACED]


def test_a_refused_replacement_leaves_the_old_chain_current(acme, settings):
    old = factories.CertificateChainFactory(tenant=acme)
    before = stored_files(settings)

    with pytest.raises(ChainRejected):
        chain_replace(route_chain=old, data=b"junk", filename="junk.pem")

    old.refresh_from_db()
    assert old.replaced_at is None
    assert stored_files(settings) == before


def test_expiry_selectors_find_current_chains_with_certificates_expiring_soon(acme, globex):
    root = pki.issue("Root")
    soon = pki.issue("Soon CA", issuer=root, days=10)
    expiring = chain_create(
        tenant=acme, name="Soon", data=(root.pem + soon.pem).encode(), filename="s.pem"
    )
    fine = factories.CertificateChainFactory(tenant=globex)
    replaced = chain_create(
        tenant=acme, name="Old", data=(root.pem + soon.pem).encode(), filename="o.pem"
    )
    chain_replace(route_chain=replaced, data=root.pem.encode(), filename="n.pem")

    assert list(chains_expiring_within(30)) == [expiring]
    assert list(chains_expiring_within(5)) == []
    assert fine not in chains_expiring_within(30)
    far = pki.now() + dt.timedelta(days=4000)
    assert fine in chains_expiring_within(0, now=far)
    assert [c.subject for c in certificates_expiring_within(30)] == ["O=Example,CN=Soon CA"]


def test_the_factory_builds_chains_through_the_upload_service(acme):
    chain = factories.CertificateChainFactory(tenant=acme)

    assert chain.certificates.count() == 2
    assert chain.file.name.startswith("chains/acme/")
