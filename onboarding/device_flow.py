"""Writes of the device flow (RFC 8628 in shape): start, sign-in and poll.

Every state change is a conditional UPDATE (``filter(pk=..., state=...).update(...)``)
whose row count says whether this process won: with several server processes behind a
load balancer, two polls of one device code or two callbacks with one OIDC state can
run at the same moment, and exactly one of them may succeed. All state lives in the
database, so any request of an onboarding may reach any process.

Every event of a step is recorded through one ``events.EventRecorder`` bound to the
authorization and the client's address. The ID-token lookup, which answers with the
same body, is ``onboarding.lookup``. The only HTTP to identity providers goes through
``identity.oidc``.
"""

from __future__ import annotations

import datetime
import secrets
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from common import requestlog
from common.postgresql import prepared
from common.validators import normalize_email
from identity import oidc
from onboarding import assertion, conf, events, pollstate, ratelimit
from onboarding.events import DeviceInfo
from onboarding.models import DeviceAuthorization, DeviceAuthorizationState, EventAction, Route
from onboarding.selectors import (
    REASON_DOMAIN_UNVERIFIED,
    USER_CODE_ALPHABET,
    USER_CODE_LENGTH,
    RouteLookup,
    authorization_for_device_code,
    authorization_for_state,
    chain_fingerprints,
    hash_secret,
    route_lookup,
)

State = DeviceAuthorizationState

#: RFC 8628 section 3.4: the grant type of a device's poll.
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

# RFC 8628 section 3.5 / RFC 6749 section 5.2 error codes of the token endpoint.
AUTHORIZATION_PENDING = "authorization_pending"
SLOW_DOWN = "slow_down"
EXPIRED_TOKEN = "expired_token"  # noqa: S105 (an RFC 8628 error code)
ACCESS_DENIED = "access_denied"
INVALID_GRANT = "invalid_grant"

#: Errors an IdP may send to the callback that mean "try again later", not "no".
TRANSIENT_IDP_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


