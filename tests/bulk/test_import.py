"""import_routes: creating, changing, idempotency, --dry-run, --prune, chains."""

from __future__ import annotations

import pytest

from certificates.models import CertificateChain
from onboarding.models import MappedDomain, MappedUser, Route
from tests import factories, pki
from tests.bulk.conftest import run_command, write_json, write_text

pytestmark = pytest.mark.django_db


def berlin(**overrides):
    route = {
        "display_name": "Berlin UMS",
        "ums_hostname": "UMS01.Example.com",
        "ums_port": 8443,
        "target": "ums",
        "identity_provider": "Corp Entra",
        "enabled": True,
        "mapped_users": ["alice@example.com", "Bob@Example.com"],
        "mapped_domains": ["example.com", "Bücher.example"],
        "certificate_chain": "chains/a.pem",
    }
    route.update(overrides)
    return route


def test_it_creates_routes_mappings_and_chains_from_the_spec_json(acme, corp_idp, workdir, chain_a):
    path = write_json(workdir, [berlin()])
    result = run_command("import_routes", "acme", str(path))
    assert not result.failed, result.err
    route = Route.objects.get(tenant=acme, display_name="Berlin UMS")
    assert route.ums_hostname == "UMS01.Example.com"  # case preserved
    assert route.identity_provider == corp_idp
    assert route.certificate_chain.pem == pki.pem_bundle(pki.chain()) or route.certificate_chain.pem
    assert sorted(route.mapped_users.values_list("email", flat=True)) == [
        "alice@example.com",
        "bob@example.com",
    ]
    assert sorted(route.mapped_domains.values_list("domain", flat=True)) == [
        "example.com",
        "xn--bcher-kva.example",
    ]
    assert "Imported routes.json into acme" in result.out


def test_optional_fields_take_the_spec_defaults(acme, corp_idp, workdir):
    route = berlin()
    for key in ("ums_port", "target", "enabled"):
        del route[key]
    run_command("import_routes", "acme", str(write_json(workdir, [route])))
    created = Route.objects.get(display_name="Berlin UMS")
    assert (created.ums_port, created.target, created.enabled) == (8443, "ums", True)


def test_inline_pem_is_accepted_as_the_chain(acme, corp_idp, workdir, chain_b):
    run_command(
        "import_routes", "acme", str(write_json(workdir, [berlin(certificate_chain=chain_b)]))
    )
    assert Route.objects.get(display_name="Berlin UMS").certificate_chain.pem.count("BEGIN") == 1


def test_importing_the_same_file_twice_changes_nothing_the_second_time(acme, corp_idp, workdir):
    path = write_json(workdir, [berlin()])
    run_command("import_routes", "acme", str(path))
    before = (
        Route.objects.get().updated_at,
        CertificateChain.objects.count(),
        list(MappedUser.objects.values_list("pk", "email", "route_id")),
    )
    second = run_command("import_routes", "acme", str(path))
    assert not second.failed
    assert "Nothing to change: acme already matches routes.json." in second.out
    after = (
        Route.objects.get().updated_at,
        CertificateChain.objects.count(),
        list(MappedUser.objects.values_list("pk", "email", "route_id")),
    )
    assert before == after


def test_a_changed_field_changes_only_that_route(acme, corp_idp, other_idp, workdir):
    run_command("import_routes", "acme", str(write_json(workdir, [berlin()])))
    path = write_json(
        workdir, [berlin(ums_port=9443, enabled=False, identity_provider="Okta Staff")]
    )
    result = run_command("import_routes", "acme", str(path))
    assert "~ Berlin UMS: enabled, identity_provider, ums_port" in result.out
    route = Route.objects.get()
    assert (route.ums_port, route.enabled, route.identity_provider) == (9443, False, other_idp)


def test_the_same_chain_in_another_file_or_order_is_no_change(acme, corp_idp, workdir, chain_a):
    run_command("import_routes", "acme", str(write_json(workdir, [berlin()])))
    blocks = chain_a.split("-----END CERTIFICATE-----\n")[:-1]
    reordered = "\r\n".join(reversed([b + "-----END CERTIFICATE-----" for b in blocks]))
    write_text(workdir, reordered, "chains/reordered.pem")
    result = run_command(
        "import_routes",
        "acme",
        str(write_json(workdir, [berlin(certificate_chain="chains/reordered.pem")])),
    )
    assert "Nothing to change" in result.out
    assert CertificateChain.objects.count() == 1


