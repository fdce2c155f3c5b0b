"""Validation and normalisation of what customers type: UMS hostnames, e-mails, domains.

One place for these rules, used by model ``clean()``, the admin, the API and the import
command, so every entry point accepts and refuses the same values with the same words.
The messages are plain English constants (the tests reuse them), translated where raised.
"""

from __future__ import annotations

import functools
import ipaddress
import re

import idna
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext, gettext_noop

_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_WHITESPACE = re.compile(r"\s")
_ALL_NUMERIC_DOTTED = re.compile(r"^[0-9.]+$")

HOSTNAME_SPACE = gettext_noop("The hostname must not contain spaces.")
HOSTNAME_EMPTY = gettext_noop("Enter the hostname or IP address of the UMS / ICG.")
HOSTNAME_SCHEME = gettext_noop("Enter the hostname without a scheme such as https://.")
HOSTNAME_PATH = gettext_noop("Enter the hostname without a path ('/').")
HOSTNAME_PORT = gettext_noop(
    "Enter the hostname without a port; the port goes in the UMS Port field."
)
HOSTNAME_BRACKETS = gettext_noop("Enter an IPv6 address without square brackets.")
HOSTNAME_EMPTY_LABEL = gettext_noop(
    "The hostname has an empty label (two dots in a row, or a dot at the start or end)."
)
HOSTNAME_LABEL_TOO_LONG = gettext_noop("The hostname label '{label}' is longer than 63 characters.")
HOSTNAME_TOO_LONG = gettext_noop("The hostname is longer than 253 characters.")
HOSTNAME_BAD_LABEL = gettext_noop(
    "The hostname label '{label}' may only contain letters, digits and hyphens, "
    "and must not start or end with a hyphen."
)
HOSTNAME_NOT_FQDN = gettext_noop(
    "Enter a fully qualified domain name (such as ums.example.com) or an IP address; "
    "'{value}' has only one label."
)
HOSTNAME_BAD_IPV4 = gettext_noop("'{value}' is not a valid IPv4 address.")
HOSTNAME_BAD_IPV6 = gettext_noop("'{value}' is not a valid IPv6 address.")
HOSTNAME_NUMERIC_TLD = gettext_noop("The last label of a domain name cannot be all digits.")
HOSTNAME_SHORT_TLD = gettext_noop(
    "The last label of a domain name (its top-level domain) has at least two characters."
)
HOSTNAME_NON_ASCII = gettext_noop(
    "Enter an internationalised hostname in its A-label form (xn--...)."
)
HOSTNAME_ZONE = gettext_noop(
    "Enter the IPv6 address without a zone index ('%...'); devices cannot use it."
)
HOSTNAME_BAD_A_LABEL = gettext_noop(
    "The hostname label '{label}' is not a valid internationalised (xn--) label."
)

EMAIL_SPACE = gettext_noop("An e-mail address must not contain spaces.")
EMAIL_NO_AT = gettext_noop("Enter a complete e-mail address such as user@example.com.")
EMAIL_NO_LOCAL = gettext_noop("The e-mail address has nothing before the '@'.")
EMAIL_NO_DOMAIN = gettext_noop("The e-mail address has no domain after the '@'.")
EMAIL_INVALID = gettext_noop("'{value}' is not a valid e-mail address.")

DOMAIN_SPACE = gettext_noop("A domain must not contain spaces.")
DOMAIN_EMPTY = gettext_noop("Enter a domain such as example.com.")
DOMAIN_AT = gettext_noop("Enter the domain without '@' (example.com, not @example.com).")
DOMAIN_WILDCARD = gettext_noop(
    "Enter the domain without wildcards; a domain covers all its addresses."
)
DOMAIN_IP = gettext_noop("Enter a domain name, not an IP address.")
DOMAIN_ONE_LABEL = gettext_noop("a domain needs at least two labels, such as example.com.")
DOMAIN_INVALID = gettext_noop("'{value}' is not a valid domain: {reason}")
DOMAIN_BAD_A_LABEL = gettext_noop("'{label}' is not a valid A-label.")


def validate_hostname(value: str) -> str:
    """Check a UMS/ICG hostname and return it unchanged (case is significant to the UMS)."""
    if value is None or value == "":
        raise ValidationError(gettext(HOSTNAME_EMPTY), code="empty")
    _refuse_url_parts(value)
    if ":" in value:
        _check_ipv6(value)
        return value
    if not value.isascii():
        raise ValidationError(gettext(HOSTNAME_NON_ASCII), code="non_ascii")
    if _ALL_NUMERIC_DOTTED.match(value):
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise ValidationError(
                gettext(HOSTNAME_BAD_IPV4).format(value=value), code="ipv4"
            ) from None
        return value
    _check_dns_name(value, hostname=True)
    bad = _undecodable_a_label(value)
    if bad is not None:
        raise ValidationError(gettext(HOSTNAME_BAD_A_LABEL).format(label=bad), code="bad_a_label")
    return value


def _refuse_url_parts(value: str) -> None:
    """Refuse what people paste along with a hostname: spaces, a scheme, a path, brackets."""
    if _WHITESPACE.search(value):
        raise ValidationError(gettext(HOSTNAME_SPACE), code="space")
    if "://" in value or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/", value):
        raise ValidationError(gettext(HOSTNAME_SCHEME), code="scheme")
    if "/" in value or "?" in value or "#" in value:
        raise ValidationError(gettext(HOSTNAME_PATH), code="path")
    if value.startswith("["):
        _inner, _, rest = value[1:].partition("]")
        if rest.startswith(":"):
            raise ValidationError(gettext(HOSTNAME_PORT), code="port")
        raise ValidationError(gettext(HOSTNAME_BRACKETS), code="brackets")


