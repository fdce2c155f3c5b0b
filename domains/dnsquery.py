"""The only code that asks DNS: TXT look-ups for domain verification (dnspython).

Every outcome is one of a few kinds, each reported distinctly to the admin and the
commands, because what a customer must do differs: NXDOMAIN and "no TXT record" mean
"publish the record", SERVFAIL means "your DNS is broken", a timeout means "we could
not ask" (and says nothing about the domain).

Resolvers come from ``DOMAIN_VERIFICATION_NAMESERVERS`` (``address[:port]``, IPv6 as
``[address]:port``) or the system's. Queries go over UDP; a truncated answer is asked
again over TCP (dnspython does this). CNAMEs are followed only within an answer and
at most a few hops (dnspython refuses longer chains and loops).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from django.utils.translation import gettext, gettext_noop

from domains import conf

FOUND = "found"
NXDOMAIN = "nxdomain"
NO_ANSWER = "no_answer"
SERVFAIL = "servfail"
TIMEOUT = "timeout"
ERROR = "error"

_MESSAGES = {
    NXDOMAIN: gettext_noop("DNS says the name {name} does not exist (NXDOMAIN)."),
    NO_ANSWER: gettext_noop("The name {name} exists but has no TXT record."),
    SERVFAIL: gettext_noop("The DNS server could not answer for {name} (SERVFAIL or refused)."),
    TIMEOUT: gettext_noop("No DNS server answered for {name} in time."),
    ERROR: gettext_noop("The DNS look-up of {name} failed: {error}"),
}

#: At most this many TXT records are kept from one answer (a name may have several).
MAX_RECORDS = 20
#: And at most this many characters of each (a TXT record may be up to 64 KiB).
MAX_RECORD_CHARS = 1024


class NameserverSettingError(ValueError):
    """``DOMAIN_VERIFICATION_NAMESERVERS`` has an entry that is not ``address[:port]``."""


@dataclass(frozen=True)
class TxtAnswer:
    """What DNS said about one name: ``kind`` is one of the constants above."""

    name: str
    kind: str
    #: With FOUND: each TXT record's strings joined, as text.
    records: tuple[str, ...] = field(default=())
    error: str = ""

    @property
    def unreachable(self) -> bool:
        """No resolver could be asked or none answered: the look-up was not made at all."""
        return self.kind in (TIMEOUT, ERROR)

    def describe(self) -> str:
        """In the active language: stored as a claim's detail, shown as it was written."""
        if self.kind == FOUND:
            shown = ", ".join(f'"{r}"' for r in self.records[:5])
            if len(self.records) > 5:
                shown = gettext("{shown} and {count} more").format(
                    shown=shown, count=len(self.records) - 5
                )
            return f"TXT {self.name}: {shown}."
        return gettext(_MESSAGES[self.kind]).format(name=self.name, error=self.error)


def parse_nameserver(entry: str) -> tuple[str, int]:
    """``"192.0.2.53"``, ``"192.0.2.53:5353"``, ``"[2001:db8::53]:53"``, ``"2001:db8::53"``."""
    text = entry.strip()
    port = 53
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise NameserverSettingError(f"'{entry}' is not address[:port].")
            port_text = rest[1:]
        else:
            port_text = ""
    elif text.count(":") == 1:
        address, _, port_text = text.partition(":")
    else:
        address, port_text = text, ""
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise NameserverSettingError(f"'{entry}' has no valid port.")
        port = int(port_text)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise NameserverSettingError(
            f"'{entry}' is not an IP address (a resolver is given by address, not by name)."
        ) from None
    return address, port


def _resolver() -> dns.resolver.Resolver:
    configured = conf.nameservers()
    resolver = dns.resolver.Resolver(configure=not configured)
    if configured:
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(address, port)
            for address, port in map(parse_nameserver, configured)
        ]
    resolver.timeout = conf.timeout()
    resolver.lifetime = conf.timeout()
    resolver.retry_servfail = False
    # Answers are checked fresh every time: the whole point is to see a change.
    resolver.cache = None
    return resolver


def _record_text(rdata: object) -> str:
    strings = getattr(rdata, "strings", ())
    return b"".join(strings).decode("utf-8", "replace")[:MAX_RECORD_CHARS]


def lookup_txt(name: str) -> TxtAnswer:
    """The TXT records of ``name`` (an A-label DNS name), or why there are none."""
    try:
        answer = _resolver().resolve(name, "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        return TxtAnswer(name, NXDOMAIN)
    except dns.resolver.NoAnswer:
        return TxtAnswer(name, NO_ANSWER)
    except dns.resolver.NoNameservers:
        return TxtAnswer(name, SERVFAIL)
    except dns.exception.Timeout:
        return TxtAnswer(name, TIMEOUT)
    except (dns.exception.DNSException, OSError, NameserverSettingError) as exc:
        # A CNAME chain too long or looping, a malformed answer, no resolver configured.
        return TxtAnswer(name, ERROR, error=str(exc) or type(exc).__name__)
    records = tuple(_record_text(rdata) for rdata in list(answer)[:MAX_RECORDS])
    return TxtAnswer(name, FOUND, records=records)
