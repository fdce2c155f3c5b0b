"""Fixtures for the bulk import/export tests: a company with an IdP, chains on disk."""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests import factories, pki


@dataclass
class Run:
    out: str
    err: str
    failed: bool

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if ":" in line and "warning" not in line]


def run_command(*args: str) -> Run:
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return Run(out.getvalue(), err.getvalue(), True)
    return Run(out.getvalue(), err.getvalue(), False)


@pytest.fixture
def corp_idp(acme):
    return factories.IdentityProviderFactory(tenant=acme, name="Corp Entra")


@pytest.fixture
def other_idp(acme):
    return factories.IdentityProviderFactory(tenant=acme, name="Okta Staff")


@pytest.fixture(scope="session")
def chain_a() -> str:
    return pki.pem_bundle(pki.chain(intermediates=1))


@pytest.fixture(scope="session")
def chain_b() -> str:
    return pki.pem_bundle(pki.chain(intermediates=0))


@pytest.fixture
def workdir(tmp_path: Path, chain_a: str, chain_b: str) -> Path:
    """A directory with chains/a.pem and chains/b.pem, where import files are written."""
    (tmp_path / "chains").mkdir()
    (tmp_path / "chains" / "a.pem").write_text(chain_a)
    (tmp_path / "chains" / "b.pem").write_text(chain_b)
    return tmp_path


def write_json(directory: Path, routes: list[dict], name: str = "routes.json") -> Path:
    path = directory / name
    path.write_text(json.dumps({"routes": routes}, indent=1))
    return path


def write_text(directory: Path, text: str, name: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path
