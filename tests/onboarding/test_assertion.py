"""The onboarding assertion: its claims, the signing keys, the JWKS and the metadata."""

from __future__ import annotations

import base64
import datetime as dt
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from onboarding import assertion
from onboarding.events import DeviceInfo
from onboarding.models import DeviceAuthorization, OnboardingEvent
from tests.onboarding.conftest import LOOKUP, post_json, sign_in
from tests.pki import ec_key, issue, rsa_key

pytestmark = pytest.mark.django_db


def key_pem(key, *, traditional: bool = False) -> str:
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if traditional
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def claims_of(token: str, public_key, audience: str) -> dict:
    return jwt.decode(token, public_key, algorithms=["ES256", "RS256"], audience=audience)


def onboard(client, phone, **body):
    phone.authorize(**body)
    sign_in(client, phone)
    DeviceAuthorization.objects.update(last_polled_at=None)
    response = phone.poll()
    assert response.status_code == 200, response.content
    return response


# --- The assertion a device gets ---------------------------------------------------------


def test_the_token_answer_carries_an_assertion_of_who_was_onboarded_where(
    client, device, acme_route, idp, settings
):
    settings.BASE_URL = "https://obs.example.com"
    before = int(timezone.now().timestamp())
    response = onboard(
        client,
        device,
        structure_tag="berlin/floor-2",
        device={"hostname": "ws-0042", "serial": "SN42", "model": "UD3", "os_version": "12.5.1"},
    )
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 600)
    assert response["Cache-Control"] == "no-store"

    key = assertion.signing_keys()[0]
    header = jwt.get_unverified_header(body["access_token"])
    assert header == {"alg": "ES256", "kid": key.kid, "typ": "onboarding+jwt"}
    claims = claims_of(body["access_token"], key.private_key.public_key(), "UMS01.Acme.example")
    assert before <= claims.pop("iat") <= before + 5
    assert claims.pop("exp") - 600 >= before
    assert len(claims.pop("jti")) >= 22  # 128 bits
    assert claims == {
        "iss": "https://obs.example.com",
        "sub": "alice@acme.example",
        "aud": "UMS01.Acme.example",  # as configured, case preserved
        "tenant": "acme",
        "display_name": "Berlin UMS",
        "ums_port": 8443,
        "target": "ums",
        "certificate_fingerprints_sha256": body["onboarding"]["certificate_fingerprints_sha256"],
        "device": {"hostname": "ws-0042", "serial": "SN42", "model": "UD3", "os_version": "12.5.1"},
        "structure_tag": "berlin/floor-2",
        "idp": idp.issuer,
    }
    chain = acme_route.certificate_chain.certificates.order_by("position")
    assert claims["certificate_fingerprints_sha256"] == [c.sha256 for c in chain]  # root first


def test_every_assertion_has_its_own_jti(client, device, acme_route, idp):
    first = onboard(client, device).json()["access_token"]
    second = onboard(client, device).json()["access_token"]
    public = assertion.signing_keys()[0].private_key.public_key()
    aud = "UMS01.Acme.example"
    assert claims_of(first, public, aud)["jti"] != claims_of(second, public, aud)["jti"]


def test_the_lifetime_is_a_setting(client, device, acme_route, idp, settings):
    settings.ONBOARDING_ASSERTION_LIFETIME = 120
    body = onboard(client, device).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == 120 == claims["exp"] - claims["iat"]


def test_a_lookup_answers_the_same_token_response(client, acme_route, idp):
    response = post_json(client, LOOKUP, {"id_token": idp.id_token(), "structure_tag": "hq"})
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 600)
    assert response["Cache-Control"] == "no-store"
    claims = assertion.assertion_verify(body["access_token"], audience="UMS01.Acme.example")
    assert (claims["sub"], claims["structure_tag"], claims["idp"]) == (
        "alice@acme.example",
        "hq",
        idp.issuer,
    )
    # The device ran the sign-in itself and reported nothing about itself here.
    assert claims["device"] == {"hostname": "", "serial": "", "model": "", "os_version": ""}


