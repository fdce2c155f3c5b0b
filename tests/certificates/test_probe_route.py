"""``probe_route ROUTE``: finds the route by id or name and reports the probe."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from certificates.services import chain_create
from tests import factories, pki
from tests.certificates.test_probe import tls_server


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("probe_route", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.fixture(scope="module")
def issued() -> list[pki.Issued]:
    return pki.chain(intermediates=1, leaf="ums.example.com", san=["127.0.0.1"])


@pytest.fixture
def route(acme, issued):
    root, intermediate, _leaf = issued
    chain = chain_create(
        tenant=acme, name="UMS", data=(root.pem + intermediate.pem).encode(), filename="c.pem"
    )
    return factories.RouteFactory(
        tenant=acme, display_name="Berlin UMS", ums_hostname="127.0.0.1", certificate_chain=chain
    )


def test_it_probes_a_route_by_name_and_exits_0_when_all_is_well(route, issued, tmp_path):
    with tls_server(tmp_path, [issued[2], issued[1]]) as port:
        route.ums_port = port
        route.save()
        code, out = run("Berlin UMS")

    assert code == 0, out
    assert "chains to the uploaded roots: yes" in out
    assert "hostname matches: yes" in out


def test_it_probes_a_route_by_id_and_prints_json(route, issued, tmp_path):
    with tls_server(tmp_path, [issued[2], issued[1]]) as port:
        route.ums_port = port
        route.save()
        code, out = run(str(route.pk), "--json")

    data = json.loads(out)
    assert code == 0
    assert data["ok"] is True and data["route"] == route.pk


def test_it_exits_1_when_the_server_is_not_reachable(route):
    route.ums_port = 1
    route.save()

    code, out = run(str(route.pk), "--timeout", "1")

    assert code == 1
    assert "not reachable" in out


def test_a_name_used_by_two_tenants_asks_for_the_id(route, globex):
    other = factories.RouteFactory(tenant=globex, display_name="Berlin UMS")

    with pytest.raises(CommandError) as excinfo:
        run("Berlin UMS")

    assert str(route.pk) in str(excinfo.value) and str(other.pk) in str(excinfo.value)
    assert "route id" in str(excinfo.value)


def test_an_unknown_route_is_a_one_line_error(db):
    with pytest.raises(CommandError, match="No route"):
        run("Nowhere")
