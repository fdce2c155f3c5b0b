"""Reads of identity providers: which ones an ID token presented to the lookup may come from.

The lookup is a hot path (devices that signed in themselves), so the candidates for an
(issuer, audiences) pair are kept in the shared cache. They hold what validating a
token needs and nothing secret: the client secret is never used to validate a token,
so it is left out and never sits in the cache. Any change to any identity provider
bumps a generation number (after the change commits); entries of an older generation
are read as missing. Both keys are read in one round trip.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction

from identity import oidc
from identity.models import IdentityProvider

GENERATION_KEY = "idp:generation"
#: Candidates are re-read at least this often even without a change (seconds).
CANDIDATES_TTL = 300
#: No token names more candidates than this that we look at.
MAX_CANDIDATES = 20


@dataclass(frozen=True)
class Candidate:
    """An identity provider a token names: enough to validate it, no secret."""

    pk: int
    tenant_id: int
    config: oidc.ProviderConfig


def _key(issuer: str, audiences: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([issuer, sorted(audiences)]).encode()).hexdigest()
    return f"idp:candidates:{digest}"


def token_candidates(issuer: str, audiences: list[str]) -> list[Candidate]:
    """The IdPs registered with ``issuer`` and one of ``audiences`` as client ID (oldest first)."""
    key = _key(issuer, audiences)
    cached = cache.get_many([key, GENERATION_KEY])
    generation = cached.get(GENERATION_KEY, 0)
    entry = cached.get(key)
    if entry is not None and entry[0] == generation:
        return list(entry[1])
    providers = IdentityProvider.objects.filter(client_id__in=audiences).order_by("pk")
    candidates = [
        Candidate(
            pk=idp.pk,
            tenant_id=idp.tenant_id,
            config=dataclasses.replace(oidc.provider_config(idp), client_secret=""),
        )
        for idp in providers[:MAX_CANDIDATES]
        if idp.effective_issuer == issuer
    ]
    cache.set(key, (generation, candidates), timeout=CANDIDATES_TTL)
    return candidates


def providers_changed() -> None:
    """An identity provider was created, changed or deleted: forget every candidate list.

    Called by the services and the admin's delete; runs once the change is committed,
    so no reader can cache the old rows under the new generation.
    """

    def bump() -> None:
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:
            cache.set(GENERATION_KEY, 1, timeout=None)

    transaction.on_commit(bump)
