"""POST /api/v1/onboarding/lookup: an ID token the device obtained itself."""

from __future__ import annotations

import json
import time

import pytest

from onboarding import api
from onboarding.models import OnboardingEvent
from tests.idp_server import forge_hs256, forge_unsigned
from tests.onboarding.conftest import LOOKUP, post_json

pytestmark = pytest.mark.django_db

INVALID_TOKEN = {"error": "invalid_token", "error_description": api.INVALID_TOKEN}
NO_ROUTE = {"error": "no_route", "error_description": api.NO_ROUTE}


def lookup(client, token, **body):
    return post_json(client, LOOKUP, {"id_token": token, **body})


def test_a_valid_id_token_gets_the_route(client, acme_route, idp):
    response = lookup(client, idp.id_token(), structure_tag="berlin")
    assert response.status_code == 200
    onboarding = response.json()["onboarding"]
    assert onboarding["ums_hostname"] == "UMS01.Acme.example"
    assert onboarding["user"] == "alice@acme.example"
    assert onboarding["structure_tag"] == "berlin"
    assert onboarding["certificate_fingerprints_sha256"] == [
        c.sha256 for c in acme_route.certificate_chain.certificates.order_by("position")
    ]
    event = OnboardingEvent.objects.get()
    assert (event.action, event.result, event.tenant, event.route) == (
        "lookup",
        "success",
        acme_route.tenant,
        acme_route,
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-client"},
        {"iss": "https://elsewhere.example"},
        {"exp": int(time.time()) - 3600},
        {"iat": int(time.time()) - 3600, "exp": int(time.time()) + 600},
    ],
    ids=["wrong audience", "unknown issuer", "expired", "issued too long ago"],
)
def test_an_unacceptable_id_token_is_401(client, acme_route, idp, overrides):
    response = lookup(client, idp.id_token(**overrides))
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_conformant_code_flow_id_token_without_the_email_is_401_no_email(client, acme_route, idp):
    # node-oidc-provider's default: scope claims only in UserInfo, none in the ID token;
    # the lookup has no access token, so it cannot ask UserInfo (docs/device-api.md).
    idp.id_token_omit = {"email", "preferred_username", "email_verified"}
    response = lookup(client, idp.id_token())
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert OnboardingEvent.objects.get().reason == "no_email"
    assert idp.requests["/userinfo"] == 0
    # With the e-mail asked into the ID token (the claims parameter) it works.
    idp.id_token_omit = set()
    assert lookup(client, idp.id_token(email_verified=True)).status_code == 200


def test_an_id_token_without_the_email_is_routed_with_its_access_token(client, acme_route, idp):
    idp.id_token_omit = {"email", "preferred_username", "email_verified"}
    access_token = "at-" + "x" * 20
    idp.access_tokens[access_token] = idp.users["alice@acme.example"]
    response = lookup(client, idp.id_token(), access_token=access_token)
    assert response.status_code == 200, response.json()
    assert response.json()["onboarding"]["user"] == "alice@acme.example"
    assert idp.requests["/userinfo"] == 1


def test_an_access_token_of_another_user_does_not_lend_its_email(client, acme_route, idp):
    idp.id_token_omit = {"email", "preferred_username", "email_verified"}
    mallory = idp.add_user("mallory@acme.example", sub="mallory-sub", default=False)
    idp.access_tokens["at-mallory"] = mallory
    response = lookup(client, idp.id_token(), access_token="at-mallory")
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


def test_an_access_token_is_not_used_for_a_token_that_fails_validation(client, acme_route, idp):
    idp.access_tokens["at-alice"] = idp.users["alice@acme.example"]
    response = lookup(client, idp.id_token(aud="someone-else"), access_token="at-alice")
    assert response.status_code == 401
    assert idp.requests["/userinfo"] == 0


def test_a_lookup_token_whose_address_is_unverified_is_401(client, acme_route, idp):
    response = lookup(client, idp.id_token(email_verified=False))
    assert response.status_code == 401
    assert OnboardingEvent.objects.get().reason == "no_email"


