"""``inspect_chain`` and ``check_certificates``: output, JSON shape and exit status."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from certificates.services import chain_create, chain_replace
from tests import factories, pki

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def issued() -> list[pki.Issued]:
    return pki.chain(intermediates=1, leaf="ums.example.com")


@pytest.fixture
def good_file(tmp_path, issued) -> Path:
    path = tmp_path / "chain.pem"
    path.write_text(issued[1].pem + issued[0].pem)
    return path


@pytest.fixture
def full_file(tmp_path, issued) -> Path:
    path = tmp_path / "full.pem"
    path.write_text("".join(c.pem for c in issued))
    return path


def test_inspect_chain_prints_each_certificate_and_accepts(good_file, settings):
    code, out, _ = run("inspect_chain", str(good_file))

    assert code == 0
    assert "[0] O=Example,CN=Example Root CA" in out
    assert "SHA-256:" in out
    assert "accepted for a UMS route" in out
    assert not Path(settings.MEDIA_ROOT).exists() or not any(Path(settings.MEDIA_ROOT).rglob("*.*"))


def test_inspect_chain_json_has_the_spec_shape(full_file):
    code, out, _ = run("inspect_chain", str(full_file), "--json")

    data = json.loads(out)
    assert code == 0
    assert data["accepted"] is True
    assert [c["is_ca"] for c in data["certificates"]] == [True, True, False]
    assert data["warnings"][0]["code"] == "non_ca"


def test_inspect_chain_refuses_an_icg_file_with_the_end_certificate_with_exit_1(full_file):
    code, out, _ = run("inspect_chain", str(full_file), "--target", "icg", "--json")

    data = json.loads(out)
    assert code == 1
    assert data["accepted"] is False
    assert data["errors"][0] == {
        "code": "non_ca",
        "block": 3,
        "message": data["errors"][0]["message"],
    }


def test_inspect_chain_refuses_a_private_key_in_text_mode(tmp_path, issued):
    path = tmp_path / "with-key.pem"
    path.write_text(issued[0].pem + pki.rsa_key_pem(issued[0].key))

    code, out, _ = run("inspect_chain", str(path))

    assert code == 1
    assert "[private_key] Block 2 is a private key" in out
    assert "refused" in out


def test_inspect_chain_says_so_in_one_line_when_the_file_cannot_be_read(tmp_path):
    with pytest.raises(CommandError) as excinfo:
        call_command("inspect_chain", str(tmp_path / "missing.pem"))

    assert excinfo.value.returncode == 2
    assert "Cannot read" in str(excinfo.value)


def test_inspect_chain_exit_statuses_from_the_shell(good_file, full_file, tmp_path):
    def status(*args: str) -> int:
        return subprocess.run(
            [sys.executable, str(MANAGE), "inspect_chain", *args], capture_output=True, check=False
        ).returncode

    assert status(str(good_file), "--json") == 0
    assert status(str(full_file), "--target", "icg") == 1
    assert status(str(tmp_path / "nope.pem")) == 2


def test_check_certificates_lists_tenant_route_certificate_and_not_after(acme):
    root = pki.issue("Root")
    soon = pki.issue("Soon CA", issuer=root, days=10)
    chain = chain_create(
        tenant=acme, name="Berlin chain", data=(root.pem + soon.pem).encode(), filename="b.pem"
    )
    factories.RouteFactory(tenant=acme, display_name="Berlin UMS", certificate_chain=chain)

    code, out, err = run("check_certificates", "--days", "30")

    assert code == 1
    line = next(line for line in out.splitlines() if "Soon CA" in line)
    assert line.split()[:3] == ["acme", "Berlin", "UMS"]
    assert soon.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ") in line
    assert "1 certificate(s)" in err


def test_check_certificates_is_quiet_and_exits_0_when_nothing_expires(acme):
    factories.CertificateChainFactory(tenant=acme)

    code, out, _ = run("check_certificates", "--days", "30")

    assert code == 0
    assert "No certificate" in out


def test_check_certificates_ignores_replaced_chains(acme):
    root = pki.issue("Root")
    soon = pki.issue("Soon CA", issuer=root, days=3)
    chain = chain_create(
        tenant=acme, name="Old", data=(root.pem + soon.pem).encode(), filename="o.pem"
    )
    chain_replace(route_chain=chain, data=root.pem.encode(), filename="n.pem")

    assert run("check_certificates")[0] == 0


def test_check_certificates_refuses_negative_days(db):
    with pytest.raises(CommandError):
        call_command("check_certificates", "--days", "-1")
