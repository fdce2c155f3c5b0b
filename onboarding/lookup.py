"""The lookup with an ID token (spec section 3, step 4): a device that signed its user in
itself asks for the route, and gets the same answer as the token endpoint's.

The token's unverified issuer and audiences only choose the candidate IdPs
(``identity.selectors.token_candidates``); each candidate validates it against its own
configuration. The only HTTP to identity providers goes through ``identity.oidc``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from identity import oidc
from identity.selectors import Candidate, token_candidates
from onboarding import conf, events, ratelimit
from onboarding.device_flow import onboarding_answer
from onboarding.models import EventAction
from onboarding.selectors import RouteLookup, route_lookup

INVALID_TOKEN = "invalid_token"  # noqa: S105 (an error code)
NO_ROUTE = "no_route"
#: Every IdP that could have judged the token failed for its own reasons (down, slow,
#: misconfigured): the token may be fine, so this is "later", not "invalid".
TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"


@dataclass(frozen=True)
class LookupOutcome:
    error: str = ""
    answer: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Validated:
    """A candidate IdP that accepted the token, and the e-mail it vouches for."""

    idp: Candidate
    email: str


def onboarding_lookup(
    *,
    id_token: object,
    access_token: str = "",
    structure_tag: str = "",
    client_address: str | None = None,
    count: Callable[[str], None] | None = None,
) -> LookupOutcome:
    """Route the holder of an ID token from a tenant's IdP (spec section 3, step 4).

    The answer is the route of the validated address whose own IdP is the one that
    accepted the token: not the first IdP that validates, so a company that registers
    an IdP which vouches for other companies' users gets nothing from it. A failure to
    route is recorded for the company whose route the address matched (or for nobody),
    never for the company whose IdP issued the token.

    ``access_token`` (optional) is used only when the validated ID token has no usable
    e-mail: UserInfo is then asked, and its ``sub`` must match. It is never used before
    the ID token itself has passed every check, so it cannot make us call an IdP.

    ``count(email)``: counts the request against the rate limits once the token vouched
    for ``email`` (the device API counts the client address with it, in one round trip;
    it raises when over a limit). Each further validated address is counted on its own.
    """
    recorder = events.EventRecorder(
        EventAction.LOOKUP, client_address=client_address, structure_tag=structure_tag
    )
    candidates = token_candidates(id_token)
    if not candidates:
        recorder.failure(
            events.REASON_NO_IDP, detail="No identity provider has this issuer and client ID."
        )
        return LookupOutcome(INVALID_TOKEN)
    assert isinstance(id_token, str)  # a token that names candidates is a string
    validated, failures = _validate_with_candidates(candidates, id_token, access_token)
    if not validated:
        return _not_validated(candidates, failures, recorder)
    return _route_validated(
        validated,
        recorder,
        structure_tag=structure_tag,
        client_address=client_address,
        count=count,
    )


def _validate_with_candidates(
    candidates: list[Candidate], id_token: str, access_token: str
) -> tuple[list[_Validated], list[oidc.OIDCError]]:
    validated: list[_Validated] = []
    failures: list[oidc.OIDCError] = []
    for idp in candidates:
        config = idp.config
        try:
            claims = oidc.validate_id_token(
                config, id_token, max_age_iat=conf.lookup_max_token_age()
            )
            email, _userinfo = oidc.resolve_email(config, claims, access_token=access_token or None)
        except oidc.OIDCError as exc:
            failures.append(exc)
            continue
        validated.append(_Validated(idp, email))
    return validated, failures


def _not_validated(
    candidates: list[Candidate], failures: list[oidc.OIDCError], recorder: events.EventRecorder
) -> LookupOutcome:
    """No candidate accepted the token: "later" if each failed for its own reasons."""
    failure = failures[-1]
    detail = f"{failure.code}: {failure.message}"
    # The company whose IdP judged the token, when the candidates are all one company's.
    tenant = candidates[0].tenant_id if len({c.tenant_id for c in candidates}) == 1 else None
    if all(f.code in oidc.TRANSIENT_ERRORS for f in failures):
        recorder.failure(events.REASON_IDP_UNAVAILABLE, detail=detail, tenant=tenant)
        return LookupOutcome(TEMPORARILY_UNAVAILABLE)
    no_email = failure.code in (oidc.NO_EMAIL, oidc.INVALID_EMAIL)
    reason = events.REASON_NO_EMAIL if no_email else events.REASON_INVALID_ID_TOKEN
    recorder.failure(reason, detail=detail, tenant=tenant)
    return LookupOutcome(INVALID_TOKEN)


def _route_validated(
    validated: list[_Validated],
    recorder: events.EventRecorder,
    *,
    structure_tag: str,
    client_address: str | None,
    count: Callable[[str], None] | None,
) -> LookupOutcome:
    """The answer for the first validated address whose route names the IdP that vouched."""
    first_miss: tuple[str, RouteLookup] | None = None
    for number, item in enumerate(validated):
        if number == 0 and count is not None:
            count(item.email)
        else:
            ratelimit.enforce("lookup_email", ratelimit.pair_key(item.email, client_address))
        lookup = route_lookup(item.email)
        route = lookup.route
        if route is not None and route.identity_provider_id == item.idp.pk:
            # Signed first: a signing failure is a 500, not a success event without an answer.
            answer = onboarding_answer(
                route,
                user=item.email,
                structure_tag=structure_tag,
                idp_issuer=item.idp.config.issuer,  # the route's own IdP: compared above
            )
            recorder.success(tenant=route.tenant, route=route, email=item.email)
            return LookupOutcome(answer=answer)
        if first_miss is None:
            first_miss = (item.email, lookup)
    assert first_miss is not None  # ``validated`` is not empty
    email, lookup = first_miss
    reason = lookup.reason if lookup.route is None else events.REASON_OTHER_IDP
    recorder.failure(reason, tenant=lookup.event_tenant_id, route=lookup.matched, email=email)
    return LookupOutcome(NO_ROUTE)
