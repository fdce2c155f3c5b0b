from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from onboarding.assertion import AssertionInvalid, assertion_verify


class Command(BaseCommand):
    help = (
        "Verify an onboarding assertion (the token endpoint's access_token) against this "
        "service's published keys and print its claims as JSON, or why it is not valid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "token", help="The assertion (a JWT); '-' reads it from standard input."
        )
        parser.add_argument(
            "--audience",
            metavar="HOST",
            help="Also require this UMS hostname as the audience (exact, case-sensitive).",
        )

    def handle(self, *args: Any, token: str, audience: str | None, **options: Any) -> None:
        if token == "-":  # noqa: S105 (standard input, not a password)
            token = sys.stdin.read()
        try:
            claims = assertion_verify(token.strip(), audience=audience)
        except AssertionInvalid as exc:
            raise CommandError(f"The assertion is not valid: {exc}") from None
        self.stdout.write(json.dumps(claims, indent=2, sort_keys=True))
