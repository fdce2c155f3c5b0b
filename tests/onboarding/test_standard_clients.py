"""Standard OAuth libraries, unchanged, onboard a device against a running server.

``requests-oauth2client`` is a strict RFC 6749 / RFC 8628 client: it reads a 200 without
``access_token`` as an error and fails, as it did before the token response existed.
The assertion it hands back is then verified the way a UMS would: PyJWT with the keys
fetched over HTTP from the published JWKS.
"""

from __future__ import annotations

import jwt
import pytest
import requests
from requests_oauth2client import (
    BearerToken,
    DeviceAuthorizationPollingJob,
    ExpiredToken,
    OAuth2Client,
)

from onboarding.models import DeviceAuthorization

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(live_server, settings, acme_route, idp):
    """The live server as its own issuer, polled every second."""
    settings.BASE_URL = live_server.url
    settings.DEVICE_CODE_INTERVAL = 1
    return live_server.url


def client_from_metadata(server: str) -> OAuth2Client:
    metadata = requests.get(f"{server}/.well-known/oauth-authorization-server", timeout=5).json()
    return OAuth2Client.from_discovery_document(
        metadata,
        issuer=server,  # the library checks the document names this issuer
        client_id="igel-os-12",  # sent, and ignored: devices are public clients
        # The library reads no device endpoint from metadata; it is given the advertised one.
        device_authorization_endpoint=metadata["device_authorization_endpoint"],
        testing=True,  # plain http on loopback
    )


def sign_in_with_a_browser(server: str, user_code: str) -> None:
    """The user's browser: code page, confirmation, the IdP, back to the callback."""
    browser = requests.Session()
    page = browser.get(f"{server}/device", params={"user_code": user_code}, timeout=5)
    assert page.status_code == 200, page.text
    csrf = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    callback = browser.post(
        f"{server}/device/confirm",
        data={"csrfmiddlewaretoken": csrf, "user_code": user_code, "decision": "approve"},
        timeout=5,
    )  # follows the redirects: to the IdP and back to /oidc/callback/
    assert callback.status_code == 200, callback.text
    assert "Return to your device" in callback.text


def test_requests_oauth2client_completes_an_onboarding_and_gets_a_verifiable_assertion(server):
    client = client_from_metadata(server)
    started = client.authorize_device(
        email="alice@acme.example", scope="onboarding", device_hostname="ws-0042"
    )
    assert started.interval == 1
    polling = DeviceAuthorizationPollingJob(client, started)
    assert polling() is None  # authorization_pending: the library keeps waiting

    sign_in_with_a_browser(server, started.user_code)
    token = None
    for _ in range(5):
        token = polling()
        if token is not None:
            break
    assert isinstance(token, BearerToken)
    assert token.token_type == "Bearer"
    # The caller gets the route from the token response, untouched by the library.
    onboarding = token.kwargs["onboarding"]
    assert onboarding["ums_hostname"] == "UMS01.Acme.example"
    assert onboarding["user"] == "alice@acme.example"

    # A UMS verifies the assertion with the keys it fetches from the published JWKS.
    jwks_client = jwt.PyJWKClient(f"{server}/.well-known/jwks.json")
    signing_key = jwks_client.get_signing_key_from_jwt(token.access_token)
    claims = jwt.decode(
        token.access_token,
        signing_key.key,
        algorithms=["ES256"],
        audience=onboarding["ums_hostname"],
        issuer=server,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
    )
    assert claims["sub"] == "alice@acme.example"
    assert claims["device"]["hostname"] == "ws-0042"
    assert (
        claims["certificate_fingerprints_sha256"] == onboarding["certificate_fingerprints_sha256"]
    )
    assert claims["exp"] - claims["iat"] == 600
    # The client counts expires_in down from when it parsed the answer (600 then): a
    # second may have passed by now.
    assert 599 <= token.expires_in <= 600

    # The code is single-use: the library sees the standard error on a second try.
    DeviceAuthorization.objects.update(last_polled_at=None)
    with pytest.raises(ExpiredToken):
        client.device_code(started.device_code)


def test_a_forged_assertion_fails_verification_with_the_published_keys(server):
    client = client_from_metadata(server)
    started = client.authorize_device(email="alice@acme.example")
    sign_in_with_a_browser(server, started.user_code)
    token = client.device_code(started.device_code)
    header, payload, signature = token.access_token.split(".")
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    claims["ums_port"] = 443  # a man in the middle sends the device elsewhere
    forged = ".".join(
        [
            header,
            jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode()).decode(),
            signature,
        ]
    )
    key = jwt.PyJWKClient(f"{server}/.well-known/jwks.json").get_signing_key_from_jwt(forged)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key.key, algorithms=["ES256"], audience="UMS01.Acme.example")