# --- Keys --------------------------------------------------------------------------------


def test_the_kid_is_the_rfc_7638_thumbprint():
    # The example of RFC 7638 section 3.1, with the thumbprint the RFC gives for it.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGj"
        "QR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-b"
        "FTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    numbers = rsa.RSAPublicNumbers(65537, int.from_bytes(base64.urlsafe_b64decode(n + "=="), "big"))
    members = assertion.public_jwk_members(numbers.public_key())
    assert assertion.jwk_thumbprint(members) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ec_coordinates_keep_their_leading_zeros():
    # One key in 256 has an x below 2^248: its JWK must still carry 32 bytes.
    key = next(k for k in iter(ec_key, None) if k.public_key().public_numbers().x < 2**248)
    jwk = assertion.public_jwk_members(key)
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32


def test_configured_keys_sign_with_the_first_and_publish_all(settings):
    first, second = ec_key(), rsa_key()
    settings.ONBOARDING_SIGNING_KEYS = key_pem(first) + "\n" + key_pem(second, traditional=True)
    keys = assertion.signing_keys()
    assert [k.algorithm for k in keys] == ["ES256", "RS256"]
    jwks = assertion.public_jwks()["keys"]
    assert [k["kid"] for k in jwks] == [k.kid for k in keys]
    assert [(k["kty"], k["alg"], k["use"]) for k in jwks] == [
        ("EC", "ES256", "sig"),
        ("RSA", "RS256", "sig"),
    ]
    for published in jwks:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & published.keys()  # public parts only
    assert jwt.PyJWK(jwks[0]).key.public_numbers() == first.public_key().public_numbers()


@pytest.mark.parametrize(
    ("make_text", "message"),
    [
        (lambda: "not a key", "no PEM private key found"),
        (lambda: issue("CN=x").pem, "block 1 is a CERTIFICATE, not a private key"),
        (
            lambda: (
                ec_key()
                .private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"pw"),
                )
                .decode()
            ),
            "block 1 is encrypted",
        ),
        (lambda: key_pem(ec_key(ec.SECP384R1())), "EC key on secp384r1; only P-256"),
        (lambda: key_pem(rsa_key(1024)), "RSA key of 1024 bits; at least 2048"),
        (lambda: key_pem(ed25519.Ed25519PrivateKey.generate()), "use EC P-256 or RSA"),
        (
            lambda: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "block 1 does not parse as a PEM private key",
        ),
        (
            lambda: key_pem(ec_key()) + "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n",
            "text outside the PEM blocks",
        ),
    ],
    ids=[
        "no pem",
        "certificate",
        "encrypted",
        "p-384",
        "rsa-1024",
        "ed25519",
        "garbage",
        "truncated second key",
    ],
)
def test_a_bad_key_setting_is_refused_with_what_is_wrong(settings, make_text, message):
    settings.ONBOARDING_SIGNING_KEYS = make_text()
    with pytest.raises(ImproperlyConfigured, match="ONBOARDING_SIGNING_KEYS") as refused:
        assertion.signing_keys()
    assert message in str(refused.value)


def test_the_same_key_twice_is_refused(settings):
    pem = key_pem(ec_key())
    settings.ONBOARDING_SIGNING_KEYS = pem + pem
    with pytest.raises(ImproperlyConfigured, match="block 2 is the same key as block 1"):
        assertion.signing_keys()


def test_without_keys_a_development_key_is_made_once_and_kept(settings, tmp_path):
    settings.ONBOARDING_SIGNING_KEYS = ""
    path = tmp_path / "keys" / "dev.pem"
    settings.ONBOARDING_DEVELOPMENT_KEY_FILE = path
    first = assertion.signing_keys()
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert [k.algorithm for k in first] == ["ES256"]
    assert assertion.signing_keys()[0].kid == first[0].kid
    # Another process finds the same file: a copy of the text is the same key.
    assert assertion.parse_signing_keys(path.read_text())[0].kid == first[0].kid
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left


