"""A real OpenID provider on loopback, for tests of everything that signs users in.

It speaks real HTTP on 127.0.0.1 (a free port), in a background thread:

* ``GET  <issuer>/.well-known/openid-configuration`` — discovery (``discovery_overrides``
  are merged in);
* ``GET  /jwks`` — the published keys (``jwks_fetches`` counts requests);
* ``GET  /authorize`` — auto-approves: redirects to ``redirect_uri`` with ``code`` and
  ``state`` for the user named by ``login_hint`` (or ``default_user``), and records the
  request (nonce, PKCE challenge) in ``authorizations``;
* ``POST /token`` — checks client authentication (basic or post, as advertised), the
  code, the redirect URI and the PKCE verifier; answers with an ID token signed by the
  active key (``id_token_overrides`` / ``id_token_header_overrides`` forge it);
* ``GET  /userinfo`` — the user's claims for the access token (``userinfo_overrides``).

Use from a test::

    from tests.idp_server import IdPServer, loopback_settings

    def test_something(settings):
        with IdPServer(issuer_path="/tenant/v2.0") as idp:
            loopback_settings(settings, idp)            # allow 127.0.0.1, point kinds at it
            idp.add_user("alice@acme.example", sub="alice-sub", tid=...)
            token = idp.id_token(sub="alice-sub", nonce="n")   # a valid token, any claims
            idp.rotate_key()                              # new kid, old key kept published
            idp.down = True                               # connections are dropped

or import the ``idp`` fixture into a conftest (``from tests.idp_server import idp``).
Keys are generated here with ``cryptography`` (RSA 2048 / P-256 / Ed25519).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

CLIENT_ID = "obs-test-client"
CLIENT_SECRET = "obs-test-secret-value"  # noqa: S105


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@lru_cache(maxsize=16)
def _private_key(alg: str, index: int) -> Any:
    # Cached per (alg, index): key generation is the slow part of these tests, and
    # distinct indices still give distinct keys for rotation tests.
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"No key type for {alg}")


@dataclass
class SigningKey:
    kid: str
    alg: str
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = json.loads(RSAAlgorithm.to_jwk(public))
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = json.loads(ECAlgorithm.to_jwk(public))
        else:
            jwk = json.loads(OKPAlgorithm.to_jwk(public))
        jwk.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        return jwk

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class IdPUser:
    email: str
    sub: str
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass
class Authorization:
    """What /authorize received, and the code it issued."""

    client_id: str
    redirect_uri: str
    state: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    login_hint: str | None
    scope: str
    user: IdPUser
    redeemed: bool = False


def forge_unsigned(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """A token with ``alg: none`` and an empty signature."""
    head = {"alg": "none", "typ": "JWT", **(header or {})}
    return f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}."


def forge_hs256(claims: dict[str, Any], secret: bytes, header: dict[str, Any] | None = None) -> str:
    """HS256 with an arbitrary secret: with the IdP's public key PEM, the classic confusion."""
    head = {"alg": "HS256", "typ": "JWT", **(header or {})}
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


class _Server(ThreadingHTTPServer):
    # Every thread of every server worker may fetch discovery and keys at once when a
    # benchmark starts: the default backlog of 5 refused some.
    request_queue_size = 128


