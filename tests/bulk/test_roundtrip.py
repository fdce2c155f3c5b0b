"""export_routes then import_routes into an empty company reproduces the same state."""

from __future__ import annotations

import pytest

from certificates.models import CertificateChain
from onboarding.models import Route
from tests import factories, pki
from tests.bulk.conftest import run_command, write_text
from tests.bulk.snapshot import routes_state, shared_chains

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_routes(acme, corp_idp, other_idp):
    shared = factories.CertificateChainFactory(tenant=acme, name="Corp Root")
    berlin = factories.RouteFactory(
        tenant=acme,
        display_name="Berlin UMS",
        ums_hostname="UMS01.Example.com",
        identity_provider=corp_idp,
        certificate_chain=shared,
    )
    munich = factories.RouteFactory(
        tenant=acme,
        display_name='München, "Süd" UMS',
        ums_hostname="2001:db8::10",
        ums_port=9443,
        identity_provider=other_idp,
        certificate_chain=shared,
        enabled=False,
    )
    factories.RouteFactory(
        tenant=acme,
        display_name="Cloud Gateway",
        ums_hostname="icg.example.com",
        target="icg",
        identity_provider=corp_idp,
        certificate_chain=factories.CertificateChainFactory(
            tenant=acme, issued=pki.chain(intermediates=2)
        ),
    )
    factories.RouteFactory(
        tenant=acme, display_name="Spare", ums_hostname="10.0.0.5", identity_provider=corp_idp
    )
    for n in range(25):
        factories.MappedUserFactory(route=berlin, email=f"user{n}@acme.example")
    factories.MappedUserFactory(route=munich, email="o'brien+ops@xn--mnchen-3ya.example")
    factories.MappedDomainFactory(route=berlin, domain="acme.example")
    factories.MappedDomainFactory(route=munich, domain="xn--mnchen-3ya.example")
    return acme


def empty(tenant) -> None:
    Route.objects.filter(tenant=tenant).delete()
    CertificateChain.objects.filter(tenant=tenant).delete()


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_to_a_directory_then_import_reproduces_the_state(acme_routes, tmp_path, fmt):
    before, sharing = routes_state(acme_routes), shared_chains(acme_routes)
    result = run_command(
        "export_routes", "acme", "--format", fmt, "--output", str(tmp_path / "out")
    )
    assert (
        "Exported 4 route(s), 26 mapped user(s), 2 mapped domain(s) and 3 certificate chain(s)"
        in (result.out)
    )
    # One file per chain, however many routes share it.
    assert len(list((tmp_path / "out" / "chains").iterdir())) == 3
    assert (tmp_path / "out" / "chains" / "corp-root.pem").is_file()
    empty(acme_routes)
    imported = run_command("import_routes", "acme", str(tmp_path / "out" / f"routes.{fmt}"))
    assert not imported.failed, imported.err
    assert routes_state(acme_routes) == before
    assert shared_chains(acme_routes) == sharing
    again = run_command("import_routes", "acme", str(tmp_path / "out" / f"routes.{fmt}"))
    assert "Nothing to change" in again.out


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_to_stdout_has_chains_inline_and_imports_back(acme_routes, tmp_path, fmt):
    before = routes_state(acme_routes)
    result = run_command("export_routes", "acme", "--format", fmt)
    assert "-----BEGIN CERTIFICATE-----" in result.out
    assert "Exported 4 route(s)" in result.err
    path = write_text(tmp_path, result.out, f"export.{fmt}")
    empty(acme_routes)
    imported = run_command("import_routes", "acme", str(path))
    assert not imported.failed, imported.err
    assert routes_state(acme_routes) == before


def test_the_exported_json_has_the_shape_of_the_spec(acme_routes):
    import json

    document = json.loads(run_command("export_routes", "acme").out)
    assert list(document) == ["routes"]
    berlin = next(r for r in document["routes"] if r["display_name"] == "Berlin UMS")
    assert set(berlin) == {
        "display_name",
        "ums_hostname",
        "ums_port",
        "target",
        "identity_provider",
        "enabled",
        "mapped_users",
        "mapped_domains",
        "certificate_chain",
    }
    assert berlin["ums_hostname"] == "UMS01.Example.com"
    assert berlin["mapped_domains"] == ["acme.example"]


def test_an_export_contains_only_the_companys_own_routes(acme_routes, globex):
    factories.MappedUserFactory(
        route=factories.RouteFactory(tenant=globex, display_name="Globex Route"),
        email="x@globex.example",
    )
    out = run_command("export_routes", "acme", "--format", "csv").out
    assert "Globex" not in out and "globex" not in out


def test_an_empty_company_exports_an_empty_list(acme):
    assert run_command("export_routes", "acme").out == '{"routes": []}\n'


def test_export_of_an_unknown_company_fails(db):
    assert run_command("export_routes", "nope").failed