def test_a_new_chain_replaces_the_old_one_and_keeps_it_as_history(acme, corp_idp, workdir):
    run_command("import_routes", "acme", str(write_json(workdir, [berlin()])))
    old = Route.objects.get().certificate_chain
    result = run_command(
        "import_routes",
        "acme",
        str(write_json(workdir, [berlin(certificate_chain="chains/b.pem")])),
    )
    assert "~ Berlin UMS: certificate_chain" in result.out
    route = Route.objects.get()
    old.refresh_from_db()
    assert route.certificate_chain != old
    assert old.replaced_at is not None and old.superseded_by == route.certificate_chain


def test_routes_naming_the_same_chain_share_one_chain(acme, corp_idp, workdir):
    path = write_json(
        workdir,
        [
            berlin(mapped_users=[], mapped_domains=[]),
            berlin(display_name="Munich UMS", mapped_users=[], mapped_domains=[]),
        ],
    )
    run_command("import_routes", "acme", str(path))
    assert CertificateChain.objects.count() == 1
    # Changing one of them gives it its own chain; the shared one stays current.
    path = write_json(
        workdir,
        [
            berlin(mapped_users=[], mapped_domains=[]),
            berlin(
                display_name="Munich UMS",
                mapped_users=[],
                mapped_domains=[],
                certificate_chain="chains/b.pem",
            ),
        ],
    )
    run_command("import_routes", "acme", str(path))
    berlin_chain = Route.objects.get(display_name="Berlin UMS").certificate_chain
    assert berlin_chain.replaced_at is None
    assert Route.objects.get(display_name="Munich UMS").certificate_chain != berlin_chain


def test_a_mapping_moves_to_the_route_the_file_names(acme, corp_idp, workdir):
    run_command("import_routes", "acme", str(write_json(workdir, [berlin()])))
    path = write_json(
        workdir,
        [
            berlin(mapped_users=["alice@example.com"]),
            berlin(display_name="Munich UMS", mapped_users=["bob@example.com"], mapped_domains=[]),
        ],
    )
    result = run_command("import_routes", "acme", str(path))
    assert "1 moved" in result.out
    assert MappedUser.objects.get(email="bob@example.com").route.display_name == "Munich UMS"


def test_without_prune_mappings_missing_from_the_file_are_kept(acme, corp_idp, workdir):
    run_command("import_routes", "acme", str(write_json(workdir, [berlin()])))
    result = run_command(
        "import_routes",
        "acme",
        str(write_json(workdir, [berlin(mapped_users=["alice@example.com"], mapped_domains=[])])),
    )
    assert "Removal is off: 1 mapped user(s) and 2 mapped domain(s) not in the file are kept" in (
        result.out
    )
    assert MappedUser.objects.count() == 2 and MappedDomain.objects.count() == 2


def test_prune_removes_mappings_missing_from_the_file(acme, corp_idp, workdir, globex):
    foreign = factories.MappedUserFactory(
        route=factories.RouteFactory(tenant=globex), email="someone@globex.example"
    )
    run_command("import_routes", "acme", str(write_json(workdir, [berlin()])))
    path = write_json(workdir, [berlin(mapped_users=["alice@example.com"], mapped_domains=[])])
    result = run_command("import_routes", "acme", str(path), "--prune")
    assert "Removal is on (--prune)" in result.out
    assert "- bob@example.com" in result.out
    assert list(MappedUser.objects.filter(route__tenant=acme).values_list("email", flat=True)) == [
        "alice@example.com"
    ]
    assert not MappedDomain.objects.filter(route__tenant=acme).exists()
    assert MappedUser.objects.filter(pk=foreign.pk).exists()  # other companies untouched


def test_dry_run_reports_the_plan_and_writes_nothing(acme, corp_idp, workdir):
    run_command("import_routes", "acme", str(write_json(workdir, [berlin()])))
    path = write_json(
        workdir,
        [
            berlin(ums_port=9443, mapped_users=["carol@example.com"], mapped_domains=[]),
            berlin(display_name="Munich UMS", mapped_users=["dave@example.com"], mapped_domains=[]),
        ],
    )
    result = run_command("import_routes", "acme", str(path), "--dry-run", "--prune")
    assert not result.failed
    assert "Dry run: importing routes.json into acme would change:" in result.out
    assert "routes: 1 created, 1 changed, 0 unchanged" in result.out
    assert "mapped users: 2 created, 0 moved to another route, 2 removed, 0 unchanged" in result.out
    assert "mapped domains: 0 created, 0 moved to another route, 2 removed" in result.out
    assert "Removal is on (--prune)" in result.out
    assert Route.objects.count() == 1 and Route.objects.get().ums_port == 8443
    assert MappedUser.objects.count() == 2


