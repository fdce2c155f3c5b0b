"""What customers type: the hostname, e-mail and domain rules, as tables."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from common import validators as v


@pytest.mark.parametrize(
    "value",
    [
        "UMS01.Example.com",
        "ums.example.com",
        "a.bc",
        "xn--bcher-kva.de",
        "UMS.XN--BCHER-KVA.de",
        "ums-01.corp.example.co.uk",
        "10.0.0.1",
        "192.168.1.20",
        "2001:db8::1",
        "fe80::1",
        "::1",
        "a" * 63 + ".example.com",
    ],
)
def test_it_accepts_and_keeps_hostnames_exactly_as_typed(value):
    assert v.validate_hostname(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", v.HOSTNAME_EMPTY),
        ("https://ums.example.com", v.HOSTNAME_SCHEME),
        ("ums.example.com/path", v.HOSTNAME_PATH),
        ("ums.example.com:8443", v.HOSTNAME_PORT),
        ("10.0.0.1:8443", v.HOSTNAME_PORT),
        ("[2001:db8::1]:8443", v.HOSTNAME_PORT),
        ("[2001:db8::1]", v.HOSTNAME_BRACKETS),
        ("ums example.com", v.HOSTNAME_SPACE),
        (" ums.example.com", v.HOSTNAME_SPACE),
        ("ums..example.com", v.HOSTNAME_EMPTY_LABEL),
        (".example.com", v.HOSTNAME_EMPTY_LABEL),
        ("ums.example.com.", v.HOSTNAME_EMPTY_LABEL),
        ("a" * 64 + ".example.com", v.HOSTNAME_LABEL_TOO_LONG.format(label="a" * 64)),
        (".".join(["a" * 60] * 5), v.HOSTNAME_TOO_LONG),
        ("-ums.example.com", v.HOSTNAME_BAD_LABEL.format(label="-ums")),
        ("ums_01.example.com", v.HOSTNAME_BAD_LABEL.format(label="ums_01")),
        ("ums", v.HOSTNAME_NOT_FQDN.format(value="ums")),
        ("999.1.1.1", v.HOSTNAME_BAD_IPV4.format(value="999.1.1.1")),
        ("1.2.3", v.HOSTNAME_BAD_IPV4.format(value="1.2.3")),
        ("ums.bücher.de", v.HOSTNAME_NON_ASCII),
        ("fe80::1%eth0", v.HOSTNAME_ZONE),
        ("ums.example.c", v.HOSTNAME_SHORT_TLD),
        ("ums.xn--zz.example", v.HOSTNAME_BAD_A_LABEL.format(label="xn--zz")),
    ],
)
def test_it_refuses_hostnames_saying_what_is_wrong(value, message):
    with pytest.raises(ValidationError) as caught:
        v.validate_hostname(value)
    assert caught.value.messages == [message]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice.Smith@Example.COM", "alice.smith@example.com"),
        ("bob+onboarding@sub.example.org", "bob+onboarding@sub.example.org"),
        ("jürgen@bücher.de".replace("jürgen", "juergen"), "juergen@xn--bcher-kva.de"),
    ],
)
def test_it_normalises_e_mail_addresses_to_lowercase_a_labels(value, expected):
    assert v.normalize_email(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("user@", v.EMAIL_NO_DOMAIN),
        ("@example.com", v.EMAIL_NO_LOCAL),
        ("alice example.com", v.EMAIL_SPACE),
        ("alice@example.com ", v.EMAIL_SPACE),
        ("alice", v.EMAIL_NO_AT),
        ("", v.EMAIL_NO_AT),
    ],
)
def test_it_refuses_incomplete_e_mail_addresses(value, message):
    with pytest.raises(ValidationError) as caught:
        v.normalize_email(value)
    assert caught.value.messages == [message]


@pytest.mark.parametrize(
    "value", ["a@b@example.com", "alice@localhost", "alice@-x.com", "al(ice@example.com"]
)
def test_it_refuses_malformed_e_mail_addresses(value):
    with pytest.raises(ValidationError):
        v.normalize_email(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("BÜCHER.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_it_normalises_domains_to_lowercase_a_labels(value, expected):
    assert v.normalize_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("@example.com", v.DOMAIN_AT),
        ("example .com", v.DOMAIN_SPACE),
        ("*.example.com", v.DOMAIN_WILDCARD),
        ("10.0.0.1", v.DOMAIN_IP),
        ("", v.DOMAIN_EMPTY),
    ],
)
def test_it_refuses_domains_saying_what_is_wrong(value, message):
    with pytest.raises(ValidationError) as caught:
        v.normalize_domain(value)
    assert caught.value.messages == [message]


@pytest.mark.parametrize(
    "value", ["example", "example..com", "xn--zz.com", "exa_mple.com", "example.123", "example.c"]
)
def test_it_refuses_invalid_domains(value):
    with pytest.raises(ValidationError) as caught:
        v.normalize_domain(value)
    assert value in caught.value.messages[0]
