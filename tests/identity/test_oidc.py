"""The OIDC client against a real OpenID provider on loopback: the happy paths."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from identity import oidc
from identity.models import IdPKind
from identity.oidc import OIDCError, ProviderConfig
from tests.factories import IdentityProviderFactory
from tests.idp_server import CLIENT_ID, CLIENT_SECRET, IdPServer, loopback_settings

REDIRECT_URI = "https://obs.example.com/oidc/callback/"
ENTRA_TID = str(uuid.UUID("72f988bf-86f1-41af-91ab-2d7cd011db47"))


def sign_in(config: ProviderConfig, *, login_hint: str | None = None) -> oidc.Authentication:
    """Drive the code flow as a browser would: our URL → IdP → back with code and state."""
    request = oidc.authorization_request(config, redirect_uri=REDIRECT_URI, login_hint=login_hint)
    response = requests.get(request.url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    back = parse_qs(urlsplit(response.headers["Location"]).query)
    assert back["state"] == [request.state]
    return oidc.complete_authentication(
        config,
        code=back["code"][0],
        code_verifier=request.code_verifier,
        redirect_uri=REDIRECT_URI,
        nonce=request.nonce,
    )


def idp_row(kind: str, **fields):
    return IdentityProviderFactory(
        kind=kind, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **fields
    )


@pytest.fixture
def server(settings):
    with IdPServer() as idp:
        loopback_settings(settings, idp)
        yield idp


def test_an_entra_user_signs_in_with_the_email_claim(server, db):
    server.issuer_path = f"/{ENTRA_TID}/v2.0"
    server.add_user("Alice@Acme.example", sub="alice", tid=ENTRA_TID)
    idp = idp_row(IdPKind.ENTRA, entra_tenant_id=ENTRA_TID, issuer="")
    config = oidc.provider_config(idp)
    assert config.issuer == f"{server.base_url}/{ENTRA_TID}/v2.0"

    result = sign_in(config, login_hint="alice@acme.example")

    assert result.email == "alice@acme.example"
    assert result.claims["tid"] == ENTRA_TID
    grant = next(iter(server.authorizations.values()))
    assert grant.login_hint == "alice@acme.example"
    assert grant.code_challenge_method == "S256"


def test_an_okta_user_signs_in_through_a_custom_authorization_server(server, db):
    server.issuer_path = "/okta/acme.okta.com/oauth2/default"
    server.add_user("bob@acme.example", sub="bob")
    idp = idp_row(IdPKind.OKTA, okta_domain="acme.okta.com", okta_auth_server="default", issuer="")
    assert sign_in(oidc.provider_config(idp)).email == "bob@acme.example"


def test_an_okta_org_server_issuer_is_the_domain_itself(server, db):
    server.issuer_path = "/okta/acme.okta.com"
    server.add_user("bob@acme.example", sub="bob")
    idp = idp_row(IdPKind.OKTA, okta_domain="acme.okta.com", issuer="")
    assert sign_in(oidc.provider_config(idp)).claims["sub"] == "bob"


def test_a_pingone_user_signs_in_with_the_provider_named_by_environment_id(server, db):
    environment = "7b2e1f0a-4c3d-4e5f-8a9b-0c1d2e3f4a5b"
    server.issuer_path = f"/{environment}/as"
    server.add_user("pat@acme.example", sub="pat")
    idp = idp_row(IdPKind.PING, ping_environment_id=environment, issuer="")
    config = oidc.provider_config(idp)
    assert config.issuer == f"{server.base_url}/{environment}/as"
    assert sign_in(config).email == "pat@acme.example"


def test_a_ping_user_signs_in_with_client_secret_post(server, db):
    server.issuer_path = "/env-1234/as"
    server.auth_methods = ("client_secret_post",)
    server.add_user("carol@acme.example", sub="carol")
    idp = idp_row(IdPKind.PING, issuer=server.issuer)

    assert sign_in(oidc.provider_config(idp)).email == "carol@acme.example"
    sent = server.token_requests[-1]
    assert sent["authorization"] is None and sent["form"]["client_secret"] == CLIENT_SECRET


def test_client_secret_basic_is_the_default(server, db):
    server.add_user("dave@acme.example")
    idp = idp_row(IdPKind.OIDC, issuer=server.issuer)
    sign_in(oidc.provider_config(idp))
    sent = server.token_requests[-1]
    assert sent["authorization"].startswith("Basic ") and "client_secret" not in sent["form"]


def test_a_generic_provider_works_without_discovery(server, db):
    server.add_user("erin@acme.example")
    idp = idp_row(
        IdPKind.OIDC,
        issuer=server.issuer,
        authorization_endpoint=server.url("/authorize"),
        token_endpoint=server.url("/token"),
        jwks_uri=server.url("/jwks"),
        userinfo_endpoint=server.url("/userinfo"),
    )
    assert sign_in(oidc.provider_config(idp)).email == "erin@acme.example"
    assert server.requests["/.well-known/openid-configuration"] == 0


def test_an_es256_provider_is_accepted(settings, db):
    with IdPServer(alg="ES256") as server:
        loopback_settings(settings, server)
        server.add_user("frank@acme.example")
        idp = idp_row(IdPKind.OIDC, issuer=server.issuer)
        assert sign_in(oidc.provider_config(idp)).email == "frank@acme.example"


def test_the_email_comes_from_userinfo_when_the_id_token_lacks_it(server, db):
    server.id_token_omit = {"email", "preferred_username"}
    server.add_user("grace@acme.example", sub="grace")
    idp = idp_row(IdPKind.OIDC, issuer=server.issuer)

    assert sign_in(oidc.provider_config(idp)).email == "grace@acme.example"
    assert server.requests["/userinfo"] == 1


def test_userinfo_about_another_subject_is_refused(server, db):
    server.id_token_omit = {"email", "preferred_username"}
    server.userinfo_overrides = {"sub": "someone-else"}
    server.add_user("grace@acme.example", sub="grace")
    idp = idp_row(IdPKind.OIDC, issuer=server.issuer)

    with pytest.raises(OIDCError) as exc:
        sign_in(oidc.provider_config(idp))
    assert exc.value.code == oidc.USERINFO_SUBJECT_MISMATCH


def test_a_configured_email_claim_is_used(server, db):
    server.add_user("ignored@acme.example", upn="Heidi@Acme.example")
    idp = idp_row(IdPKind.OIDC, issuer=server.issuer, email_claim="upn")
    assert sign_in(oidc.provider_config(idp)).email == "heidi@acme.example"


def test_preferred_username_is_the_fallback(server, db):
    server.id_token_omit = {"email"}
    server.userinfo_overrides = {"email": None}
    server.add_user("ivan@acme.example")
    idp = idp_row(IdPKind.OIDC, issuer=server.issuer)
    assert sign_in(oidc.provider_config(idp)).email == "ivan@acme.example"


def test_an_unverified_email_never_falls_back_to_another_address_in_preferred_username():
    # Issue 15 #11: "email_verified": false plus another address in preferred_username
    # used to route as that other address.
    config = ProviderConfig(issuer="https://idp.example", client_id="c")
    claims = {
        "sub": "s",
        "email": "x@evil.example",
        "email_verified": False,
        "preferred_username": "x@acme.example",
    }
    with pytest.raises(OIDCError) as exc:
        oidc.email_from_claims(config, claims)
    assert exc.value.code == oidc.NO_EMAIL and "not true" in exc.value.message
    with pytest.raises(OIDCError) as exc:
        oidc.email_from_claims(
            config, {"sub": "s", "email": "x@evil.example", "email_verified": False}
        )
    assert exc.value.code == oidc.NO_EMAIL


@pytest.mark.parametrize("stated", ["False", "false", "true", "True", 1, 0, None, "yes"])
def test_email_verified_counts_only_as_the_json_boolean_true(stated):
    config = ProviderConfig(issuer="https://idp.example", client_id="c")
    claims = {"sub": "s", "email": "x@acme.example", "email_verified": stated}
    with pytest.raises(OIDCError) as exc:
        oidc.email_from_claims(config, claims)
    assert exc.value.code == oidc.NO_EMAIL
    assert oidc.email_from_claims(config, {**claims, "email_verified": True}) == "x@acme.example"


def test_an_absent_email_verified_keeps_the_preferred_username_fallback():
    config = ProviderConfig(issuer="https://idp.example", client_id="c")
    claims = {"sub": "s", "preferred_username": "Upn@Acme.example"}
    assert oidc.email_from_claims(config, claims) == "upn@acme.example"


def test_unverified_in_the_id_token_is_not_overruled_by_userinfo(server, db):
    server.id_token_omit = {"email", "preferred_username"}
    server.add_user("mallory@acme.example", email_verified="False")
    idp = idp_row(IdPKind.OIDC, issuer=server.issuer)
    with pytest.raises(OIDCError) as exc:
        sign_in(oidc.provider_config(idp))
    assert exc.value.code == oidc.NO_EMAIL
    assert server.requests.get("/userinfo", 0) == 0


def test_an_address_marked_unverified_is_not_laundered_through_preferred_username():
    # node-oidc-provider (and Keycloak) put the login, often the address itself, into
    # preferred_username; the IdP's "email_verified": false must still win.
    config = ProviderConfig(issuer="https://idp.example", client_id="c")
    claims = {
        "sub": "s",
        "email": "CEO@acme.example",
        "email_verified": False,
        "preferred_username": "ceo@acme.example",
    }
    with pytest.raises(OIDCError) as exc:
        oidc.email_from_claims(config, claims)
    assert exc.value.code == oidc.NO_EMAIL
    assert "not verified" in exc.value.message
    # The same when only UserInfo carries the claims (a conformant IdP's code flow).
    with pytest.raises(OIDCError) as exc:
        oidc.email_from_claims(config, {"sub": "s"}, claims)
    assert exc.value.code == oidc.NO_EMAIL


def test_an_unverified_address_in_userinfo_is_not_signed_in_via_preferred_username(server, db):
    # What node-oidc-provider does by default for the code flow: the ID token carries
    # only sub; UserInfo has email, email_verified: false and the login.
    server.id_token_omit = {"email", "preferred_username", "email_verified"}
    server.add_user("mallory@acme.example", email_verified=False)
    idp = idp_row(IdPKind.OIDC, issuer=server.issuer)

    with pytest.raises(OIDCError) as exc:
        sign_in(oidc.provider_config(idp))
    assert exc.value.code == oidc.NO_EMAIL
    assert server.requests["/userinfo"] == 1


def test_a_claim_that_is_not_an_email_is_refused():
    config = ProviderConfig(issuer="https://idp.example", client_id="c")
    with pytest.raises(OIDCError) as exc:
        oidc.email_from_claims(config, {"sub": "s", "email": "not an address"})
    assert exc.value.code == oidc.INVALID_EMAIL


def test_the_authorization_url_carries_state_nonce_pkce_and_login_hint(server):
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    request = oidc.authorization_request(
        config, redirect_uri=REDIRECT_URI, login_hint="a@b.example"
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    assert query["state"] == request.state and query["nonce"] == request.nonce
    assert query["code_challenge"] == oidc.pkce_challenge(request.code_verifier)
    assert query["code_challenge_method"] == "S256"
    assert query["login_hint"] == "a@b.example"
    assert query["scope"] == "openid profile email"
    assert 43 <= len(request.code_verifier) <= 128


def test_a_code_cannot_be_redeemed_with_the_wrong_pkce_verifier(server):
    server.add_user("judy@acme.example")
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    request = oidc.authorization_request(config, redirect_uri=REDIRECT_URI)
    location = requests.get(request.url, allow_redirects=False, timeout=5).headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    with pytest.raises(OIDCError) as exc:
        oidc.redeem_code(config, code=code, code_verifier="x" * 64, redirect_uri=REDIRECT_URI)
    assert exc.value.code == oidc.TOKEN_REQUEST_FAILED
    assert "PKCE" in exc.value.message


def test_a_wrong_client_secret_is_reported_by_the_token_endpoint(server):
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID, client_secret="wrong")
    with pytest.raises(OIDCError) as exc:
        oidc.redeem_code(config, code="whatever", code_verifier="v" * 50, redirect_uri=REDIRECT_URI)
    assert exc.value.code == oidc.TOKEN_REQUEST_FAILED
    assert "invalid_client" in exc.value.message


def test_discovery_is_cached_between_calls(server):
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID)
    oidc.discover(config)
    oidc.discover(config)
    oidc.provider_metadata(config)
    assert server.requests["/.well-known/openid-configuration"] == 1


def test_an_old_discovery_document_is_refreshed_at_most_once_per_retry_interval(server, clock):
    # Discovery's own limit (not the JWKS one): an IdP that is down is asked once, and
    # every sign-in meanwhile keeps working with the old document.
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID)
    oidc.discover(config)
    server.down = True
    clock.advance(oidc.DISCOVERY_MAX_AGE + 1)
    for _ in range(3):
        assert oidc.discover(config)["issuer"] == server.issuer
    assert server.requests["/.well-known/openid-configuration"] == 2


def test_discovery_naming_another_issuer_is_refused(server):
    server.discovery_overrides = {"issuer": server.issuer + "/"}
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID)
    with pytest.raises(OIDCError) as exc:
        oidc.discover(config)
    assert exc.value.code == oidc.ISSUER_MISMATCH


def test_a_redirect_is_not_followed(server):
    # A redirect could lead past the address check to an internal host.
    server.redirects["/.well-known/openid-configuration"] = "http://169.254.169.254/latest/"
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID)
    with pytest.raises(OIDCError) as exc:
        oidc.discover(config)
    assert exc.value.code == oidc.DISCOVERY_FAILED
    assert "redirect" in exc.value.message


def test_an_oversized_response_is_refused(server, settings):
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 300
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID)
    with pytest.raises(OIDCError) as exc:
        oidc.discover(config)
    assert exc.value.code == oidc.RESPONSE_TOO_LARGE


def test_the_probe_reports_what_it_found(server):
    report = oidc.probe(ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID))
    assert report.ok, report.problems
    assert any("RS256" in line for line in report.found)
    assert any(server.active_key.kid in line for line in report.found)


def test_the_probe_reports_exactly_what_failed(server):
    server.down = True
    report = oidc.probe(ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID))
    assert not report.ok
    assert "could not be reached" in report.problems[0]


# --- where requests may go (production settings) -------------------------------------------


def test_private_addresses_are_refused_in_production(server, settings):
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = []
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID)
    with pytest.raises(OIDCError) as exc:
        oidc.discover(config)
    assert exc.value.code == oidc.DESTINATION_REFUSED
    assert "non-public" in exc.value.message
    assert sum(server.requests.values()) == 0


def test_a_refused_destination_does_not_reveal_the_internal_address(settings):
    # A tenant admin's "Test discovery" must not be a lookup service for internal DNS.
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = []
    settings.OUTBOUND_REQUIRE_HTTPS = False
    report = oidc.probe(ProviderConfig(issuer="http://localhost:9", client_id=CLIENT_ID))
    assert "non-public" in report.problems[0]
    assert "127.0.0.1" not in report.problems[0] and "::1" not in report.problems[0]


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1", "http://169.254.169.254", "http://[::1]:8080", "http://localhost"]
)
def test_internal_issuers_are_never_contacted(settings, url):
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = []
    settings.OUTBOUND_REQUIRE_HTTPS = False
    with pytest.raises(OIDCError) as exc:
        oidc.discover(ProviderConfig(issuer=url, client_id=CLIENT_ID))
    assert exc.value.code == oidc.DESTINATION_REFUSED


def test_plain_http_is_refused_when_https_is_required(server, settings):
    settings.OUTBOUND_REQUIRE_HTTPS = True
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID)
    with pytest.raises(OIDCError) as exc:
        oidc.discover(config)
    assert exc.value.code == oidc.DESTINATION_REFUSED
    assert "https" in exc.value.message
    assert sum(server.requests.values()) == 0


def test_a_jwks_uri_pointing_inside_is_refused_even_from_valid_discovery(server, settings):
    server.discovery_overrides = {"jwks_uri": "http://10.1.2.3/keys"}
    config = ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID)
    with pytest.raises(OIDCError) as exc:
        oidc.validate_id_token(config, server.id_token())
    assert exc.value.code == oidc.JWKS_UNAVAILABLE


def test_a_name_that_rebinds_to_loopback_after_the_check_is_not_connected_to(
    server, settings, monkeypatch
):
    # DNS rebinding: the name is public when checked, loopback when the HTTP library
    # resolves it again to connect. Only the vetted answer may be connected to.
    import socket

    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = []
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.215.14"])

    def rebinding(host, port, *args, **kwargs):
        if host != "idp.rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(OIDCError) as exc:
        oidc.fetch_jwks(f"http://idp.rebind.example:{server.port}/jwks")
    assert exc.value.code == oidc.DESTINATION_REFUSED
    assert server.jwks_fetches == 0


def _dripping_server(*, in_headers: bool):
    """Answers one request one byte every 50 ms (for up to 3 s): a deliberately slow IdP."""
    import socket
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            if in_headers:
                payload = head + b"X-Slow: " + b"a" * 60
            else:
                conn.sendall(head + b"Content-Length: 60\r\n\r\n")
                payload = b" " * 60
            for byte in payload:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.05)
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_an_idp_that_drips_its_answer_is_cut_off_at_the_deadline(settings, in_headers):
    import time

    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.OUTBOUND_REQUIRE_HTTPS = False
    settings.OUTBOUND_HTTP_TIMEOUT = 0.25  # each byte comes well within it
    port = _dripping_server(in_headers=in_headers)
    started = time.monotonic()
    with pytest.raises(OIDCError) as exc:
        oidc.fetch_jwks(f"http://127.0.0.1:{port}/jwks")
    assert time.monotonic() - started < 1.5
    assert "took too long" in exc.value.message


def test_a_process_keeps_what_it_read_of_the_shared_cache_for_a_few_seconds(monkeypatch):
    import time as clock

    from django.core.cache import cache

    from identity.oidc import cache as shared

    key = shared.cache_key("jwks", "https://idp.example", "https://idp.example/keys")
    cache.set(key, {"keys": ["old"], "fetched_at": 1.0})
    assert shared.shared_entry(key)["keys"] == ["old"]
    cache.set(key, {"keys": ["new"], "fetched_at": 2.0})  # another process refreshed it
    assert shared.shared_entry(key)["keys"] == ["old"]  # no round trip for a while
    later = clock.monotonic() + shared.LOCAL_SECONDS
    monkeypatch.setattr(clock, "monotonic", lambda: later)
    assert shared.shared_entry(key)["keys"] == ["new"]
    cache.set(key, {"keys": ["newer"], "fetched_at": 3.0})
    shared.forget_local(key)  # what this process does after writing it itself
    assert shared.shared_entry(key)["keys"] == ["newer"]


def test_the_process_copies_survive_threads_reading_and_forgetting_at_once():
    import threading
    import time as clock

    from django.core.cache import cache

    from identity.oidc import cache as shared

    keys = [shared.cache_key("jwks", f"https://idp{n}.example", "k") for n in range(50)]
    for key in keys:
        cache.set(key, {"keys": [], "fetched_at": 1.0})
    failures: list[BaseException] = []
    stop = clock.monotonic() + 0.5

    def hammer(work):
        try:
            while clock.monotonic() < stop:
                for key in keys:
                    work(key)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [
        threading.Thread(target=hammer, args=(shared.shared_entry,)),
        threading.Thread(target=hammer, args=(shared.forget_local,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
