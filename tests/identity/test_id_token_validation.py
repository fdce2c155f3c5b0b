"""ID-token validation: the JWKS cache, key rotation, an IdP that is down, and attacks.

Every refused token must be refused without any request to the IdP beyond the
rate-limited JWKS refresh; the attack tests assert the request counters.
"""

from __future__ import annotations

import time
import uuid

import pytest

from identity import oidc
from identity.oidc import OIDCError, ProviderConfig
from identity.oidc.flow import _b64url
from tests.idp_server import CLIENT_ID, IdPServer, forge_hs256, forge_unsigned, loopback_settings

NONCE = "expected-nonce"
ENTRA_TID = str(uuid.UUID("9188040d-6c67-4c5b-b112-36a304b66dad"))
OTHER_TID = str(uuid.UUID("11111111-2222-3333-4444-555555555555"))


@pytest.fixture
def server(settings):
    with IdPServer() as idp:
        loopback_settings(settings, idp)
        idp.add_user("alice@acme.example", sub="alice")
        yield idp


@pytest.fixture
def config(server):
    return ProviderConfig(issuer=server.issuer, client_id=CLIENT_ID)


@pytest.fixture
def warm(server, config, clock):
    """Discovery and JWKS cached a while ago, as after a first sign-in earlier."""
    oidc.validate_id_token(config, server.id_token(nonce=NONCE), nonce=NONCE)
    server.requests.clear()
    clock.advance(oidc.JWKS_REFRESH_INTERVAL + 1)
    return config


def refused(config, token, code, **kwargs):
    with pytest.raises(OIDCError) as exc:
        oidc.validate_id_token(config, token, **kwargs)
    assert exc.value.code == code, exc.value.message
    return exc.value


# --- the cache -------------------------------------------------------------------------


def test_a_valid_token_is_accepted_and_its_claims_returned(server, config):
    claims = oidc.validate_id_token(config, server.id_token(nonce=NONCE), nonce=NONCE)
    assert claims["sub"] == "alice" and claims["email"] == "alice@acme.example"


def test_a_warm_cache_makes_no_request_at_all(server, warm):
    for _ in range(5):
        oidc.validate_id_token(warm, server.id_token(nonce=NONCE), nonce=NONCE)
    assert sum(server.requests.values()) == 0


def test_a_rotated_key_is_accepted_after_one_refresh(server, warm):
    server.rotate_key()
    for _ in range(3):
        oidc.validate_id_token(warm, server.id_token(nonce=NONCE), nonce=NONCE)
    assert server.jwks_fetches == 1


def test_a_key_rotated_twice_within_a_minute_waits_for_the_next_refresh(server, warm, clock):
    server.rotate_key()
    oidc.validate_id_token(warm, server.id_token())
    server.rotate_key()
    refused(warm, server.id_token(), oidc.UNKNOWN_KEY)
    clock.advance(oidc.JWKS_REFRESH_INTERVAL + 1)
    oidc.validate_id_token(warm, server.id_token())
    assert server.jwks_fetches == 2


def test_an_idp_that_is_down_does_not_stop_sign_ins_with_a_warm_cache(server, warm):
    server.down = True
    oidc.validate_id_token(warm, server.id_token(nonce=NONCE), nonce=NONCE)


def fresh_token(server, clock, **claims):
    now = int(clock.now)
    return server.id_token(iat=now, exp=now + 600, **claims)


def test_stale_keys_are_still_used_when_the_idp_is_down(server, warm, clock):
    clock.advance(oidc.JWKS_MAX_AGE + oidc.DISCOVERY_MAX_AGE + 10)
    server.down = True
    oidc.validate_id_token(warm, fresh_token(server, clock))
    # It tried (once each) and fell back to the cached copies.
    assert server.jwks_fetches == 1
    assert server.requests["/.well-known/openid-configuration"] == 1


def test_stale_keys_are_refreshed_in_the_background_of_a_sign_in(server, warm, clock):
    clock.advance(oidc.JWKS_MAX_AGE + 1)
    oidc.validate_id_token(warm, fresh_token(server, clock))
    oidc.validate_id_token(warm, fresh_token(server, clock))
    assert server.jwks_fetches == 1