class NotRoutable(Exception):
    """The e-mail resolves to no enabled route of an activated tenant; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignInUnavailable(Exception):
    """The sign-in cannot start; ``reason`` is an event reason, ``denied`` if final."""

    def __init__(self, reason: str, *, denied: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.denied = denied


# --- The answer ---------------------------------------------------------------------


def onboarding_answer(
    route: Route,
    *,
    user: str,
    structure_tag: str,
    idp_issuer: str,
    device: DeviceInfo | None = None,
) -> dict[str, Any]:
    """The success body of spec section 3: an RFC 6749 section 5.1 token response.

    ``onboarding`` carries the route (chain as PEM root first, fingerprints alike);
    ``access_token`` is the signed onboarding assertion of the same facts, for the UMS.
    ``route`` should come from ``route_lookup`` (tenant and chain loaded with it);
    ``idp_issuer`` is the issuer of the identity provider that authenticated ``user``.
    """
    fingerprints = chain_fingerprints(route.certificate_chain)
    issued = assertion.assertion_issue(
        route=route,
        user=user,
        fingerprints=fingerprints,
        identity_provider_issuer=idp_issuer,
        device=device or DeviceInfo(),
        structure_tag=structure_tag,
    )
    return {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "onboarding": {
            "display_name": route.display_name,
            "ums_hostname": route.ums_hostname,
            "ums_port": route.ums_port,
            "target": route.target,
            "root_certificate_chain": route.certificate_chain.pem,
            "certificate_fingerprints_sha256": fingerprints,
            "user": user,
            "structure_tag": structure_tag,
        },
    }


def _route_problem(lookup: RouteLookup, *, tenant_id: int, identity_provider_id: int | None) -> str:
    """Why ``lookup`` gives no route for this sign-in, as an event reason; "" if it does.

    The rule every step after a sign-in applies on top of routing: the route must belong
    to the tenant the onboarding started in, and name the IdP the user signed in with (an
    IdP's word about a user its company routes elsewhere is not what it configured).
    """
    route = lookup.route
    if route is None:
        return lookup.reason
    if route.tenant_id != tenant_id:
        return events.REASON_OTHER_TENANT
    if route.identity_provider_id != identity_provider_id:
        return events.REASON_OTHER_IDP
    return ""


def _sign_in_reason(lookup: RouteLookup, problem: str) -> str:
    """The event reason when a signed-in address gives no route of the onboarding's tenant."""
    if lookup.route is not None:
        return problem
    if lookup.reason == REASON_DOMAIN_UNVERIFIED:
        return REASON_DOMAIN_UNVERIFIED
    return events.REASON_NOT_REGISTERED


def _decided(authorization: DeviceAuthorization) -> None:
    """After the row left ``pending``: the next poll must read the database."""
    remaining = (authorization.expires_at - timezone.now()).total_seconds()
    pollstate.mark_decided(authorization.device_code_hash, expires_in=max(remaining, 1))


# --- 1. Start -----------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    authorization: DeviceAuthorization
    #: The only copy of the device code: the database keeps its hash.
    device_code: str


def _new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


@dataclass(frozen=True)
class NewAuthorization:
    """A device authorization worked out but not yet written: its route and device code
    (:func:`device_authorization_prepare`), so that the caller can count its rate limits
    and seed the code's poll state in one round trip before writing it."""

    lookup: RouteLookup
    email: str
    structure_tag: str
    device: DeviceInfo
    client_address: str | None
    #: 256 bits: guessing a device code is hopeless, so only its hash is kept.
    device_code: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def poll_entry(self) -> ratelimit.Entry | None:
        """The code's poll state for ``ratelimit.hit_all(then=...)``; None if not routable."""
        route = self.lookup.route
        if route is None:
            return None
        return pollstate.new_code(
            hash_secret(self.device_code),
            interval=conf.device_code_interval(),
            expires_in=conf.device_code_expires_in(),
            tenant_id=route.tenant_id,
        )


def device_authorization_prepare(
    *,
    email: str,
    structure_tag: str = "",
    device: DeviceInfo | None = None,
    client_address: str | None = None,
) -> NewAuthorization:
    """Route ``email`` and draw a device code: nothing is written yet."""
    return NewAuthorization(
        lookup=route_lookup(email),
        email=email,
        structure_tag=structure_tag,
        device=device or DeviceInfo(),
        client_address=client_address,
    )


def device_authorization_start(
    *,
    email: str,
    structure_tag: str = "",
    device: DeviceInfo | None = None,
    client_address: str | None = None,
) -> Started:
    """Create a device authorization for ``email``; raise :class:`NotRoutable` if none."""
    new = device_authorization_prepare(
        email=email, structure_tag=structure_tag, device=device, client_address=client_address
    )
    return device_authorization_create(new, poll_state_written=False)


def device_authorization_create(new: NewAuthorization, *, poll_state_written: bool) -> Started:
    """Write the device authorization ``new`` and its event; raise :class:`NotRoutable`
    (the failure recorded) if it has no route. ``poll_state_written``: its poll state
    was written with its rate limits (``NewAuthorization.poll_entry``); else it is here."""
    lookup = new.lookup
    route = lookup.route
    if route is None:
        events.EventRecorder(
            EventAction.AUTHORIZE,
            client_address=new.client_address,
            structure_tag=new.structure_tag,
            device=new.device,
        ).failure(
            lookup.reason, tenant=lookup.event_tenant_id, route=lookup.matched, email=new.email
        )
        raise NotRoutable(lookup.reason)
    email = normalize_email(new.email)  # routable, so valid: stored as it was routed
    now = timezone.now()
    for attempt in range(8):
        try:
            authorization = _insert_authorization(route, new, email=email, now=now)
            break
        except IntegrityError:
            # A user code collision (1 in 2^34 per live code): draw again.
            if attempt == 7:
                raise
    if not poll_state_written:
        pollstate.remember_pending(
            authorization.device_code_hash,
            interval=authorization.interval,
            expires_in=conf.device_code_expires_in(),
            tenant_id=authorization.tenant_id,
        )
    return Started(authorization=authorization, device_code=new.device_code)


def _insert_authorization(
    route: Route, new: NewAuthorization, *, email: str, now: datetime.datetime
) -> DeviceAuthorization:
    """The authorization, and its event: written together in one transaction, or, when
    events are batched (``ONBOARDING_EVENT_BATCH_SECONDS``), by the batcher: then the
    request makes one INSERT and one commit (asynchronous unless
    ``DEVICE_CODE_ASYNC_COMMIT=False``: the device asks again for a code that is lost)."""
    # Asynchronous only when the INSERT's transaction is its own (or this one's, with its
    # event): a caller's transaction would become asynchronous as a whole.
    durable = not conf.device_code_async_commit() or transaction.get_connection().in_atomic_block
    together = transaction.atomic() if conf.event_batch_seconds() <= 0 else nullcontext()
    device = new.device
    with together:
        authorization = DeviceAuthorization(
            device_code_hash=hash_secret(new.device_code),
            user_code=_new_user_code(),
            tenant=route.tenant,
            route=route,
            email=email,
            structure_tag=new.structure_tag,
            device_hostname=device.hostname,
            device_serial=device.serial,
            device_model=device.model,
            device_os_version=device.os_version,
            client_address=ratelimit.normalize_address(new.client_address),
            interval=conf.device_code_interval(),
            created_at=now,
            expires_at=now + datetime.timedelta(seconds=conf.device_code_expires_in()),
        )
        # The request's one write: a prepared INSERT (the ORM's create() built the same
        # statement anew every time, for more CPU than the rest of the request).
        prepared.insert(authorization, durable=durable)
        events.EventRecorder(
            EventAction.AUTHORIZE, client_address=new.client_address, authorization=authorization
        ).success(route=route)
    return authorization


# --- 2. Sign-in ---------------------------------------------------------------------


@dataclass(frozen=True)
class SignInOutcome:
    """What the callback page shows: ``result`` is one of the ``SIGN_IN_*`` constants."""

    result: str
    authorization: DeviceAuthorization | None = None
    email: str = ""


SIGN_IN_OK = "ok"
SIGN_IN_INVALID = "invalid"  # unknown, replayed or malformed state
SIGN_IN_EXPIRED = "expired"
SIGN_IN_CANCELLED = "cancelled"
SIGN_IN_NOT_REGISTERED = "not_registered"
SIGN_IN_NO_EMAIL = "no_email"
SIGN_IN_FAILED = "failed"  # denied for a reason the user cannot fix here
SIGN_IN_RETRY = "retry"  # the IdP could not be reached; the device is still waiting


def _deny(
    authorization: DeviceAuthorization,
    recorder: events.EventRecorder,
    *,
    reason: str,
    detail: str = "",
    email: str | None = None,
    from_states: tuple[str, ...] = (State.PENDING,),
) -> None:
    """Deny ``authorization`` for ``reason`` and record it through ``recorder`` (bound to it)."""
    _decided(authorization)  # first: see onboarding.pollstate
    DeviceAuthorization.objects.filter(pk=authorization.pk, state__in=from_states).update(
        state=State.DENIED,
        failure_reason=reason,
        decided_at=timezone.now(),
        oidc_state_hash=None,
        oidc_nonce="",
        oidc_code_verifier="",
    )
    recorder.failure(reason, detail=detail, email=email)


def _refused(
    authorization: DeviceAuthorization,
    recorder: events.EventRecorder,
    result: str,
    reason: str,
    *,
    detail: str = "",
    email: str = "",
) -> SignInOutcome:
    """Deny the device for ``reason``; the callback page shows ``result``."""
    _deny(authorization, recorder, reason=reason, detail=detail, email=email or None)
    return SignInOutcome(result, authorization, email)


def _retry(
    authorization: DeviceAuthorization, recorder: events.EventRecorder, *, detail: str
) -> SignInOutcome:
    """The IdP, not the user, failed: record it and leave the device waiting."""
    recorder.failure(events.REASON_IDP_UNAVAILABLE, detail=detail)
    return SignInOutcome(SIGN_IN_RETRY, authorization)


def _idp_failed(
    authorization: DeviceAuthorization,
    recorder: events.EventRecorder,
    exc: oidc.OIDCError,
    *,
    reason: str = events.REASON_IDP_ERROR,
) -> SignInOutcome:
    """An OIDC step failed: a transient failure leaves the device waiting, others deny it."""
    detail = f"{exc.code}: {exc.message}"
    if exc.code in oidc.TRANSIENT_ERRORS:
        return _retry(authorization, recorder, detail=detail)
    return _refused(authorization, recorder, SIGN_IN_FAILED, reason, detail=detail)


def sign_in_reject(
    authorization: DeviceAuthorization, *, client_address: str | None = None
) -> None:
    """The user said the device is not theirs (RFC 8628 section 5.4): deny it."""
    recorder = events.EventRecorder(
        EventAction.SIGN_IN, client_address=client_address, authorization=authorization
    )
    _deny(authorization, recorder, reason=events.REASON_DEVICE_REJECTED)


def sign_in_begin(authorization: DeviceAuthorization, *, client_address: str | None = None) -> str:
    """Bind a fresh OIDC state to ``authorization`` and return the IdP URL to go to.

    The route is resolved again (it may have been disabled since the device asked), and
    the state, nonce and PKCE verifier are stored with the IdP they are meant for; a
    later begin replaces them, so only the newest sign-in of an authorization counts.
    """
    recorder = events.EventRecorder(
        EventAction.SIGN_IN, client_address=client_address, authorization=authorization
    )
    lookup = route_lookup(authorization.email)
    route = lookup.route
    if route is None or route.tenant_id != authorization.tenant_id:
        reason = lookup.reason or events.REASON_OTHER_TENANT
        _deny(authorization, recorder, reason=reason)
        raise SignInUnavailable(reason, denied=True)
    idp = route.identity_provider
    try:
        request = oidc.authorization_request(
            oidc.provider_config(idp),
            redirect_uri=conf.redirect_uri(),
            login_hint=authorization.email,
        )
    except oidc.OIDCError as exc:
        recorder.failure(events.REASON_IDP_UNAVAILABLE, detail=exc.message, route=route)
        raise SignInUnavailable(events.REASON_IDP_UNAVAILABLE, denied=False) from None
    now = timezone.now()
    bound = DeviceAuthorization.objects.filter(
        pk=authorization.pk, state=State.PENDING, expires_at__gt=now
    ).update(
        oidc_state_hash=hash_secret(request.state),
        oidc_nonce=request.nonce,
        oidc_code_verifier=request.code_verifier,
        oidc_identity_provider=idp,
        oidc_started_at=now,
    )
    if not bound:
        raise SignInUnavailable(events.REASON_EXPIRED, denied=False)
    return request.url


def sign_in_complete(
    *,
    state: object,
    code: object,
    error: object,
    iss: object = None,
    client_address: str | None = None,
) -> SignInOutcome:
    """Handle ``/oidc/callback/``: check the state, redeem, validate, route again.

    The state is claimed (cleared) by a conditional UPDATE before anything else, so a
    replayed callback — even one racing the first on another process — finds nothing.
    The response is then bound to the IdP the state was issued for: its ``iss``
    (RFC 9207) must name that IdP, and the code and PKCE verifier go to that IdP's token
    endpoint only, whatever the route says now.
    """
    claimed = _claim_state(state, client_address)
    if isinstance(claimed, SignInOutcome):
        return claimed
    authorization = claimed
    recorder = events.EventRecorder(
        EventAction.SIGN_IN, client_address=client_address, authorization=authorization
    )
    now = timezone.now()
    # Each check records and answers what went wrong, or passes (None).
    refused = (
        _too_late(authorization, recorder, now)
        or _response_issuer_problem(authorization, recorder, iss)
        or _idp_answered_error(authorization, recorder, error)
    )
    if refused is not None:
        return refused
    authenticated = _authenticate(authorization, recorder, code)
    if isinstance(authenticated, SignInOutcome):
        return authenticated
    return _approve(authorization, recorder, email=authenticated, now=now)


def _claim_state(state: object, client_address: str | None) -> DeviceAuthorization | SignInOutcome:
    """The authorization ``state`` was issued for, its state now claimed by this process.

    Anything else (no usable state, an unknown one, one already claimed) is recorded
    and answered ``SIGN_IN_INVALID``.
    """
    recorder = events.EventRecorder(EventAction.SIGN_IN, client_address=client_address)
    if not isinstance(state, str) or not state or len(state) > 512:
        recorder.failure(
            events.REASON_STATE_UNKNOWN, detail="The callback has no usable state parameter."
        )
        return SignInOutcome(SIGN_IN_INVALID)
    authorization = authorization_for_state(state)
    claimed = 0
    if authorization is not None:
        claimed = DeviceAuthorization.objects.filter(
            pk=authorization.pk,
            oidc_state_hash=authorization.oidc_state_hash,
            state=State.PENDING,
        ).update(oidc_state_hash=None, oidc_nonce="", oidc_code_verifier="")
    if authorization is None or not claimed:
        recorder.failure(
            events.REASON_STATE_UNKNOWN,
            detail="The sign-in response is unknown or was already used.",
            tenant=authorization.tenant if authorization else None,
        )
        return SignInOutcome(SIGN_IN_INVALID, authorization)
    return authorization


def _too_late(
    authorization: DeviceAuthorization, recorder: events.EventRecorder, now: datetime.datetime
) -> SignInOutcome | None:
    """``SIGN_IN_EXPIRED`` when the code expired or the sign-in took too long, else None."""
    started = authorization.oidc_started_at
    if authorization.is_expired(now) or (
        started is not None and (now - started).total_seconds() > conf.sign_in_timeout()
    ):
        recorder.failure(events.REASON_EXPIRED)
        return SignInOutcome(SIGN_IN_EXPIRED, authorization)
    return None


def _response_issuer_problem(
    authorization: DeviceAuthorization, recorder: events.EventRecorder, iss: object
) -> SignInOutcome | None:
    """The outcome when the response's ``iss`` does not fit the state's IdP, else None."""
    idp = authorization.oidc_identity_provider
    if idp is None:
        return None  # refused by _authenticate: no IdP to redeem at
    try:
        oidc.check_response_issuer(oidc.provider_config(idp), iss)
    except oidc.OIDCError as exc:
        return _idp_failed(authorization, recorder, exc)
    return None


def _idp_answered_error(
    authorization: DeviceAuthorization, recorder: events.EventRecorder, error: object
) -> SignInOutcome | None:
    """The outcome when the IdP sent ``error`` instead of a code, else None."""
    if not error:
        return None
    error_code = str(error)[:64]
    if error_code == "access_denied":
        return _refused(authorization, recorder, SIGN_IN_CANCELLED, events.REASON_SIGN_IN_CANCELLED)
    detail = f"The identity provider answered {error_code}."
    if error_code in TRANSIENT_IDP_ERRORS:
        return _retry(authorization, recorder, detail=detail)
    return _refused(authorization, recorder, SIGN_IN_FAILED, events.REASON_IDP_ERROR, detail=detail)


def _authenticate(
    authorization: DeviceAuthorization, recorder: events.EventRecorder, code: object
) -> str | SignInOutcome:
    """The e-mail the state's IdP vouches for once ``code`` is redeemed, or the outcome."""
    idp = authorization.oidc_identity_provider
    if not isinstance(code, str) or not code or len(code) > 4096 or idp is None:
        reason = events.REASON_NO_IDP if idp is None else events.REASON_IDP_ERROR
        return _refused(
            authorization,
            recorder,
            SIGN_IN_FAILED,
            reason,
            detail="The callback carries no authorization code.",
        )
    try:
        authentication = oidc.complete_authentication(
            oidc.provider_config(idp),
            code=code,
            code_verifier=authorization.oidc_code_verifier,
            redirect_uri=conf.redirect_uri(),
            nonce=authorization.oidc_nonce,
        )
    except oidc.OIDCError as exc:
        if exc.code in (oidc.NO_EMAIL, oidc.INVALID_EMAIL):
            return _refused(
                authorization,
                recorder,
                SIGN_IN_NO_EMAIL,
                events.REASON_NO_EMAIL,
                detail=exc.message,
            )
        return _idp_failed(authorization, recorder, exc, reason=events.REASON_INVALID_ID_TOKEN)
    return authentication.email


def _approve(
    authorization: DeviceAuthorization,
    recorder: events.EventRecorder,
    *,
    email: str,
    now: datetime.datetime,
) -> SignInOutcome:
    """Route the signed-in address again; approve the device if it is this onboarding's route."""
    lookup = route_lookup(email)
    route = lookup.route
    problem = _route_problem(
        lookup,
        tenant_id=authorization.tenant_id,
        identity_provider_id=authorization.oidc_identity_provider_id,
    )
    if problem or route is None:
        # Said the same way to the user whatever the cause: another company's address
        # (tenant A's e-mail signed in at tenant B's IdP) must not be confirmed as such.
        return _refused(
            authorization,
            recorder,
            SIGN_IN_NOT_REGISTERED,
            _sign_in_reason(lookup, problem),
            detail=lookup.reason,
            email=email,
        )
    _decided(authorization)  # first: see onboarding.pollstate
    approved = DeviceAuthorization.objects.filter(
        pk=authorization.pk, state=State.PENDING, expires_at__gt=now
    ).update(
        state=State.APPROVED,
        authenticated_email=email,
        route=route,
        decided_at=now,
    )
    if not approved:
        return SignInOutcome(SIGN_IN_EXPIRED, authorization, email)
    recorder.success(email=email, route=route)
    return SignInOutcome(SIGN_IN_OK, authorization, email)


# --- 3. Poll ------------------------------------------------------------------------


def _slower(interval: int) -> int:
    """The interval after a ``slow_down``: +5 s (RFC 8628 section 3.5), within a cap."""
    return max(interval, min(interval + conf.slow_down_step(), conf.max_interval()))


@dataclass(frozen=True)
class PollOutcome:
    """Either ``error`` (an RFC 8628 code) or ``answer`` (the success body)."""

    error: str = ""
    answer: dict[str, Any] | None = None
    #: With ``slow_down``: the code's interval from now on.
    interval: int = 0
    #: The client address is over its rate limit: the code was not polled.
    over_limit: ratelimit.Verdict | None = None


def device_token_poll(
    *, device_code: str, client_address: str | None = None, address_limit: str = ""
) -> PollOutcome:
    """One poll of the token endpoint (RFC 8628 section 3.4/3.5).

    A pending code is answered from the shared cache alone (``onboarding.pollstate``):
    no SQL for the hottest request of the service. Everything else reads the database.
    ``address_limit``: the rate limit of the client's address, counted in the same round
    trip; over it, ``over_limit`` says so and nothing else happens.
    """
    counting = (address_limit, ratelimit.address_key(client_address)) if address_limit else None
    quick = pollstate.check(hash_secret(device_code), counting=counting)
    if quick.limit is not None and not quick.limit.allowed:
        return PollOutcome(over_limit=quick.limit)
    if quick.state in (pollstate.PENDING, pollstate.SLOW_DOWN):
        requestlog.annotate(tenant=quick.tenant_id)
    if quick.state == pollstate.PENDING:
        return PollOutcome(AUTHORIZATION_PENDING)
    if quick.state == pollstate.SLOW_DOWN:
        return PollOutcome(SLOW_DOWN, interval=quick.interval)
    return _poll_from_database(device_code, client_address, paced=quick.state == pollstate.RECHECK)


def _poll_from_database(
    device_code: str, client_address: str | None, *, paced: bool = False
) -> PollOutcome:
    """The row decides. ``paced``: the shared cache already paced this poll (a re-check of
    a cached "pending"), so a still-pending row is only read, never written."""
    authorization = authorization_for_device_code(device_code)
    if authorization is None:
        events.EventRecorder(EventAction.TOKEN, client_address=client_address).failure(
            events.REASON_UNKNOWN_DEVICE_CODE
        )
        return PollOutcome(INVALID_GRANT)
    requestlog.annotate(tenant=authorization.tenant_id)
    now = timezone.now()
    refusal = _refusal(authorization, now)
    if refusal is not None:
        return _poll_refused(authorization, client_address, *refusal)
    if paced:
        if authorization.state == State.PENDING:
            pollstate.confirm_pending(authorization.device_code_hash)
            return PollOutcome(AUTHORIZATION_PENDING)
        return _deliver(authorization, client_address, now)
    too_fast = _pace(authorization, now)
    if too_fast is not None:
        return too_fast
    # Keyed on this device code, after the interval check: polls of other codes (an
    # attacker's, started with the same e-mail) never spend this device's budget.
    ratelimit.enforce("token_device_code", str(authorization.pk))
    if authorization.state == State.PENDING:
        # Never over a "decided" mark written meanwhile (a compare-and-set).
        pollstate.remember_pending(
            authorization.device_code_hash,
            interval=authorization.interval,
            expires_in=(authorization.expires_at - now).total_seconds(),
            tenant_id=authorization.tenant_id,
            polled=True,
        )
        return PollOutcome(AUTHORIZATION_PENDING)
    return _deliver(authorization, client_address, now)


def _refusal(authorization: DeviceAuthorization, now: datetime.datetime) -> tuple[str, str] | None:
    """(error, event reason) when the code can no longer be answered, else None."""
    if authorization.state == State.CONSUMED:
        return EXPIRED_TOKEN, events.REASON_ALREADY_USED
    if authorization.is_expired(now):
        return EXPIRED_TOKEN, events.REASON_EXPIRED
    if authorization.state == State.DENIED:
        return ACCESS_DENIED, authorization.failure_reason or events.REASON_DENIED
    return None


def _poll_refused(
    authorization: DeviceAuthorization, client_address: str | None, error: str, reason: str
) -> PollOutcome:
    events.EventRecorder(
        EventAction.TOKEN, client_address=client_address, authorization=authorization
    ).failure(reason, email=authorization.authenticated_email or authorization.email)
    return PollOutcome(error)


def _pace(authorization: DeviceAuthorization, now: datetime.datetime) -> PollOutcome | None:
    """``slow_down`` when this poll came too soon, else None; either way the poll is noted.

    The conditional UPDATE on the last poll time makes two concurrent polls of one code
    see each other (the loser is told to slow down).
    """
    previous = authorization.last_polled_at
    too_fast = (
        previous is not None
        and (now - previous).total_seconds() < authorization.interval - conf.poll_slack()
    )
    won = DeviceAuthorization.objects.filter(pk=authorization.pk, last_polled_at=previous).update(
        last_polled_at=now,
        interval=_slower(authorization.interval) if too_fast else authorization.interval,
    )
    if not won:
        # Another poll of this code got in between: polling too fast by definition.
        DeviceAuthorization.objects.filter(pk=authorization.pk).update(
            interval=_slower(authorization.interval)
        )
    if too_fast or not won:
        return PollOutcome(SLOW_DOWN, interval=_slower(authorization.interval))
    return None


def _deliver(
    authorization: DeviceAuthorization, client_address: str | None, now: datetime.datetime
) -> PollOutcome:
    """Approved: route the user again, then consume the code; only the UPDATE's winner answers.

    Routing again catches a mapping changed since the sign-in.
    """
    recorder = events.EventRecorder(
        EventAction.TOKEN, client_address=client_address, authorization=authorization
    )
    email = authorization.authenticated_email
    lookup = route_lookup(email)
    route = lookup.route
    # The IdP the user signed in with: _route_problem makes sure it is the route's.
    idp = authorization.oidc_identity_provider
    problem = _route_problem(
        lookup,
        tenant_id=authorization.tenant_id,
        identity_provider_id=authorization.oidc_identity_provider_id,
    )
    if problem or route is None or idp is None:
        _deny(
            authorization,
            recorder,
            reason=events.REASON_ROUTE_UNAVAILABLE,
            email=email,
            from_states=(State.APPROVED,),
        )
        return PollOutcome(ACCESS_DENIED)
    # The answer (and its signature) before the code is consumed: should signing fail,
    # the device may poll again instead of holding a used code and nothing else.
    answer = onboarding_answer(
        route,
        user=email,
        structure_tag=authorization.structure_tag,
        idp_issuer=idp.effective_issuer,
        device=DeviceInfo.of(authorization),
    )
    # Consumed and recorded together: a failure (a lost connection, a killed worker)
    # before the commit leaves the code approved, so the device's next poll gets the route.
    # (No savepoint: a poll is its own transaction, and a savepoint would cost two trips.)
    with transaction.atomic(savepoint=False):
        consumed = DeviceAuthorization.objects.filter(
            pk=authorization.pk, state=State.APPROVED, expires_at__gt=now
        ).update(state=State.CONSUMED, consumed_at=now, route=route)
        if consumed:
            recorder.success(email=email, route=route)
    if not consumed:
        return _poll_refused(
            authorization, client_address, EXPIRED_TOKEN, events.REASON_ALREADY_USED
        )
    return PollOutcome(answer=answer)


def device_authorizations_prune(*, expired_for: datetime.timedelta | None = None) -> int:
    """Delete device authorizations expired longer ago than ``expired_for`` (one day).

    They are of no use after expiry (the events keep the history), and their user
    codes become free again.
    """
    cutoff = timezone.now() - (expired_for or datetime.timedelta(days=1))
    count, _ = DeviceAuthorization.objects.filter(expires_at__lt=cutoff).delete()
    return count
