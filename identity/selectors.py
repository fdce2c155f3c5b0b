"""Reads of identity providers: which ones an ID token presented to the lookup may come from.

The lookup is a hot path (devices that signed in themselves), so the candidates for an
(issuer, audiences) pair are kept in the shared cache. They hold what validating a
token needs and nothing secret: the client secret is never used to validate a token,
so it is left out and never sits in the cache. Any saved or deleted identity provider
(also when its company is deleted) replaces a generation token with a new random one,
after the change commits; entries made under another token are read as missing, and
while no token exists (evicted, flushed) the cache is neither read nor written. Both
keys are read in one round trip, and a process keeps what it read for a few seconds
(``identity.oidc.cache.LOCAL_SECONDS``): a change made in another process is seen
within that.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction

from identity import oidc
from identity.models import IdentityProvider, issuer_key
from identity.oidc.cache import forget_local, shared_entries

GENERATION_KEY = "idp:generation"
#: Candidates are re-read at least this often even without a change (seconds).
CANDIDATES_TTL = 300
#: No token names more candidates than this that we look at.
MAX_CANDIDATES = 20
#: A token naming more audiences than this is not one of ours to look at.
MAX_AUDIENCES = 10


@dataclass(frozen=True)
class Candidate:
    """An identity provider a token names: enough to validate it, no secret."""

    pk: int
    tenant_id: int
    config: oidc.ProviderConfig


def _key(issuer: str, audiences: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([issuer, sorted(audiences)]).encode()).hexdigest()
    return f"idp:candidates:{digest}"


def _audiences(aud: object) -> list[str]:
    """The token's ``aud`` as a list: one string or a list of them, at most MAX_AUDIENCES."""
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return [a for a in audiences[:MAX_AUDIENCES] if isinstance(a, str) and len(a) <= 255]


def token_candidates(token: object) -> list[Candidate]:
    """The IdPs whose issuer and client ID the token names, to validate it against.

    This reads the unverified claims only to choose candidates (its ``aud`` parsed here,
    once); the token is validated by ``identity.oidc.validate_id_token`` against each
    candidate's own configuration. (issuer, client ID) is unique across the platform, so
    there is one candidate per audience at most, oldest first.
    """
    claims = oidc.unverified_claims(token)
    if claims is None:
        return []
    issuer = claims.get("iss")
    audiences = _audiences(claims.get("aud"))
    if not isinstance(issuer, str) or not audiences:
        return []
    return _candidates(issuer, audiences)


def _candidates(issuer: str, audiences: list[str]) -> list[Candidate]:
    """The IdPs registered with ``issuer`` and one of ``audiences`` as client ID.

    ``issuer`` is compared exactly after the index found the spelling-normalised
    candidates.
    """
    key = _key(issuer, audiences)
    cached = shared_entries([key, GENERATION_KEY])
    generation = cached.get(GENERATION_KEY)
    entry = cached.get(key)
    if generation is not None and entry is not None and entry[0] == generation:
        return list(entry[1])
    providers = IdentityProvider.objects.filter(
        client_id__in=audiences, resolved_issuer=issuer_key(issuer)
    ).order_by("pk")
    candidates = [
        Candidate(
            pk=idp.pk,
            tenant_id=idp.tenant_id,
            config=dataclasses.replace(oidc.provider_config(idp), client_secret=""),
        )
        for idp in providers[:MAX_CANDIDATES]
        if idp.effective_issuer == issuer
    ]
    if generation is None:
        _new_generation()
    elif candidates:
        # Only answers worth keeping: the (issuer, audiences) of a token that names no
        # provider are the sender's to choose, and must not fill the shared cache.
        cache.set(key, (generation, candidates), timeout=CANDIDATES_TTL)
        forget_local(key)
    return candidates


def _new_generation() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    forget_local(GENERATION_KEY)


def providers_changed(**_signal: Any) -> None:
    """An identity provider was saved or deleted: forget every candidate list.

    Connected to the model's ``post_save`` / ``post_delete`` (``identity.apps``), so every
    path counts — services, the admin, a company deleted with its providers. It runs once
    the change is committed, so no reader can cache the old rows under the new token.
    """
    transaction.on_commit(_new_generation)
