"""The admin's "Test discovery": fetch discovery and JWKS now and say what was found or failed."""

from __future__ import annotations

from dataclasses import dataclass, field

from identity.oidc.config import ProviderConfig
from identity.oidc.discovery import ProviderMetadata, provider_metadata
from identity.oidc.errors import OIDCError
from identity.oidc.jwks import fetch_jwks, key_fits, remember_keys


@dataclass
class ProbeReport:
    ok: bool
    found: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def probe(config: ProviderConfig) -> ProbeReport:
    """Fetch discovery and JWKS now (bypassing the cache) and say what was found or failed.

    For the admin's "Test discovery" action; a successful probe also warms the cache.
    """
    report = ProbeReport(ok=False)
    try:
        metadata = provider_metadata(config, refresh=True)
    except OIDCError as exc:
        report.problems.append(exc.message)
        return report
    _report_metadata(report, config, metadata)
    try:
        keys = fetch_jwks(metadata.jwks_uri)
    except OIDCError as exc:
        report.problems.append(exc.message)
        return report
    usable = [k for k in keys if any(key_fits(k, alg) for alg in metadata.signing_algorithms)]
    kids = ", ".join(str(k.get("kid", "(no kid)")) for k in usable)
    report.found.append(
        f"JWKS: {len(keys)} key(s), {len(usable)} usable for signatures ({kids or 'none'})."
    )
    if not usable:
        report.problems.append("The JWKS has no signing key for the advertised algorithms.")
    else:
        remember_keys(config, metadata.jwks_uri, keys)
    report.ok = not report.problems
    return report


def _report_metadata(
    report: ProbeReport, config: ProviderConfig, metadata: ProviderMetadata
) -> None:
    """The endpoints found, and what the client needs but the IdP does not advertise."""
    source = "discovery" if config.uses_discovery else "the explicit endpoints"
    report.found.append(f"Issuer {metadata.issuer} ({source}).")
    report.found.append(f"Authorization endpoint: {metadata.authorization_endpoint}")
    report.found.append(f"Token endpoint: {metadata.token_endpoint}")
    report.found.append(f"UserInfo endpoint: {metadata.userinfo_endpoint or '(none)'}")
    report.found.append(f"JWKS URI: {metadata.jwks_uri}")
    if not metadata.signing_algorithms:
        advertised = metadata.raw.get("id_token_signing_alg_values_supported")
        report.problems.append(
            f"No usable ID-token signing algorithm is advertised ({advertised!r})."
        )
    else:
        report.found.append(f"Signing algorithms: {', '.join(sorted(metadata.signing_algorithms))}")
    methods = metadata.token_auth_methods
    if "client_secret_basic" not in methods and "client_secret_post" not in methods:
        report.problems.append(
            f"The token endpoint offers neither client_secret_basic nor client_secret_post ({', '.join(methods)})."
        )
    if (
        metadata.code_challenge_methods is not None
        and "S256" not in metadata.code_challenge_methods
    ):
        report.problems.append("PKCE S256 is not advertised (code_challenge_methods_supported).")
