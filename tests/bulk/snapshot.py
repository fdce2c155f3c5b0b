"""The observable state of a company's routes, to compare before and after a round trip."""

from __future__ import annotations

from onboarding.models import MappedDomain, MappedUser, Route


def routes_state(tenant) -> list[tuple]:
    state = []
    for route in Route.objects.filter(tenant=tenant).select_related(
        "identity_provider", "certificate_chain"
    ):
        state.append(
            (
                route.display_name,
                route.ums_hostname,
                route.ums_port,
                route.target,
                route.identity_provider.name,
                route.enabled,
                route.certificate_chain.pem,
                sorted(MappedUser.objects.filter(route=route).values_list("email", flat=True)),
                sorted(MappedDomain.objects.filter(route=route).values_list("domain", flat=True)),
            )
        )
    return sorted(state)


def shared_chains(tenant) -> set[frozenset[str]]:
    """Which routes share a chain, by display name."""
    groups: dict[int, set[str]] = {}
    for name, chain_id in Route.objects.filter(tenant=tenant).values_list(
        "display_name", "certificate_chain_id"
    ):
        groups.setdefault(chain_id, set()).add(name)
    return {frozenset(g) for g in groups.values()}