class IdPServer:
    """A configurable OpenID provider; start()/stop() or use as a context manager."""

    def __init__(
        self,
        *,
        issuer_path: str = "",
        alg: str = "RS256",
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post"),
        signing_algs: tuple[str, ...] | None = None,
    ) -> None:
        self.issuer_path = issuer_path.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_methods = auth_methods
        self.signing_algs = signing_algs
        self._key_counter = 0
        self.keys: list[SigningKey] = []
        self.active_key = self.add_key(alg)
        self.users: dict[str, IdPUser] = {}
        self.default_user: IdPUser | None = None
        self.authorizations: dict[str, Authorization] = {}
        self.access_tokens: dict[str, IdPUser] = {}
        #: Merged into the discovery document / every ID token / header / UserInfo answer.
        self.discovery_overrides: dict[str, Any] = {}
        self.id_token_overrides: dict[str, Any] = {}
        self.id_token_header_overrides: dict[str, Any] = {}
        self.userinfo_overrides: dict[str, Any] = {}
        #: Claims left out of ID tokens (e.g. "email", to force the UserInfo fallback).
        self.id_token_omit: set[str] = set()
        #: path -> Location: answered with a 302 (to test that redirects are not followed).
        self.redirects: dict[str, str] = {}
        #: path -> bytes: answered verbatim (200, application/json) instead of the real
        #: document, for responses json.dumps cannot produce.
        self.raw_responses: dict[str, bytes] = {}
        #: True: every connection is dropped without an answer (the IdP is "down").
        self.down = False
        #: RFC 9207: put ``iss`` into authorization responses (advertise it with
        #: ``discovery_overrides``).
        self.send_response_iss = False
        self.requests: Counter[str] = Counter()
        self.token_requests: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> IdPServer:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> IdPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.base_url + self.issuer_path

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def jwks_fetches(self) -> int:
        return self.requests["/jwks"]

    # --- keys --------------------------------------------------------------------------
    def add_key(
        self, alg: str = "RS256", *, kid: str | None = None, publish: bool = True
    ) -> SigningKey:
        self._key_counter += 1
        key = SigningKey(
            kid=kid or f"key-{self._key_counter}-{secrets.token_hex(4)}",
            alg=alg,
            private_key=_private_key(alg, self._key_counter),
        )
        if publish:
            self.keys.append(key)
        return key

    def rotate_key(self, alg: str | None = None, *, keep_old: bool = True) -> SigningKey:
        """Publish a new key and sign with it from now on."""
        new = self.add_key(alg or self.active_key.alg)
        if not keep_old:
            self.keys = [new]
        self.active_key = new
        return new

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys]}

    # --- users and tokens ----------------------------------------------------------------
    def add_user(
        self, email: str, *, sub: str | None = None, default: bool = True, **claims: Any
    ) -> IdPUser:
        user = IdPUser(email=email, sub=sub or f"sub-{secrets.token_hex(6)}", claims=claims)
        self.users[email.lower()] = user
        if default or self.default_user is None:
            self.default_user = user
        return user

    def claims_for(
        self, user: IdPUser, *, nonce: str | None = None, **overrides: Any
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 600,
            "email": user.email,
            "preferred_username": user.email,
            **user.claims,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        for name in self.id_token_omit:
            claims.pop(name, None)
        claims.update(self.id_token_overrides)
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: SigningKey | None = None,
        header: dict[str, Any] | None = None,
    ) -> str:
        """Sign any claims with a key of this IdP (default: the active one) — forging made easy."""
        key = key or self.active_key
        head = {"kid": key.kid, **self.id_token_header_overrides, **(header or {})}
        head = {k: v for k, v in head.items() if v is not None}
        algorithm = "EdDSA" if key.alg == "EdDSA" else key.alg
        return jwt.encode(claims, key.private_key, algorithm=algorithm, headers=head)

    def id_token(
        self,
        *,
        user: IdPUser | None = None,
        key: SigningKey | None = None,
        header: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A valid ID token for ``user`` (default: the default user); claims overridable."""
        user = user or self.default_user or self.add_user("user@example.com")
        nonce = overrides.pop("nonce", None)
        return self.sign(self.claims_for(user, nonce=nonce, **overrides), key=key, header=header)

    def discovery(self) -> dict[str, Any]:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("/authorize"),
            "token_endpoint": self.url("/token"),
            "userinfo_endpoint": self.url("/userinfo"),
            "jwks_uri": self.url("/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(
                self.signing_algs or sorted({k.alg for k in self.keys})
            ),
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email"],
            "grant_types_supported": ["authorization_code"],
        }
        document.update(self.discovery_overrides)
        return document


def _handler_for(idp: IdPServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output quiet

        # --- plumbing ---
        def _send(
            self,
            status: int,
            body: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None,
        ) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _send_raw(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _drop(self) -> bool:
            if idp.down:
                # Close without a byte of answer: what a dead upstream looks like.
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self.close_connection = True
                return True
            return False

        # --- GET ---
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            idp.requests[parts.path] += 1
            if self._drop():
                return
            if parts.path in idp.raw_responses:
                self._send_raw(200, idp.raw_responses[parts.path])
            elif parts.path in idp.redirects:
                self._send(302, None, {"Location": idp.redirects[parts.path]})
            elif parts.path == idp.issuer_path + "/.well-known/openid-configuration":
                self._send(200, idp.discovery())
            elif parts.path == "/jwks":
                self._send(200, idp.jwks())
            elif parts.path == "/authorize":
                self._authorize(parse_qs(parts.query))
            elif parts.path == "/userinfo":
                self._userinfo()
            else:
                self._send(404, {"error": "not_found"})

        def _authorize(self, query: dict[str, list[str]]) -> None:
            q = {k: v[0] for k, v in query.items()}
            if (
                q.get("client_id") != idp.client_id
                or q.get("response_type") != "code"
                or "redirect_uri" not in q
            ):
                self._send(400, {"error": "invalid_request"})
                return
            hint = (q.get("login_hint") or "").lower()
            user = idp.users.get(hint) or idp.default_user
            if user is None:
                self._send(400, {"error": "login_required"})
                return
            code = secrets.token_urlsafe(24)
            idp.authorizations[code] = Authorization(
                client_id=q["client_id"],
                redirect_uri=q["redirect_uri"],
                state=q.get("state", ""),
                nonce=q.get("nonce"),
                code_challenge=q.get("code_challenge"),
                code_challenge_method=q.get("code_challenge_method"),
                login_hint=q.get("login_hint"),
                scope=q.get("scope", ""),
                user=user,
            )
            sep = "&" if "?" in q["redirect_uri"] else "?"
            response = {"code": code, "state": q.get("state", "")}
            if idp.send_response_iss:
                response["iss"] = idp.issuer
            location = q["redirect_uri"] + sep + urlencode(response)
            self._send(302, None, {"Location": location})

        def _userinfo(self) -> None:
            auth = self.headers.get("Authorization", "")
            user = (
                idp.access_tokens.get(auth.removeprefix("Bearer ").strip())
                if auth.startswith("Bearer ")
                else None
            )
            if user is None:
                self._send(
                    401,
                    {"error": "invalid_token"},
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
                return
            info = {
                "sub": user.sub,
                "email": user.email,
                "preferred_username": user.email,
                **user.claims,
            }
            info.update(idp.userinfo_overrides)
            self._send(200, info)

        # --- POST ---
        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            idp.requests[parts.path] += 1
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            if self._drop():
                return
            if parts.path != "/token":
                self._send(404, {"error": "not_found"})
                return
            form = {k: v[0] for k, v in parse_qs(body).items()}
            idp.token_requests.append(
                {"form": form, "authorization": self.headers.get("Authorization")}
            )
            self._token(form)

        def _client_authenticated(self, form: dict[str, str]) -> bool:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                if "client_secret_basic" not in idp.auth_methods:
                    return False
                decoded = base64.b64decode(auth[6:]).decode()
                client_id, _, secret = decoded.partition(":")
                return unquote(client_id) == idp.client_id and unquote(secret) == idp.client_secret
            if "client_secret" in form:
                return (
                    "client_secret_post" in idp.auth_methods
                    and form.get("client_id") == idp.client_id
                    and form["client_secret"] == idp.client_secret
                )
            return False

        def _token(self, form: dict[str, str]) -> None:
            if not self._client_authenticated(form):
                self._send(401, {"error": "invalid_client"})
                return
            if form.get("grant_type") != "authorization_code":
                self._send(400, {"error": "unsupported_grant_type"})
                return
            grant = idp.authorizations.get(form.get("code", ""))
            if grant is None or grant.redeemed:
                self._send(
                    400, {"error": "invalid_grant", "error_description": "unknown or used code"}
                )
                return
            grant.redeemed = True  # single use, as RFC 6749 4.1.2 demands
            if form.get("redirect_uri") != grant.redirect_uri:
                self._send(
                    400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
                )
                return
            if grant.code_challenge is not None:
                verifier = form.get("code_verifier", "")
                computed = b64url(hashlib.sha256(verifier.encode()).digest())
                if grant.code_challenge_method != "S256" or computed != grant.code_challenge:
                    self._send(
                        400,
                        {"error": "invalid_grant", "error_description": "PKCE verification failed"},
                    )
                    return
            access_token = secrets.token_urlsafe(24)
            idp.access_tokens[access_token] = grant.user
            id_token = idp.id_token(user=grant.user, nonce=grant.nonce)
            self._send(
                200,
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": 600,
                    "id_token": id_token,
                },
            )

    return Handler


def loopback_settings(settings: Any, idp: IdPServer) -> None:
    """Point the hosted-IdP base URLs at ``idp`` and allow loopback, production-style.

    Private addresses stay blocked except the allow-listed 127.0.0.1, so the SSRF
    guard is exercised on every request these tests make.
    """
    settings.OUTBOUND_BLOCK_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.OUTBOUND_REQUIRE_HTTPS = False
    settings.OUTBOUND_HTTP_TIMEOUT = 2.0
    settings.ENTRA_AUTHORITY_URL = idp.base_url
    settings.OKTA_BASE_URL_TEMPLATE = idp.base_url + "/okta/{domain}"
    settings.PING_BASE_URL = idp.base_url


@pytest.fixture
def idp(settings: Any) -> Any:
    """A running IdP (issuer = its base URL) with settings pointing at it."""
    with IdPServer() as server:
        loopback_settings(settings, server)
        server.add_user("user@example.com", sub="user-sub")
        yield server
