"""Every kind of bad input is reported with file, line and field, and nothing is written."""

from __future__ import annotations

import json

import pytest

from certificates.models import CertificateChain
from onboarding.models import MappedDomain, MappedUser, Route
from tests import factories, pki
from tests.bulk.conftest import run_command, write_text

pytestmark = pytest.mark.django_db

HEADER = "display_name,ums_hostname,ums_port,target,identity_provider,kind,value,certificate_chain"
GOOD = "Berlin UMS,UMS01.Example.com,8443,ums,Corp Entra"


def nothing_written() -> bool:
    return not (
        Route.objects.filter(tenant__slug="acme").exists()
        or MappedUser.objects.filter(route__tenant__slug="acme").exists()
        or MappedDomain.objects.filter(route__tenant__slug="acme").exists()
        or CertificateChain.objects.filter(tenant__slug="acme").exists()
    )


def csv_errors(workdir, *rows: str, header: str = HEADER) -> list[str]:
    path = write_text(workdir, "\n".join([header, *rows]) + "\n", "routes.csv")
    result = run_command("import_routes", "acme", str(path))
    assert result.failed
    assert "nothing was written to acme" in result.err
    assert nothing_written()
    return [line for line in result.err.splitlines() if line.startswith("routes.csv:")]


def json_errors(workdir, text: str) -> list[str]:
    path = write_text(workdir, text, "routes.json")
    result = run_command("import_routes", "acme", str(path))
    assert result.failed
    assert nothing_written()
    return [line for line in result.err.splitlines() if line.startswith("routes.json:")]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            f"{GOOD},user,bob@,chains/a.pem",
            'mapped user "bob@" is not a valid e-mail address: '
            "The e-mail address has no domain after the '@'.",
        ),
        (f"{GOOD},user,bob smith@example.com,chains/a.pem", 'mapped user "bob smith@example.com"'),
        (f"{GOOD},domain,*.example.com,chains/a.pem", "without wildcards"),
        (f"{GOOD},domain,@example.com,chains/a.pem", "without '@'"),
        (f"{GOOD},domain,localhost,chains/a.pem", "at least two labels"),
        (f"{GOOD},domain,10.0.0.1,chains/a.pem", "not an IP address"),
        (f"{GOOD},group,x@example.com,chains/a.pem", 'kind: "group" is neither'),
        (f"{GOOD},user,,chains/a.pem", "value: a user row needs"),
        (",UMS01.Example.com,8443,ums,Corp Entra,user,a@example.com,chains/a.pem", "display_name"),
        (
            "Berlin UMS,https://ums.example.com,8443,ums,Corp Entra,user,a@example.com,chains/a.pem",
            'ums_hostname: "https://ums.example.com" is not valid: Enter the hostname without a scheme',
        ),
        (
            "Berlin UMS,ums.example.com:8443,8443,ums,Corp Entra,user,a@example.com,chains/a.pem",
            "ums_hostname",
        ),
        (
            "Berlin UMS,ums.example.com,80a,ums,Corp Entra,user,a@example.com,chains/a.pem",
            "ums_port",
        ),
        (
            "Berlin UMS,ums.example.com,70000,ums,Corp Entra,user,a@example.com,chains/a.pem",
            "ums_port",
        ),
        ("Berlin UMS,ums.example.com,0,ums,Corp Entra,user,a@example.com,chains/a.pem", "ums_port"),
        (
            "Berlin UMS,ums.example.com,8443,uxs,Corp Entra,user,a@example.com,chains/a.pem",
            "target",
        ),
        (
            "Berlin UMS,ums.example.com,8443,ums,Nope,user,a@example.com,chains/a.pem",
            'identity_provider: "Nope" is not an identity provider of this company account',
        ),
        (
            "Berlin UMS,ums.example.com,8443,ums,Corp Entra,user,a@example.com,chains/missing.pem",
            'certificate_chain: "chains/missing.pem" was not found',
        ),
        (
            "Berlin UMS,ums.example.com,8443,ums,Corp Entra,user,a@example.com,",
            "needs a certificate chain",
        ),
        ("Berlin UMS,,8443,ums,Corp Entra,user,a@example.com,chains/a.pem", "needs a UMS hostname"),
        (
            "Berlin UMS,ums.example.com,8443,ums,,user,a@example.com,chains/a.pem",
            "needs an identity provider",
        ),
        (
            f"{GOOD},user,a@example.com,chains/a.pem,extra",
            "the row has 9 columns, the header has 8",
        ),
    ],
)
def test_each_bad_csv_value_is_named_with_its_line(acme, corp_idp, workdir, row, expected):
    errors = csv_errors(workdir, row)
    assert any(line.startswith("routes.csv:2: ") and expected in line for line in errors), errors