def test_a_cold_cache_with_the_idp_down_fails_clearly(server, config):
    server.down = True
    refused(config, server.id_token(), oidc.DISCOVERY_FAILED)
    refused(config, server.id_token(), oidc.DISCOVERY_FAILED)
    # The second attempt was answered from the short negative cache.
    assert server.requests["/.well-known/openid-configuration"] == 1


def test_concurrent_refreshes_are_single_flight(server, warm):
    # Another process holds the lock: this one must not fetch too.
    from django.core.cache import cache

    server.rotate_key()
    metadata = oidc.provider_metadata(warm)
    cache.add(oidc.jwks_refresh_lock_key(warm, metadata.jwks_uri), 1, timeout=30)
    refused(warm, server.id_token(), oidc.UNKNOWN_KEY)
    assert server.jwks_fetches == 0


# --- attacks ---------------------------------------------------------------------------


def test_a_cold_start_then_an_unknown_kid_flood_fetches_the_jwks_once_that_minute(
    server, config, clock
):
    stranger = server.add_key("RS256", publish=False)
    for i in range(30):
        refused(
            config, server.id_token(key=stranger, header={"kid": f"forged-{i}"}), oidc.UNKNOWN_KEY
        )
        clock.advance(1)
    assert server.jwks_fetches == 1  # the first fetch; no refresh on top within the minute
    clock.advance(31)
    refused(config, server.id_token(key=stranger, header={"kid": "forged-late"}), oidc.UNKNOWN_KEY)
    assert server.jwks_fetches == 2


def test_an_unknown_kid_flood_fetches_the_jwks_at_most_once_a_minute(server, warm, clock):
    stranger = server.add_key("RS256", publish=False)
    for i in range(50):
        refused(
            warm, server.id_token(key=stranger, header={"kid": f"forged-{i}"}), oidc.UNKNOWN_KEY
        )
        clock.advance(1)  # 50 seconds in all: still within the minute
    assert server.jwks_fetches == 1
    clock.advance(15)
    refused(warm, server.id_token(key=stranger), oidc.UNKNOWN_KEY)
    assert server.jwks_fetches == 2


def test_alg_none_is_refused(server, warm):
    token = forge_unsigned(
        server.claims_for(server.default_user, nonce=NONCE), {"kid": server.active_key.kid}
    )
    refused(warm, token, oidc.UNSUPPORTED_ALGORITHM, nonce=NONCE)
    assert sum(server.requests.values()) == 0


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "HS512", "", None])
def test_no_symmetric_or_empty_algorithm_is_accepted(server, warm, alg):
    token = server.id_token()
    header, _, rest = token.partition(".")
    forged_header = _b64url(
        f'{{"alg": {"null" if alg is None else repr(alg).replace(chr(39), chr(34))}}}'.encode()
    )
    refused(warm, f"{forged_header}.{rest}", oidc.UNSUPPORTED_ALGORITHM)


def test_hs256_signed_with_the_idps_public_key_is_refused(server, warm):
    claims = server.claims_for(server.default_user, nonce=NONCE)
    token = forge_hs256(claims, server.active_key.public_pem(), {"kid": server.active_key.kid})
    refused(warm, token, oidc.UNSUPPORTED_ALGORITHM, nonce=NONCE)


def test_an_algorithm_the_idp_does_not_advertise_is_refused(server, warm):
    # RS512 is asymmetric but the IdP advertises only RS256: pinned.
    key = server.add_key("RS512")
    refused(warm, server.id_token(key=key), oidc.UNSUPPORTED_ALGORITHM)


def test_a_key_of_the_wrong_type_for_the_algorithm_is_not_used(server, warm):
    es = server.add_key("ES256", publish=False)
    # ES256 signature claiming the RSA key's kid: the RSA key does not fit ES256.
    server.signing_algs = ("RS256", "ES256")
    oidc.discover(warm, refresh=True)
    refused(warm, server.id_token(key=es, header={"kid": server.active_key.kid}), oidc.UNKNOWN_KEY)


def test_a_token_signed_by_another_key_with_a_known_kid_is_refused(server, warm):
    impostor = server.add_key("RS256", publish=False)
    refused(
        warm,
        server.id_token(key=impostor, header={"kid": server.active_key.kid}),
        oidc.INVALID_SIGNATURE,
    )


