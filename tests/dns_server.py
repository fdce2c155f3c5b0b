"""A real authoritative DNS server on loopback (dnslib), UDP and TCP on one port.

Tests publish TXT records in ``zone`` and point ``DOMAIN_VERIFICATION_NAMESERVERS`` at
it, so domain verification runs through dnspython and the wire protocol, never through
a mock of our own module. Answers over 512 bytes are truncated on UDP (TC bit), as a
real server does, so the client's TCP fallback is exercised too.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dnslib import CNAME, QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer


@dataclass
class Zone:
    """Names are lower-case without the trailing dot."""

    #: name → TXT records, each a list of its strings.
    txt: dict[str, list[list[str]]] = field(default_factory=dict)
    cname: dict[str, str] = field(default_factory=dict)
    #: Names (and the names below them) that exist without TXT records.
    existing: set[str] = field(default_factory=set)
    servfail: set[str] = field(default_factory=set)
    #: How many queries arrived, by transport.
    queries: dict[str, int] = field(default_factory=lambda: {"udp": 0, "tcp": 0})

    def publish(self, name: str, *strings: str) -> None:
        self.txt.setdefault(name.lower(), []).append(list(strings))

    def remove(self, name: str) -> None:
        self.txt.pop(name.lower(), None)


class _Resolver(BaseResolver):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        zone = self.zone
        zone.queries[handler.protocol] += 1
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name in zone.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        seen = set()
        while name in zone.cname and name not in seen:
            seen.add(name)
            target = zone.cname[name]
            reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(target), ttl=60))
            name = target
        if name in seen:  # a CNAME loop: answered as it stands
            return reply
        if name in zone.txt and request.q.qtype == QTYPE.TXT:
            for strings in zone.txt[name]:
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(strings), ttl=60))
        elif name not in zone.txt and not any(
            name == e or name.endswith("." + e) for e in zone.existing
        ):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class _Handler(DNSHandler):
    """Answers over 512 bytes on UDP come back truncated (TC), question kept, as RFC 1035 says."""

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed = reply.pack()
        if self.protocol == "udp" and len(packed) > 512:
            truncated = request.reply()
            truncated.header.tc = 1
            packed = truncated.pack()
        return packed


@contextmanager
def dns_server() -> Iterator[tuple[Zone, str]]:
    """Serve a fresh zone; yields (zone, "127.0.0.1:port")."""
    zone = Zone()
    logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    for _attempt in range(20):
        udp = DNSServer(
            _Resolver(zone), port=0, address="127.0.0.1", logger=logger, handler=_Handler
        )
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(
                _Resolver(zone),
                port=port,
                address="127.0.0.1",
                tcp=True,
                logger=logger,
                handler=_Handler,
            )
        except OSError:
            udp.server.server_close()
            continue
        break
    else:
        raise RuntimeError("no free port for UDP and TCP at once")
    udp.start_thread()
    tcp.start_thread()
    try:
        yield zone, f"127.0.0.1:{port}"
    finally:
        udp.stop()
        tcp.stop()
        udp.server.server_close()
        tcp.server.server_close()


@contextmanager
def silent_dns_server() -> Iterator[str]:
    """A UDP and TCP port that accept queries and never answer: a resolver timing out."""
    for _attempt in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))  # the same number may be taken for TCP
        except OSError:
            udp.close()
            tcp.close()
            continue
        break
    else:
        raise RuntimeError("no free port for UDP and TCP at once")
    tcp.listen(8)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        udp.close()
        tcp.close()