def test_the_example_of_the_issue_reads_as_promised(acme, corp_idp, workdir):
    rows = [f"{GOOD},user,user{n}@example.com,chains/a.pem" for n in range(15)]
    errors = csv_errors(workdir, *rows, f"{GOOD},user,bob@,chains/a.pem")
    assert errors[0].startswith('routes.csv:17: mapped user "bob@" is not a valid e-mail address')


def test_all_errors_are_reported_in_one_run(acme, corp_idp, workdir):
    errors = csv_errors(
        workdir,
        f"{GOOD},user,bad1@,chains/a.pem",
        f"{GOOD},user,good@example.com,chains/a.pem",
        f"{GOOD},domain,bad domain,chains/a.pem",
        f"{GOOD},user,bad2@,chains/a.pem",
    )
    assert [e.split(":")[1] for e in errors] == ["2", "4", "5"]


def test_a_user_listed_twice_names_both_lines(acme, corp_idp, workdir):
    errors = csv_errors(
        workdir,
        f"{GOOD},user,bob@example.com,chains/a.pem",
        f"{GOOD},user,alice@example.com,chains/a.pem",
        f"{GOOD},user,BOB@example.com,chains/a.pem",
    )
    assert errors == ['routes.csv:4: mapped user "BOB@example.com" is also listed on line 2']


def test_a_user_mapped_to_two_routes_names_both_lines(acme, corp_idp, workdir):
    errors = csv_errors(
        workdir,
        f"{GOOD},user,bob@example.com,chains/a.pem",
        "Munich UMS,ums02.example.com,8443,ums,Corp Entra,user,bob@example.com,chains/a.pem",
    )
    assert errors == [
        'routes.csv:3: mapped user "bob@example.com" is also listed on line 2 for another route'
    ]


def test_a_domain_listed_twice_names_both_lines(acme, corp_idp, workdir):
    errors = csv_errors(
        workdir,
        f"{GOOD},domain,bücher.example,chains/a.pem",
        f"{GOOD},domain,xn--bcher-kva.example,chains/a.pem",
    )
    assert errors == [
        'routes.csv:3: mapped domain "xn--bcher-kva.example" is also listed on line 2'
    ]


def test_route_columns_that_disagree_between_rows_are_an_error(acme, corp_idp, workdir):
    errors = csv_errors(
        workdir,
        f"{GOOD},user,a@example.com,chains/a.pem",
        "Berlin UMS,UMS02.Example.com,8443,ums,Corp Entra,user,b@example.com,chains/b.pem",
    )
    assert errors == [
        'routes.csv:3: ums_hostname: "UMS02.Example.com" for route "Berlin UMS", which has '
        '"UMS01.Example.com" on line 2',
        'routes.csv:3: certificate_chain: a different chain for route "Berlin UMS", which has on line 2',
    ]


def test_line_numbers_count_the_lines_of_inline_pem_cells(acme, corp_idp, workdir, chain_a):
    quoted = '"' + chain_a + '"'
    pem_lines = chain_a.count("\n")
    errors = csv_errors(
        workdir,
        f"{GOOD},user,a@example.com,{quoted}",
        f"{GOOD},user,b@,",
    )
    assert errors[0].startswith(f'routes.csv:{3 + pem_lines}: mapped user "b@"')


