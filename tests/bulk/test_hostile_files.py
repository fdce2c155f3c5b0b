"""Files written to break the importer: each is refused with its line, nothing is written.

Found by running a corpus of unseen import files against fresh databases; every test
here failed (a traceback, a misleading error, or a silently accepted value) before its
fix.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from onboarding.models import Route, Target
from tests import pki
from tests.bulk.conftest import run_command, write_json, write_text
from tests.bulk.test_errors import HEADER, csv_errors, json_errors

pytestmark = pytest.mark.django_db


def route(**overrides):
    value = {
        "display_name": "Berlin UMS",
        "ums_hostname": "ums.example.com",
        "identity_provider": "Corp Entra",
        "certificate_chain": "chains/a.pem",
    }
    value.update(overrides)
    return value


def test_a_port_of_unicode_digits_is_an_error_not_a_crash(acme, corp_idp, workdir):
    # "²".isdigit() is true, but int("²") raises.
    errors = csv_errors(workdir, "Berlin UMS,ums.example.com,²,ums,Corp Entra,,,chains/a.pem")
    assert errors == ['routes.csv:2: ums_port: "²" is not a whole number']


def test_a_json_number_too_long_to_convert_is_an_error_not_a_crash(acme, corp_idp, workdir):
    text = '{"routes": [\n{"display_name": "Berlin UMS",\n "ums_port": ' + "9" * 5000 + "}]}"
    errors = json_errors(workdir, text)
    assert "routes.json:3: ums_port: Infinity is not a whole number" in errors


def test_a_lone_surrogate_escape_is_a_syntax_error_with_its_line(acme, corp_idp, workdir):
    text = '{"routes": [\n{"display_name": "Berlin \\ud800",\n "ums_hostname": "a.example.com"}]}'
    errors = json_errors(workdir, text)
    assert errors == [
        "routes.json:2: not valid JSON: a string holds a \\u escape of half a UTF-16 surrogate pair"
    ]


def test_a_nul_character_in_a_display_name_is_refused_with_its_line(acme, corp_idp, workdir):
    # SQLite stored it; PostgreSQL failed the whole import with a database error.
    text = json.dumps({"routes": [route(display_name="Berlin\u0000UMS")]}, indent=1)
    errors = json_errors(workdir, text)
    assert errors == ["routes.json:4: display_name: must not contain a NUL character (\\u0000)"]


def test_json_values_of_the_wrong_type_are_errors_shown_as_json(acme, corp_idp, workdir):
    text = json.dumps(
        {
            "routes": [
                route(ums_port="8443", enabled="yes"),
                route(display_name="Spare", ums_port=True, enabled=None, identity_provider=None),
            ]
        },
        indent=1,
    )
    lines = text.splitlines()

    def line_of(fragment: str, nth: int = 0) -> int:
        return [n + 1 for n, line in enumerate(lines) if fragment in line][nth]

    errors = json_errors(workdir, text)
    assert set(errors) == {
        f'routes.json:{line_of("8443")}: ums_port: "8443" is text; '
        "write the port as a number, unquoted",
        f'routes.json:{line_of("yes")}: enabled: "yes" is text; write true or false, unquoted',
        f"routes.json:{line_of('true')}: ums_port: true is not a whole number",
        f"routes.json:{line_of('enabled', 1)}: enabled: null is not true or false",
        f"routes.json:{line_of('identity_provider', 1)}: identity_provider: null is not an "
        "identity provider of this company account",
    }, errors


def test_csv_cells_may_still_spell_port_and_flag_as_text(acme, corp_idp, workdir):
    path = write_text(
        workdir,
        f"{HEADER},enabled\nBerlin UMS,ums.example.com,8443,ums,Corp Entra,,,chains/a.pem,no\n",
        "routes.csv",
    )
    assert not run_command("import_routes", "acme", str(path)).failed
    assert Route.objects.get(display_name="Berlin UMS").enabled is False


def test_a_route_can_turn_icg_with_a_new_chain_without_the_server_certificate(
    acme, corp_idp, workdir
):
    certs = pki.chain(intermediates=1, leaf="ums.example.com")
    write_text(workdir, pki.pem_bundle(certs), "chains/leaf.pem")
    write_text(workdir, pki.pem_bundle(certs[:2]), "chains/cas.pem")
    first = write_json(workdir, [route(certificate_chain="chains/leaf.pem")], "ums.json")
    assert not run_command("import_routes", "acme", str(first)).failed

    # The current chain holds the server certificate, the file's new one does not.
    to_icg = route(target="icg", certificate_chain="chains/cas.pem")
    result = run_command("import_routes", "acme", str(write_json(workdir, [to_icg], "icg.json")))
    assert not result.failed, result.err
    berlin = Route.objects.get(display_name="Berlin UMS")
    assert berlin.target == Target.ICG
    assert not berlin.certificate_chain.certificates.filter(is_ca=False).exists()

    # And back to a UMS with the server certificate again.
    to_ums = route(target="ums", certificate_chain="chains/leaf.pem")
    result = run_command("import_routes", "acme", str(write_json(workdir, [to_ums], "back.json")))
    assert not result.failed, result.err
    berlin.refresh_from_db()
    assert berlin.target == Target.UMS
    assert berlin.certificate_chain.certificates.filter(is_ca=False).exists()


def test_turning_icg_without_a_new_chain_still_checks_the_current_one(acme, corp_idp, workdir):
    write_text(workdir, pki.pem_bundle(pki.chain(leaf="ums.example.com")), "chains/leaf.pem")
    first = write_json(workdir, [route(certificate_chain="chains/leaf.pem")], "ums.json")
    assert not run_command("import_routes", "acme", str(first)).failed
    path = write_json(workdir, [{"display_name": "Berlin UMS", "target": "icg"}], "icg.json")
    result = run_command("import_routes", "acme", str(path))
    assert result.failed
    assert ': target: the current certificate chain of route "Berlin UMS"' in result.err


@pytest.mark.parametrize("where", ["absolute", "dotdot", "symlink"])
def test_a_chain_path_may_not_leave_the_import_files_directory(
    acme, corp_idp, workdir, tmp_path_factory, chain_a, where
):
    outside = tmp_path_factory.mktemp("outside") / "ca.pem"
    outside.write_text(chain_a)  # a good chain: only its place is wrong
    if where == "absolute":
        ref = str(outside)
    elif where == "dotdot":
        ref = f"../{outside.parent.name}/ca.pem"
        assert (workdir / ref).resolve() == outside.resolve()
    else:
        (workdir / "chains" / "link.pem").symlink_to(outside)
        ref = "chains/link.pem"
    text = json.dumps({"routes": [route(certificate_chain=ref)]}, indent=1)
    errors = json_errors(workdir, text)
    assert errors == [
        f'routes.json:7: certificate_chain: "{ref}" is outside the directory of routes.json: '
        "a chain path is relative to the import file and stays inside its directory "
        "(also through symbolic links)"
    ]


def test_a_symlink_inside_the_directory_is_followed(acme, corp_idp, workdir):
    (workdir / "chains" / "current.pem").symlink_to(workdir / "chains" / "a.pem")
    path = write_json(workdir, [route(certificate_chain="chains/current.pem")])
    assert not run_command("import_routes", "acme", str(path)).failed


def test_a_file_that_is_not_utf8_names_its_first_bad_line(acme, corp_idp, workdir):
    rows = [
        f"Berlin UMS,ums.example.com,8443,ums,Corp Entra,user,u{n}@example.com,chains/a.pem"
        for n in range(3)
    ]
    rows.append("Berlin UMS,,,,,user,m\xfcller@example.com,")
    path = workdir / "routes.csv"
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode("latin-1"))
    result = run_command("import_routes", "acme", str(path))
    assert result.failed
    assert (
        "routes.csv:5: this line is not UTF-8 text (save the file as CSV UTF-8 or JSON in UTF-8)"
        in result.err
    )
    assert not Route.objects.exists()


def test_a_csv_cell_longer_than_128_kib_is_read(acme, corp_idp, workdir):
    # An accepted chain can exceed the csv module's default field limit (131,072), and
    # export_routes --format csv writes it inline: it must read back, and the rows
    # after it must still be checked.
    cell = "-----BEGIN CERTIFICATE-----\n" + "QUJD\n" * 40_000 + "-----END CERTIFICATE-----\n"
    errors = csv_errors(
        workdir,
        f'Big,big.example.com,8443,ums,Corp Entra,user,big@example.com,"{cell}"',
        "Big,,,,,user,bob@,",
    )
    assert errors[0].startswith("routes.csv:2: certificate_chain: (inline PEM) is refused")
    assert errors[-1].startswith(f'routes.csv:{2 + cell.count(chr(10)) + 1}: mapped user "bob@"')
    assert not any("not valid CSV" in error for error in errors)


NESTED = 5000


@pytest.mark.parametrize("where", ["enabled", "extra", "mapped_users"])
def test_deeply_nested_json_is_a_reported_problem_not_a_crash(acme, corp_idp, workdir, where):
    # Issue 15 #14: about 5,000 levels used to end import_routes with a RecursionError.
    deep = "[" * NESTED + "]" * NESTED
    value = f'["a@example.com", {deep}]' if where == "mapped_users" else deep
    text = '{"routes": [\n{"display_name": "Berlin UMS",\n "' + where + '": ' + value + "}]}"
    errors = json_errors(workdir, text)
    assert errors[-1] == "routes.json:3: not valid JSON: values nested more than 32 levels deep"


def test_the_admin_import_page_reports_deep_nesting_without_a_500(client, bob, acme, corp_idp):
    from django.core.files.uploadedfile import SimpleUploadedFile

    deep = "{" + '"a":{' * NESTED + "}" * NESTED + "}"
    document = '{"routes": [{"display_name": "Berlin UMS", "extra": ' + deep + "}]}"
    client.force_login(bob)
    queued = client.post(
        "/admin/onboarding/route/import/",
        {"tenant": acme.pk, "file": SimpleUploadedFile("routes.json", document.encode())},
    )
    call_command("run_jobs", "--once", stdout=StringIO())
    page = client.get(queued["Location"])
    assert page.status_code == 200
    assert "nested more than 32 levels deep" in page.content.decode()
    assert not Route.objects.exists()