def test_dry_run_without_prune_says_removal_is_off(acme, corp_idp, workdir):
    run_command("import_routes", "acme", str(write_json(workdir, [berlin()])))
    path = write_json(workdir, [berlin(mapped_users=[])])
    result = run_command("import_routes", "acme", str(path), "--dry-run")
    assert "Removal is off: 2 mapped user(s)" in result.out


def test_a_csv_file_imports_like_the_json_one(acme, corp_idp, workdir):
    csv_text = (
        "display_name,ums_hostname,ums_port,target,identity_provider,kind,value,certificate_chain\n"
        "Berlin UMS,UMS01.Example.com,8443,ums,Corp Entra,user,alice@example.com,chains/a.pem\n"
        "Berlin UMS,,,,,user,Bob@Example.com,\n"
        "Berlin UMS,UMS01.Example.com,8443,ums,Corp Entra,domain,example.com,chains/a.pem\n"
        "Berlin UMS,,,,,domain,Bücher.example,\n"
    )
    run_command("import_routes", "acme", str(write_text(workdir, csv_text, "routes.csv")))
    from tests.bulk.snapshot import routes_state

    csv_state = routes_state(acme)
    Route.objects.all().delete()
    CertificateChain.objects.all().delete()
    run_command("import_routes", "acme", str(write_json(workdir, [berlin()])))
    assert routes_state(acme) == csv_state


def test_a_csv_row_without_kind_declares_a_route_without_mappings(acme, corp_idp, workdir):
    csv_text = (
        "display_name,ums_hostname,identity_provider,kind,value,certificate_chain,enabled\n"
        "Spare,spare.example.com,Corp Entra,,,chains/b.pem,false\n"
    )
    result = run_command("import_routes", "acme", str(write_text(workdir, csv_text, "r.csv")))
    assert not result.failed, result.err
    route = Route.objects.get(display_name="Spare")
    assert route.enabled is False and route.ums_port == 8443


def test_a_csv_without_the_enabled_column_leaves_the_flag_alone(acme, corp_idp, workdir):
    run_command("import_routes", "acme", str(write_json(workdir, [berlin(enabled=False)])))
    csv_text = (
        "display_name,ums_hostname,ums_port,target,identity_provider,kind,value,certificate_chain\n"
        "Berlin UMS,UMS01.Example.com,8443,ums,Corp Entra,user,alice@example.com,chains/a.pem\n"
    )
    run_command("import_routes", "acme", str(write_text(workdir, csv_text, "r.csv")))
    assert Route.objects.get().enabled is False


def test_semicolon_separated_csv_from_a_spreadsheet_is_read(acme, corp_idp, workdir):
    csv_text = (
        "\ufeffdisplay_name;ums_hostname;identity_provider;kind;value;certificate_chain\r\n"
        "Berlin UMS;UMS01.Example.com;Corp Entra;user;alice@example.com;chains/a.pem\r\n"
    )
    result = run_command("import_routes", "acme", str(write_text(workdir, csv_text, "r.csv")))
    assert not result.failed, result.err
    assert MappedUser.objects.get().email == "alice@example.com"


def test_an_unknown_company_or_missing_file_is_a_one_line_error(acme, workdir):
    assert "No company account" in run_command("import_routes", "nope", str(workdir)).err
    assert "No such file" in run_command("import_routes", "acme", str(workdir / "x.json")).err
    other = write_text(workdir, "x", "routes.xlsx")
    assert ".json) or CSV (.csv)" in run_command("import_routes", "acme", str(other)).err


def test_progress_goes_to_stderr_as_plain_lines_when_not_a_terminal(acme, corp_idp, workdir):
    users = [f"user{n}@example.com" for n in range(12_000)]
    path = write_json(workdir, [berlin(mapped_users=users)])
    result = run_command("import_routes", "acme", str(path))
    assert "Writing mappings: 100%" in result.err
    assert "\r" not in result.err