def test_a_tampered_payload_is_refused(server, warm):
    header, payload, signature = server.id_token().split(".")
    other = server.id_token(sub="admin").split(".")[1]
    refused(warm, f"{header}.{other}.{signature}", oidc.INVALID_SIGNATURE)


def test_a_token_without_kid_is_accepted_only_with_a_single_key(server, warm):
    oidc.validate_id_token(warm, server.id_token(header={"kid": None}))
    server.rotate_key()
    oidc.validate_id_token(warm, server.id_token())  # the JWKS now has two keys
    refused(warm, server.id_token(header={"kid": None}), oidc.UNKNOWN_KEY)


def test_the_wrong_issuer_is_refused(server, warm):
    refused(warm, server.id_token(iss=server.issuer + "/"), oidc.INVALID_ISSUER)
    refused(warm, server.id_token(iss="https://evil.example"), oidc.INVALID_ISSUER)


def test_the_wrong_audience_is_refused(server, warm):
    refused(warm, server.id_token(aud="another-client"), oidc.INVALID_AUDIENCE)
    refused(warm, server.id_token(aud=[]), oidc.INVALID_AUDIENCE)
    refused(warm, server.id_token(aud=None), oidc.INVALID_AUDIENCE)


def test_several_audiences_need_our_azp(server, warm):
    oidc.validate_id_token(warm, server.id_token(aud=[CLIENT_ID, "api"], azp=CLIENT_ID))
    refused(warm, server.id_token(aud=[CLIENT_ID, "api"]), oidc.INVALID_AZP)
    refused(warm, server.id_token(aud=[CLIENT_ID, "api"], azp="api"), oidc.INVALID_AZP)


def test_an_expired_token_is_refused(server, warm):
    now = int(time.time())
    refused(warm, server.id_token(iat=now - 900, exp=now - oidc.LEEWAY_SECONDS - 5), oidc.EXPIRED)


def test_expiry_tolerates_two_minutes_of_clock_skew(server, warm, clock):
    now = int(clock.now)
    oidc.validate_id_token(warm, server.id_token(iat=now - 900, exp=now - 60))


def test_a_future_nbf_is_refused(server, warm):
    refused(warm, server.id_token(nbf=int(time.time()) + 600), oidc.NOT_YET_VALID)


def test_a_token_issued_in_the_future_is_refused(server, warm):
    now = int(time.time())
    refused(warm, server.id_token(iat=now + 600, exp=now + 1200), oidc.ISSUED_IN_FUTURE)


def test_a_token_older_than_max_age_is_refused(server, warm):
    now = int(time.time())
    refused(warm, server.id_token(iat=now - 3600), oidc.TOO_OLD, max_age_iat=600)


def test_missing_or_non_numeric_times_are_refused(server, warm):
    refused(warm, server.id_token(exp=None), oidc.MISSING_CLAIM)
    refused(warm, server.id_token(iat=None), oidc.MISSING_CLAIM)
    refused(warm, server.id_token(exp="tomorrow"), oidc.MALFORMED_TOKEN)
    refused(warm, server.id_token(exp=True), oidc.MALFORMED_TOKEN)


def test_a_missing_sub_is_refused(server, warm):
    refused(warm, server.id_token(sub=""), oidc.MISSING_CLAIM)


def test_the_wrong_nonce_is_refused(server, warm):
    refused(warm, server.id_token(nonce="other"), oidc.INVALID_NONCE, nonce=NONCE)
    refused(warm, server.id_token(), oidc.INVALID_NONCE, nonce=NONCE)


def test_an_entra_token_from_another_directory_is_refused(settings):
    with IdPServer(issuer_path=f"/{ENTRA_TID}/v2.0") as server:
        loopback_settings(settings, server)
        server.add_user("alice@acme.example", tid=ENTRA_TID)
        config = ProviderConfig(
            issuer=server.issuer, client_id=CLIENT_ID, entra_tenant_id=ENTRA_TID
        )
        oidc.validate_id_token(config, server.id_token())
        # Same issuer string, the app is multi-tenant and another directory signs in.
        refused(config, server.id_token(tid=OTHER_TID), oidc.INVALID_TENANT)
        refused(config, server.id_token(tid=None), oidc.INVALID_TENANT)


