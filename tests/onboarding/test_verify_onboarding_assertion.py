"""manage.py verify_onboarding_assertion TOKEN [--audience HOST], and key rotation."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from onboarding import assertion
from onboarding.events import DeviceInfo
from tests.onboarding.test_assertion import key_pem
from tests.pki import ec_key, rsa_key

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def issue(route, **kwargs) -> str:
    return assertion.assertion_issue(
        route=route,
        user="alice@acme.example",
        fingerprints=["AB:CD"],
        identity_provider_issuer="https://idp.example/acme",
        device=DeviceInfo(hostname="ws-0042"),
        structure_tag="berlin",
        **kwargs,
    ).token


def verify(token: str, *args: str) -> dict:
    out = io.StringIO()
    call_command("verify_onboarding_assertion", token, *args, stdout=out)
    return json.loads(out.getvalue())


def refused(token: str, *args: str) -> str:
    with pytest.raises(CommandError) as error:
        call_command("verify_onboarding_assertion", token, *args, stdout=io.StringIO())
    message = str(error.value)
    assert message.startswith("The assertion is not valid: ") and "\n" not in message
    return message


@pytest.fixture
def route(acme_route, settings):
    settings.ONBOARDING_SIGNING_KEYS = key_pem(ec_key())
    return acme_route


def test_a_valid_assertion_prints_its_claims(route):
    claims = verify(issue(route), "--audience", "UMS01.Acme.example")
    assert claims["sub"] == "alice@acme.example"
    assert claims["aud"] == "UMS01.Acme.example"
    assert claims["device"]["hostname"] == "ws-0042"
    assert claims["idp"] == "https://idp.example/acme"


def test_without_an_audience_any_ums_is_accepted(route):
    assert verify(issue(route))["tenant"] == "acme"


def test_another_audience_is_refused(route):
    assert "not meant for 'ums01.acme.example'" in refused(
        issue(route),
        "--audience",
        "ums01.acme.example",  # exact match: case counts
    )


def test_a_tampered_assertion_is_refused(route):
    header, payload, signature = issue(route).split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["sub"] = "mallory@acme.example"
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    assert "signature does not verify" in refused(f"{header}.{forged}.{signature}")


def test_an_expired_assertion_is_refused(route):
    token = issue(route, now=timezone.now() - dt.timedelta(seconds=601))
    assert "it has expired" in refused(token)


def test_an_assertion_from_another_issuer_is_refused(route, settings):
    token = issue(route)
    settings.BASE_URL = "https://another-obs.example"
    assert "was not issued by 'https://another-obs.example'" in refused(token)


def test_a_token_that_is_not_a_jwt_is_refused(route):
    assert "not a JWT" in refused("not-a-token")


def test_a_jwt_of_another_type_signed_with_our_key_is_refused(route):
    key = assertion.signing_keys()[0]
    token = jwt.encode(
        {"sub": "x"}, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "JWT"}
    )
    assert "its type is 'JWT'" in refused(token)


def test_an_hmac_token_keyed_with_our_public_key_is_refused(route, settings):
    # The algorithm confusion attack: HS256 "signed" with the published public key.
    settings.ONBOARDING_SIGNING_KEYS = key_pem(rsa_key())
    key = assertion.signing_keys()[0]
    header = {"alg": "HS256", "kid": key.kid, "typ": assertion.TOKEN_TYPE}
    signing_input = ".".join(
        jwt.utils.base64url_encode(json.dumps(part).encode()).decode()
        for part in (header, {"sub": "mallory@acme.example"})
    )
    secret = json.dumps(key.public_jwk).encode()  # PyJWT itself refuses to forge this
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{jwt.utils.base64url_encode(mac).decode()}"
    assert "algorithm 'HS256' is not its key's RS256" in refused(forged)


def test_rotation_keeps_old_assertions_valid_and_signs_with_the_new_key(route, settings):
    old, new = key_pem(ec_key()), key_pem(rsa_key())
    settings.ONBOARDING_SIGNING_KEYS = old
    before = issue(route)
    old_kid = assertion.signing_keys()[0].kid

    settings.ONBOARDING_SIGNING_KEYS = new + old  # the new key first: it signs, both published
    after = issue(route)
    new_kid = assertion.signing_keys()[0].kid
    assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
    assert jwt.get_unverified_header(after)["alg"] == "RS256"
    assert [k["kid"] for k in assertion.public_jwks()["keys"]] == [new_kid, old_kid]
    assert verify(before)["sub"] == verify(after)["sub"] == "alice@acme.example"

    settings.ONBOARDING_SIGNING_KEYS = new  # the old key retired
    assert f"its key {old_kid!r} is not one this service publishes" in refused(before)
    assert verify(after)["tenant"] == "acme"


def test_the_command_exits_non_zero_with_one_line_saying_why(route, settings, tmp_path):
    keys = tmp_path / "signing-keys.pem"
    keys.write_text(settings.ONBOARDING_SIGNING_KEYS)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DEBUG": "True",
        "ONBOARDING_SIGNING_KEYS_FILE": str(keys),
        "DATABASE_URL": f"sqlite:///{tmp_path}/unused.sqlite3",
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "verify_onboarding_assertion", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )

    token = issue(route, now=timezone.now() - dt.timedelta(hours=1))
    expired = run(token)
    assert expired.returncode == 1
    assert expired.stderr.strip().splitlines() == [
        "CommandError: The assertion is not valid: it has expired (exp is in the past)."
    ]
    valid = run("-", "--audience", "UMS01.Acme.example", stdin=issue(route) + "\n")
    assert valid.returncode == 0, valid.stderr
    assert json.loads(valid.stdout)["sub"] == "alice@acme.example"