def test_header_problems_are_reported_on_line_1(acme, corp_idp, workdir):
    errors = csv_errors(workdir, "x", header="display_name,kind,valu,notes")
    assert errors == [
        'routes.csv:1: unknown column "valu" (columns: display_name,ums_hostname,ums_port,target,'
        "identity_provider,kind,value,certificate_chain,enabled)",
        'routes.csv:1: unknown column "notes" (columns: display_name,ums_hostname,ums_port,target,'
        "identity_provider,kind,value,certificate_chain,enabled)",
        'routes.csv:1: the column "value" is missing',
    ]


def test_a_chain_with_a_private_key_is_refused_with_the_reason(acme, corp_idp, workdir):
    issued = pki.chain()
    write_text(workdir, pki.pem_bundle(issued) + issued[-1].key_pem, "chains/key.pem")
    errors = csv_errors(workdir, f"{GOOD},user,a@example.com,chains/key.pem")
    assert len(errors) == 1
    assert errors[0].startswith(
        'routes.csv:2: certificate_chain: "chains/key.pem" is refused: Block 3'
    )
    assert "private key" in errors[0]
    assert "PRIVATE KEY-----" not in errors[0]


def test_a_server_certificate_in_an_icg_chain_is_refused(acme, corp_idp, workdir):
    write_text(workdir, pki.pem_bundle(pki.chain(leaf="icg.example.com")), "chains/leaf.pem")
    errors = csv_errors(
        workdir, "ICG,icg.example.com,8443,icg,Corp Entra,user,a@example.com,chains/leaf.pem"
    )
    assert "is refused" in errors[0] and "ICG" in errors[0]


def test_a_mapping_another_company_owns_names_neither_company_nor_route(
    acme, corp_idp, globex, workdir
):
    theirs = factories.RouteFactory(tenant=globex, display_name="Globex Secret Route")
    # Mapped first, domains not verified by anyone: first come, first served.
    factories.MappedUserFactory(route=theirs, email="shared@example.com", verify_domain=False)
    factories.MappedDomainFactory(route=theirs, domain="globex.example", verify_domain=False)
    errors = csv_errors(
        workdir,
        f"{GOOD},user,ok@example.com,chains/a.pem",
        f"{GOOD},user,Shared@Example.com,chains/a.pem",
        f"{GOOD},domain,GLOBEX.example,chains/a.pem",
    )
    assert errors == [
        'routes.csv:3: mapped user "shared@example.com" is already mapped by another company '
        "account; if its domain is yours, claim and verify the domain under Company domains, "
        "then map it here",
        'routes.csv:4: mapped domain "globex.example" is already mapped by another company '
        "account; if its domain is yours, claim and verify the domain under Company domains, "
        "then map it here",
    ]
    for line in errors:
        assert "globex" not in line.lower().replace('"globex.example"', "")
        assert "Globex Secret Route" not in line


def test_a_company_without_activation_cannot_import_routes(db, workdir):
    tenant = factories.TenantFactory(slug="initech")
    factories.IdentityProviderFactory(tenant=tenant, name="Corp Entra")
    path = write_text(workdir, f"{HEADER}\n{GOOD},user,a@example.com,chains/a.pem\n", "routes.csv")
    result = run_command("import_routes", "initech", str(path))
    assert result.failed
    assert 'routes.csv:2: route "Berlin UMS": IGEL OS Onboarding is not activated' in result.err


def test_json_syntax_errors_name_their_line(acme, corp_idp, workdir):
    errors = json_errors(workdir, '{"routes": [\n  {"display_name": "X",\n  "ums_port": 84 43}\n]}')
    assert errors == ["routes.json:3: not valid JSON: expected ',' or '}', found 43"]