def _check_ipv6(value: str) -> None:
    """A value with a colon: an IPv6 address, else most likely a hostname with a port."""
    if "%" in value:
        raise ValidationError(gettext(HOSTNAME_ZONE), code="zone")
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        host, _, port = value.rpartition(":")
        if port.isdigit() and host and ":" not in host:
            raise ValidationError(gettext(HOSTNAME_PORT), code="port") from None
        raise ValidationError(gettext(HOSTNAME_BAD_IPV6).format(value=value), code="ipv6") from None


def _undecodable_a_label(name: str) -> str | None:
    """The first label of ``name`` that claims to be an A-label (xn--) but does not
    decode as one: not a real internationalised label."""
    for label in name.split("."):
        if label.lower().startswith("xn--"):
            try:
                idna.decode(label.lower())
            except idna.IDNAError:
                return label
    return None


def _check_dns_name(value: str, *, hostname: bool) -> None:
    labels = value.split(".")
    if any(label == "" for label in labels):
        raise ValidationError(gettext(HOSTNAME_EMPTY_LABEL), code="empty_label")
    for label in labels:
        if len(label) > 63:
            raise ValidationError(
                gettext(HOSTNAME_LABEL_TOO_LONG).format(label=label), code="label_too_long"
            )
    if len(value) > 253:
        raise ValidationError(gettext(HOSTNAME_TOO_LONG), code="too_long")
    for label in labels:
        if not _LABEL.match(label):
            raise ValidationError(gettext(HOSTNAME_BAD_LABEL).format(label=label), code="bad_label")
    if len(labels) < 2:
        message = HOSTNAME_NOT_FQDN if hostname else DOMAIN_ONE_LABEL
        raise ValidationError(gettext(message).format(value=value), code="not_fqdn")
    if labels[-1].isdigit():
        raise ValidationError(gettext(HOSTNAME_NUMERIC_TLD), code="numeric_tld")
    if len(labels[-1]) < 2:
        # No top-level domain has one character; e-mail addresses are held to the same rule.
        raise ValidationError(gettext(HOSTNAME_SHORT_TLD), code="short_tld")


def normalize_domain(value: str) -> str:
    """Return the domain lower-cased and in A-label (punycode) form, or raise."""
    if value is None or value == "":
        raise ValidationError(gettext(DOMAIN_EMPTY), code="empty")
    if _WHITESPACE.search(value):
        raise ValidationError(gettext(DOMAIN_SPACE), code="space")
    if "@" in value:
        raise ValidationError(gettext(DOMAIN_AT), code="at")
    if "*" in value:
        raise ValidationError(gettext(DOMAIN_WILDCARD), code="wildcard")
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValidationError(gettext(DOMAIN_IP), code="ip")
    candidate = value.lower()
    if not candidate.isascii():
        if any(label == "" for label in candidate.split(".")):
            raise ValidationError(gettext(HOSTNAME_EMPTY_LABEL), code="empty_label")
        try:
            candidate = idna.encode(candidate, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValidationError(
                gettext(DOMAIN_INVALID).format(value=value, reason=str(exc)), code="idna"
            ) from None
    else:
        bad = _undecodable_a_label(candidate)
        if bad is not None:
            raise ValidationError(
                gettext(DOMAIN_INVALID).format(
                    value=value, reason=gettext(DOMAIN_BAD_A_LABEL).format(label=bad)
                ),
                code="idna",
            )
    try:
        _check_dns_name(candidate, hostname=False)
    except ValidationError as exc:
        raise ValidationError(
            gettext(DOMAIN_INVALID).format(value=value, reason=exc.messages[0]), code=exc.code
        ) from None
    return candidate


_email_syntax = EmailValidator()


def normalize_email(value: str) -> str:
    """Return the e-mail lower-cased with its domain in A-label form, or raise."""
    if isinstance(value, str) and len(value) <= 320:
        # A device request normalises the same address several times (its rate-limit
        # buckets, routing): each distinct address is worked out once. Errors are not
        # kept (they are said in the language of the moment).
        return _normalized_email(value)
    return _normalize_email(value)


@functools.lru_cache(maxsize=4096)
def _normalized_email(value: str) -> str:
    return _normalize_email(value)


def _normalize_email(value: str) -> str:
    if value is None or value == "":
        raise ValidationError(gettext(EMAIL_NO_AT), code="empty")
    if _WHITESPACE.search(value):
        raise ValidationError(gettext(EMAIL_SPACE), code="space")
    if "@" not in value:
        raise ValidationError(gettext(EMAIL_NO_AT), code="no_at")
    local, _, domain = value.rpartition("@")
    if not local:
        raise ValidationError(gettext(EMAIL_NO_LOCAL), code="no_local")
    if not domain:
        raise ValidationError(gettext(EMAIL_NO_DOMAIN), code="no_domain")
    try:
        domain = normalize_domain(domain)
    except ValidationError as exc:
        raise ValidationError(
            gettext(EMAIL_INVALID).format(value=value) + " " + exc.messages[0], code="domain"
        ) from None
    normalized = f"{local.lower()}@{domain}"
    try:
        _email_syntax(normalized)
    except ValidationError:
        raise ValidationError(gettext(EMAIL_INVALID).format(value=value), code="invalid") from None
    if len(normalized) > 254:
        raise ValidationError(gettext(EMAIL_INVALID).format(value=value), code="too_long")
    return normalized


def email_domain(email: str) -> str:
    """The domain part of an already normalised e-mail address."""
    return email.rpartition("@")[2]
