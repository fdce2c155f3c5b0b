"""An identity provider's (issuer, client ID) is unique across the platform (spec 2.1).

Existing providers get their issuer resolved as validation would; if two already share
a pair, the migration stops and names them, since only a person can tell which one is
the company's own app registration.
"""

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import migrations, models


def issuer_key(issuer):
    # A frozen copy of identity.models.issuer_key as of this migration.
    parts = urlsplit(issuer.strip())
    host = (parts.hostname or "").lower()
    default = 443 if parts.scheme.lower() == "https" else 80
    port = parts.port if parts.port not in (None, default) else None
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))[:255]


def _effective_issuer(idp):
    if idp.kind == "entra":
        return f"{settings.ENTRA_AUTHORITY_URL.rstrip('/')}/{idp.entra_tenant_id}/v2.0"
    if idp.kind == "okta":
        base = settings.OKTA_BASE_URL_TEMPLATE.format(domain=idp.okta_domain).rstrip("/")
        return f"{base}/oauth2/{idp.okta_auth_server}" if idp.okta_auth_server else base
    if idp.kind == "ping" and idp.ping_environment_id:
        return f"{settings.PING_BASE_URL.rstrip('/')}/{idp.ping_environment_id}/as"
    return idp.issuer


def resolve_issuers(apps, schema_editor):
    IdentityProvider = apps.get_model("identity", "IdentityProvider")
    seen = {}
    for idp in IdentityProvider.objects.select_related("tenant").order_by("pk"):
        idp.resolved_issuer = issuer_key(_effective_issuer(idp))
        key = (idp.client_id, idp.resolved_issuer)
        if key in seen:
            other = seen[key]
            raise RuntimeError(
                f"Identity providers '{other.name}' ({other.tenant.slug}) and '{idp.name}' "
                f"({idp.tenant.slug}) share the issuer {key[1]} and client ID {key[0]}. An app "
                "registration belongs to one company account: remove or change one, then migrate again."
            )
        seen[key] = idp
        idp.save(update_fields=["resolved_issuer"])


class Migration(migrations.Migration):
    dependencies = [("identity", "0004_ping_environment_id")]

    operations = [
        migrations.AddField(
            model_name="identityprovider",
            name="resolved_issuer",
            field=models.CharField(blank=True, editable=False, max_length=255, null=True),
        ),
        migrations.RunPython(resolve_issuers, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="identityprovider",
            constraint=models.UniqueConstraint(
                models.F("client_id"),
                models.F("resolved_issuer"),
                name="idp_unique_issuer_client_id",
                violation_error_message=(
                    "An identity provider with this issuer and client ID is already registered. An app "
                    "registration belongs to one company account: register a separate app for this one."
                ),
            ),
        ),
    ]
