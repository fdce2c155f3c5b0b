"""``configure_idp SLUG NAME --kind K --client-id ID [--client-secret-env VAR] ...``"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from identity.models import IdPKind
from identity.services import KIND_FIELDS, idp_save
from tenants.management.shared import AuditedCommand, one_line, tenant_or_error

# option dest -> model field; the kind decides which are allowed.
KIND_OPTIONS = {
    "entra_tenant_id": "--entra-tenant-id",
    "okta_domain": "--okta-domain",
    "okta_auth_server": "--okta-auth-server",
    "issuer": "--issuer",
    "ping_environment_id": "--ping-environment-id",
    "authorization_endpoint": "--authorization-endpoint",
    "token_endpoint": "--token-endpoint",
    "jwks_uri": "--jwks-uri",
    "userinfo_endpoint": "--userinfo-endpoint",
}


class Command(AuditedCommand):
    help = (
        "Create or update a company account's identity provider. The client secret is read "
        "from the environment variable named by --client-secret-env, or from standard input; "
        "never from the command line, where other users could see it."
    )
    # Lets tests and scripts pass a stream as standard input through call_command.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The company account's slug.")
        parser.add_argument("name", help="The identity provider's name within the account.")
        parser.add_argument("--kind", required=True, choices=[k.value for k in IdPKind])
        parser.add_argument("--client-id", required=True)
        parser.add_argument(
            "--client-secret-env",
            metavar="VAR",
            help="Environment variable holding the client secret. Without it the secret is read "
            "from standard input; when updating, empty input keeps the stored secret.",
        )
        parser.add_argument(
            "--entra-tenant-id", metavar="GUID", help="entra: the directory (tenant) ID."
        )
        parser.add_argument(
            "--okta-domain", metavar="HOST", help="okta: your Okta domain, e.g. example.okta.com."
        )
        parser.add_argument(
            "--okta-auth-server", metavar="ID", help="okta: a custom authorization server's ID."
        )
        parser.add_argument("--issuer", metavar="URL", help="ping, oidc: the issuer URL.")
        parser.add_argument(
            "--ping-environment-id",
            metavar="GUID",
            help="ping (PingOne), instead of --issuer: the environment ID.",
        )
        parser.add_argument(
            "--authorization-endpoint", metavar="URL", help="oidc without discovery."
        )
        parser.add_argument("--token-endpoint", metavar="URL", help="oidc without discovery.")
        parser.add_argument("--jwks-uri", metavar="URL", help="oidc without discovery.")
        parser.add_argument(
            "--userinfo-endpoint", metavar="URL", help="oidc without discovery (optional)."
        )
        parser.add_argument(
            "--scopes", help="Space-separated scopes (default: openid profile email)."
        )
        parser.add_argument("--email-claim", help="Claim with the e-mail (default: email).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_or_error(options["slug"])
        kind = options["kind"]
        fields: dict[str, Any] = {"kind": kind, "client_id": options["client_id"]}
        for dest, flag in KIND_OPTIONS.items():
            value = options.get(dest)
            if value is None:
                continue
            if dest not in KIND_FIELDS[kind]:
                raise CommandError(f"{flag} does not apply to --kind {kind}.")
            fields[dest] = value
        for dest in ("scopes", "email_claim"):
            if options.get(dest) is not None:
                fields[dest] = options[dest]
        secret = self._secret(options)
        try:
            idp, created = idp_save(
                tenant=tenant, name=options["name"], client_secret=secret, **fields
            )
        except ValidationError as exc:
            raise CommandError(one_line(exc)) from None
        verb = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} identity provider {idp.name!r} ({idp.kind}) of {tenant.slug}; issuer {idp.effective_issuer}."
            )
        )

    def _secret(self, options: dict[str, Any]) -> str | None:
        var = options.get("client_secret_env")
        if var:
            value = os.environ.get(var, "")
            if not value:
                raise CommandError(f"The environment variable {var} is not set or empty.")
            return value.strip()
        stream = options.get("stdin") or sys.stdin
        if stream.isatty():
            return getpass.getpass("Client secret (empty keeps the stored one): ").strip() or None
        # One line: a trailing newline from `echo` or a file is not part of the secret.
        return stream.readline().strip() or None