def test_json_structure_errors_name_their_line(acme, corp_idp, workdir, chain_a):
    document = {
        "routes": [
            {
                "display_name": "Berlin UMS",
                "ums_hostname": "ums.example.com",
                "identity_provider": "Corp Entra",
                "certificate_chain": "chains/a.pem",
                "ums_port": "8443x",
                "enabled": "maybe",
                "mapped_user": ["typo@example.com"],
                "mapped_users": ["ok@example.com", 42, None, "bad@"],
                "mapped_domains": "example.com",
            },
            "not a route",
            {
                "display_name": "Berlin UMS",
                "ums_hostname": "x.example.com",
                "identity_provider": "Corp Entra",
                "certificate_chain": "chains/a.pem",
            },
        ],
        "version": 2,
    }
    text = json.dumps(document, indent=2)
    lines = text.splitlines()

    def line_of(fragment: str, nth: int = 0) -> int:
        hits = [n + 1 for n, line in enumerate(lines) if fragment in line]
        return hits[nth]

    errors = json_errors(workdir, text)
    expected = {
        f'routes.json:{line_of("8443x")}: ums_port: "8443x" is not a whole number',
        f'routes.json:{line_of("maybe")}: enabled: "maybe" is not true or false',
        f'routes.json:{line_of("mapped_user")}: unknown key "mapped_user" in a route',
        f"routes.json:{line_of('42')}: mapped user must be text, not a number",
        f"routes.json:{line_of('null')}: mapped user must be text, not null",
        f'routes.json:{line_of("bad@")}: mapped user "bad@" is not a valid e-mail address: '
        "The e-mail address has no domain after the '@'.",
        f'routes.json:{line_of("mapped_domains")}: "mapped_domains" must be a list, not a string',
        f"routes.json:{line_of('not a route')}: a route must be an object, not a string",
        f'routes.json:{line_of("{", 2)}: route "Berlin UMS" is already defined on line '
        f"{line_of('{', 1)}",
        f'routes.json:{line_of("version")}: unknown key "version" (the file holds only "routes")',
    }
    assert set(errors) == expected, errors


def test_a_file_that_is_not_utf8_is_refused(acme, corp_idp, workdir):
    path = workdir / "routes.csv"
    path.write_bytes(
        (HEADER + "\n" + GOOD + ",user,m\xfcller@example.com,chains/a.pem\n").encode("latin-1")
    )
    result = run_command("import_routes", "acme", str(path))
    assert result.failed and "not UTF-8" in result.err


def test_rows_spelling_the_same_port_or_target_differently_agree(acme, corp_idp, workdir):
    errors = csv_errors(
        workdir,
        "Berlin UMS,UMS01.Example.com,08443,UMS,Corp Entra,user,a@example.com,",
        "Berlin UMS,UMS01.Example.com,8443,ums,Corp Entra,user,bob@,",
    )
    assert not [e for e in errors if "ums_port" in e or "target:" in e], errors
    assert any(e.startswith("routes.csv:3: ") and "bob@" in e for e in errors), errors


def test_a_mapping_under_another_companys_verified_domain_is_refused_without_naming_it(
    acme, corp_idp, globex, workdir
):
    factories.VerifiedDomainFactory(tenant=globex, domain="globex.example")
    errors = csv_errors(
        workdir,
        f"{GOOD},user,ok@example.com,chains/a.pem",
        f"{GOOD},user,ceo@globex.example,chains/a.pem",
        f"{GOOD},domain,EU.Globex.example,chains/a.pem",
    )
    assert errors == [
        'routes.csv:3: mapped user "ceo@globex.example" is under globex.example, which another '
        "company account has verified as its own; only that account can route it",
        'routes.csv:4: mapped domain "eu.globex.example" is under globex.example, which another '
        "company account has verified as its own; only that account can route it",
    ]
    assert all("Globex Inc" not in line for line in errors)