def test_without_keys_and_without_development_keys_nothing_is_signed(settings):
    settings.ONBOARDING_SIGNING_KEYS = ""
    settings.ONBOARDING_DEVELOPMENT_KEY_FILE = None  # what settings.py sets with DEBUG off
    with pytest.raises(ImproperlyConfigured, match="no development key is generated"):
        assertion.signing_keys()


def test_a_failed_signature_leaves_the_device_code_usable(
    client, device, acme_route, idp, settings, tmp_path
):
    device.authorize()
    sign_in(client, device)
    DeviceAuthorization.objects.update(last_polled_at=None)
    settings.ONBOARDING_SIGNING_KEYS = ""
    settings.ONBOARDING_DEVELOPMENT_KEY_FILE = None
    failed = device.poll()
    assert (failed.status_code, failed.json()["error"]) == (500, "server_error")
    assert DeviceAuthorization.objects.get().state == "approved"  # not consumed
    settings.ONBOARDING_SIGNING_KEYS = key_pem(ec_key())
    DeviceAuthorization.objects.update(last_polled_at=None)
    assert device.poll().status_code == 200


def test_a_lookup_that_cannot_sign_records_no_success(client, acme_route, idp, settings):
    settings.ONBOARDING_SIGNING_KEYS = ""
    settings.ONBOARDING_DEVELOPMENT_KEY_FILE = None
    response = post_json(client, LOOKUP, {"id_token": idp.id_token()})
    assert (response.status_code, response.json()["error"]) == (500, "server_error")
    assert not OnboardingEvent.objects.filter(result="success").exists()


def test_an_assertion_from_an_earlier_time_is_expired(acme_route):
    issued = assertion.assertion_issue(
        route=acme_route,
        user="alice@acme.example",
        fingerprints=[],
        identity_provider_issuer="https://idp.example",
        device=DeviceInfo(),
        structure_tag="",
        now=timezone.now() - dt.timedelta(seconds=601),
    )
    with pytest.raises(assertion.AssertionInvalid, match="expired"):
        assertion.assertion_verify(issued.token)


# --- The public documents ------------------------------------------------------------------


def test_the_jwks_is_public_and_cacheable(client, settings):
    settings.ONBOARDING_SIGNING_KEYS = key_pem(ec_key()) + key_pem(ec_key())
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=3600"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json() == assertion.public_jwks()
    assert len(response.json()["keys"]) == 2
    assert client.post("/.well-known/jwks.json").status_code == 405


def test_the_authorization_server_metadata_names_the_device_endpoints(client, settings):
    settings.BASE_URL = "https://obs.example.com"
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=3600"
    assert response.json() == {
        "issuer": "https://obs.example.com",
        "device_authorization_endpoint": "https://obs.example.com/api/v1/device/authorize",
        "token_endpoint": "https://obs.example.com/api/v1/device/token",
        "jwks_uri": "https://obs.example.com/.well-known/jwks.json",
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:device_code"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "service_documentation": "https://obs.example.com/api/v1/docs/",
    }
    for url in (v for v in response.json().values() if isinstance(v, str)):
        path = url.removeprefix("https://obs.example.com") or "/"
        if path != "/":
            assert client.get(path).status_code in (200, 405), path  # every address exists


def test_the_openapi_document_describes_the_token_response(client):
    schema = client.get("/api/v1/schema/").json()
    answer = schema["components"]["schemas"]["OnboardingAnswer"]
    assert set(answer["required"]) == {"access_token", "token_type", "expires_in", "onboarding"}
    token_type = answer["properties"]["token_type"]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][token_type]["enum"] == ["Bearer"]
    assert "idp" in answer["properties"]["access_token"]["description"]
    token = schema["paths"]["/api/v1/device/token"]["post"]["responses"]["200"]
    example = token["content"]["application/json"]["examples"]["Onboarded"]["value"]
    assert example["token_type"] == "Bearer" and json.dumps(example).count("access_token") == 1
