"""System checks: a resolver setting that cannot be used is reported at start-up."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from domains import conf
from domains.dnsquery import NameserverSettingError, parse_nameserver


@register()
def nameserver_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for entry in conf.nameservers():
        try:
            parse_nameserver(entry)
        except NameserverSettingError as exc:
            errors.append(
                Error(
                    f"DOMAIN_VERIFICATION_NAMESERVERS: {exc}",
                    hint="Give resolvers as address[:port], IPv6 as [address]:port.",
                    id="domains.E001",
                )
            )
    return errors