def test_an_oversized_token_is_refused_before_parsing(server, warm):
    token = server.id_token(padding="x" * oidc.MAX_ID_TOKEN_BYTES)
    refused(warm, token, oidc.TOKEN_TOO_LARGE)
    assert sum(server.requests.values()) == 0


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "!!!.???.***",
        "eyJhbGciOiJSUzI1NiJ9.%%%.abc",
        "W10.e30.",  # header is a JSON list
        "bnVsbA.e30.",  # header is null
        "eyJhbGciOiJSUzI1NiIsImtpZCI6MTIzfQ.e30.c2ln",  # kid is a number
        "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiZXhwIl19.e30.c2ln",  # crit
        "é.é.é",
    ],
)
def test_garbage_is_refused_without_a_request(server, warm, garbage):
    with pytest.raises(OIDCError) as exc:
        oidc.validate_id_token(warm, garbage)
    assert exc.value.code in {oidc.MALFORMED_TOKEN, oidc.UNSUPPORTED_ALGORITHM, oidc.UNKNOWN_KEY}
    assert sum(server.requests.values()) == 0


def test_a_non_json_payload_is_refused(server, warm):
    import jwt

    token = jwt.api_jws.PyJWS().encode(
        b"not json",
        server.active_key.private_key,
        algorithm="RS256",
        headers={"kid": server.active_key.kid},
    )
    refused(warm, token, oidc.MALFORMED_TOKEN)


@pytest.mark.filterwarnings("ignore:The RSA key is 1024 bits")
def test_a_weak_rsa_key_in_the_jwks_is_not_trusted(server, warm):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.idp_server import SigningKey

    weak = SigningKey(
        kid="weak",
        alg="RS256",
        private_key=rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
    )
    server.keys.append(weak)
    refused(warm, server.id_token(key=weak), oidc.UNKNOWN_KEY)


# --- review findings -------------------------------------------------------------------


def test_non_finite_times_are_refused(server, warm):
    # json.loads reads NaN; NaN compares false with everything, so it would never expire.
    refused(warm, server.id_token(exp=float("nan")), oidc.MALFORMED_TOKEN)
    refused(warm, server.id_token(exp=float("inf")), oidc.MALFORMED_TOKEN)
    refused(warm, server.id_token(iat=float("nan")), oidc.MALFORMED_TOKEN)


def test_a_jwks_key_with_private_material_is_refused_not_a_crash(server, config):
    import json

    from jwt.algorithms import RSAAlgorithm

    leaked = server.add_key("RS256", publish=False)
    jwk = json.loads(RSAAlgorithm.to_jwk(leaked.private_key))
    jwk.pop("key_ops", None)  # as many IdPs publish keys: without key_ops
    jwk.update({"kid": leaked.kid, "use": "sig", "alg": "RS256"})
    server.raw_responses["/jwks"] = json.dumps(
        {"keys": [server.active_key.public_jwk(), jwk]}
    ).encode()
    refused(config, server.id_token(key=leaked), oidc.UNKNOWN_KEY)


def test_a_deeply_nested_jwks_is_an_error_not_a_crash(server, config):
    server.raw_responses["/jwks"] = b"[" * 50_000
    refused(config, server.id_token(), oidc.JWKS_UNAVAILABLE)
    report = oidc.probe(config)
    assert not report.ok and any("not JSON" in p for p in report.problems)


def test_keys_another_process_stored_during_a_cold_lookup_are_used(server, config, monkeypatch):
    # A cold start: many requests at once find no keys; one fetches them. One that read
    # the cache just before they were stored must use them, not answer "unavailable".
    from identity.oidc import cache as shared

    oidc.validate_id_token(config, server.id_token())  # the fetching request
    assert server.jwks_fetches == 1
    shared.forget_local()
    real_get_many = shared.cache_get_many
    hidden = []

    def read_before_the_keys_were_stored(keys):
        # The first read of the keys happens just before the other request stores them
        # (the shared cache's answer, Redis or in-process, without them).
        found = real_get_many(keys)
        if not hidden and any(key.startswith("oidc:jwks:") for key in keys):
            hidden.append(keys)
            return {k: v for k, v in found.items() if not k.startswith("oidc:jwks:")}
        return found

    monkeypatch.setattr(shared, "cache_get_many", read_before_the_keys_were_stored)
    oidc.validate_id_token(config, server.id_token())
    assert hidden  # the race was played
    assert server.jwks_fetches == 1  # no second request: the stored keys were read
