"""The admin's "Test discovery": fetch discovery and JWKS now and say what was found or failed."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_noop

from common.i18n import Phrase
from identity.oidc.config import ProviderConfig
from identity.oidc.discovery import ProviderMetadata, provider_metadata
from identity.oidc.errors import OIDCError
from identity.oidc.jwks import fetch_jwks, key_fits, remember_keys

# What the probe found, as Phrases (common.i18n): the admin shows them in its reader's
# language, ``label: value`` lines as a table.
JWKS_FOUND = gettext_noop("JWKS: {count} key(s), {usable} usable for signatures ({kids}).")
NO_SIGNING_KEY = gettext_noop("The JWKS has no signing key for the advertised algorithms.")
ISSUER_FOUND = gettext_noop("Issuer {issuer} ({source}).")
FROM_DISCOVERY = gettext_noop("discovery")
FROM_EXPLICIT = gettext_noop("the explicit endpoints")
AUTHORIZATION_FOUND = gettext_noop("Authorization endpoint: {url}")
TOKEN_FOUND = gettext_noop("Token endpoint: {url}")
USERINFO_FOUND = gettext_noop("UserInfo endpoint: {url}")
JWKS_URI_FOUND = gettext_noop("JWKS URI: {url}")
ALGORITHMS_FOUND = gettext_noop("Signing algorithms: {algorithms}")
NO_ALGORITHM = gettext_noop("No usable ID-token signing algorithm is advertised ({advertised}).")
NO_CLIENT_SECRET_METHOD = gettext_noop(
    "The token endpoint offers neither client_secret_basic nor client_secret_post ({methods})."
)
NO_PKCE = gettext_noop("PKCE S256 is not advertised (code_challenge_methods_supported).")
NONE = gettext_noop("none")


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
        Phrase(JWKS_FOUND, count=len(keys), usable=len(usable), kids=kids or Phrase(NONE))
    )
    if not usable:
        report.problems.append(Phrase(NO_SIGNING_KEY))
    else:
        remember_keys(config, metadata.jwks_uri, keys)
    report.ok = not report.problems
    return report


def _report_metadata(
    report: ProbeReport, config: ProviderConfig, metadata: ProviderMetadata
) -> None:
    """The endpoints found, and what the client needs but the IdP does not advertise."""
    source = Phrase(FROM_DISCOVERY if config.uses_discovery else FROM_EXPLICIT)
    report.found += [
        Phrase(ISSUER_FOUND, issuer=metadata.issuer, source=source),
        Phrase(AUTHORIZATION_FOUND, url=metadata.authorization_endpoint),
        Phrase(TOKEN_FOUND, url=metadata.token_endpoint),
        Phrase(USERINFO_FOUND, url=metadata.userinfo_endpoint or "(none)"),
        Phrase(JWKS_URI_FOUND, url=metadata.jwks_uri),
    ]
    if not metadata.signing_algorithms:
        advertised = metadata.raw.get("id_token_signing_alg_values_supported")
        report.problems.append(Phrase(NO_ALGORITHM, advertised=repr(advertised)))
    else:
        algorithms = ", ".join(sorted(metadata.signing_algorithms))
        report.found.append(Phrase(ALGORITHMS_FOUND, algorithms=algorithms))
    methods = metadata.token_auth_methods
    if "client_secret_basic" not in methods and "client_secret_post" not in methods:
        report.problems.append(Phrase(NO_CLIENT_SECRET_METHOD, methods=", ".join(methods)))
    if (
        metadata.code_challenge_methods is not None
        and "S256" not in metadata.code_challenge_methods
    ):
        report.problems.append(Phrase(NO_PKCE))