def test_the_token_age_limit_is_a_setting(client, acme_route, idp, settings):
    settings.ONBOARDING_LOOKUP_MAX_TOKEN_AGE = 3600
    token = idp.id_token(iat=int(time.time()) - 1800)
    assert lookup(client, token).status_code == 200


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 20000])
def test_garbage_tokens_are_401(client, acme_route, idp, token):
    assert lookup(client, token).json() == INVALID_TOKEN


def test_forged_tokens_are_401(client, acme_route, idp):
    claims = idp.claims_for(idp.default_user)
    assert lookup(client, forge_unsigned(claims)).status_code == 401
    assert lookup(client, forge_hs256(claims, idp.active_key.public_pem())).status_code == 401
    event = OnboardingEvent.objects.filter(action="lookup").first()
    assert event.reason == "invalid_id_token"
    assert event.tenant == acme_route.tenant


def test_a_valid_token_of_an_unmapped_user_is_404(client, acme_route, idp):
    user = idp.add_user("eve@elsewhere.example")
    response = lookup(client, idp.id_token(user=user))
    assert response.status_code == 404
    assert response.json() == NO_ROUTE


def test_another_companys_idp_cannot_vouch_for_acme_users_and_acme_is_told(
    client, acme_route, globex_route, globex_idp
):
    user = globex_idp.add_user("alice@acme.example")
    response = lookup(client, globex_idp.id_token(user=user))
    assert response.status_code == 404
    # Recorded for the company whose user it is, never in the other company's log.
    event = OnboardingEvent.objects.get()
    assert (event.reason, event.tenant.slug) == ("other_identity_provider", "acme")


@pytest.mark.parametrize("body", [{}, {"id_token": None}, {"id_token": 5}, {"id_token": ["x"]}])
def test_a_malformed_lookup_is_400(client, body):
    response = post_json(client, LOOKUP, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_lookup_is_rate_limited_per_email(client, acme_route, idp, settings):
    settings.ONBOARDING_RATE_LIMITS = {"lookup_email": (1, 600)}
    assert lookup(client, idp.id_token()).status_code == 200
    assert lookup(client, idp.id_token(), REMOTE_ADDR="192.0.2.5").status_code == 429


def test_a_token_with_a_deeply_nested_payload_is_401_not_a_crash(client, acme_route, idp):
    import base64

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    nested = b"[" * 5000 + b"]" * 5000
    header = part(b'{"alg":"RS256"}')
    token = f"{header}.{part(nested)}.{part(b'sig')}"
    response = lookup(client, token)
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


def test_a_deleted_identity_provider_is_not_used_from_the_cache(
    client, acme_route, idp, django_capture_on_commit_callbacks
):
    from onboarding.models import Route

    assert lookup(client, idp.id_token()).status_code == 200  # candidates cached
    provider = acme_route.identity_provider
    Route.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        provider.delete()
    response = lookup(client, idp.id_token())
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_a_deleted_company_s_identity_provider_is_not_used_from_the_cache(
    client, acme_route, idp, django_capture_on_commit_callbacks
):
    from onboarding.models import Route

    assert lookup(client, idp.id_token()).status_code == 200  # candidates cached
    Route.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        acme_route.tenant.delete()  # its providers go with it
    response = lookup(client, idp.id_token(sub="forged"))
    assert response.status_code == 401  # not a 500 recording an event for a deleted company


def test_the_cached_candidates_never_hold_a_client_secret(client, acme_route, idp):
    from django.core.cache import cache

    from identity.selectors import _key

    for _ in range(2):  # the first makes a generation token, the second caches under it
        assert lookup(client, idp.id_token()).status_code == 200
    _generation, candidates = cache.get(_key(idp.issuer, [idp.client_id]))
    assert [c.config.client_secret for c in candidates] == [""]


def test_the_answers_are_exactly_what_their_documented_serializers_make(
    client, device, acme_route, idp
):
    # The views answer the dicts they build (a serializer per answer cost more than the
    # rest of a poll); the OpenAPI document shows the serializers: the two must agree.
    from onboarding.api.serializers import AuthorizeOutputSerializer, OnboardingAnswerSerializer

    started = device.authorize().json()
    assert started == AuthorizeOutputSerializer(started).data
    answer = lookup(client, idp.id_token()).json()
    assert json.loads(json.dumps(OnboardingAnswerSerializer(answer).data)) == answer
