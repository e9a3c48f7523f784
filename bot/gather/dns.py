"""DNS lookups through the injected dnspython resolver (never the system's stub when configured).

NXDOMAIN and "no such record" are answers (empty results); SERVFAIL, REFUSED and timeouts raise
:class:`bot.errors.LookupFailed` with ``temporary=True``. Each question is bounded by the resolver's
``lifetime`` in all (every server tried, UDP and the TCP retry included) and an answer cannot exceed a
DNS message (64 KB). Answers that are shared (per network, per domain) carry their TTL (:class:`Records`):
the smallest TTL of the answer, or for "no such name/record" the negative TTL the zone's SOA gives.
One log line per question (logger ``bot.gather.dns``, INFO).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import selectors
import socket
import struct
import time
from collections.abc import Sequence
from typing import NamedTuple

import dns.rcode
import dns.resolver
import dns.reversename

from bot.errors import LookupFailed
from bot.gather import dnswire
from bot.text import single_line

log = logging.getLogger(__name__)
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")


def reverse_name(ip: str) -> str:
    """``1.2.3.4`` -> ``4.3.2.1.in-addr.arpa``; IPv6 -> its 32 nibbles reversed under ``ip6.arpa``."""
    return ipaddress.ip_address(ip).reverse_pointer


def reversed_labels(ip: str) -> str:
    """``1.2.3.4`` -> ``4.3.2.1``; IPv6 -> its 32 nibbles reversed, dot-separated."""
    return reverse_name(ip).removesuffix(".in-addr.arpa").removesuffix(".ip6.arpa")


def _given(found: Records | LookupFailed) -> Records:
    """An answer asked for earlier (a bulk run's reverse names): the records, or its failure raised anew."""
    if isinstance(found, LookupFailed):
        raise LookupFailed(str(found), source="dns", temporary=found.temporary)
    return found


def forward_type(ip: str) -> str:
    """The question that confirms a reverse name of ``ip``: A for IPv4, AAAA for IPv6."""
    return "AAAA" if ":" in ip else "A"


def plain_host(name: str) -> bool:
    """Whether a (reverse) name is a plain host name: anything else in a PTR is not used."""
    return bool(_HOSTNAME_RE.match(name))


class Records(NamedTuple):
    """The records of one answer as text, and how long (seconds) they may be reused."""

    values: tuple[str, ...]
    ttl: float


def mx_hosts(answer: Records) -> tuple[str, ...]:
    """The mail exchangers of an MX answer, most preferred first (a null MX, ".", is none)."""
    records = []
    for text in answer.values:
        parts = text.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1] != ".":
            records.append((int(parts[0]), parts[1].rstrip(".").lower()))
    return tuple(host for _, host in sorted(records))


class DnsSource:
    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver

    def _servers(self) -> list[str]:
        out = []
        for ns in self.resolver.nameservers:
            address = ns if isinstance(ns, str) else getattr(ns, "address", "")
            if address:
                out.append(address)
        return out

    def _query(self, name: str, rdtype: str) -> list[str]:
        return list(self.query(name, rdtype).values)

    def query(self, name: str, rdtype: str) -> Records:
        """One question to the resolver's name servers; LookupFailed when there is no answer."""
        found = self.query_many([(name, rdtype)])[0]
        if isinstance(found, LookupFailed):
            raise found
        return found

    def query_many(self, questions: Sequence[tuple[str, str]],
                   in_flight: int = 64) -> list[Records | LookupFailed]:
        """Answers to many (name, type) questions, asked ``in_flight`` at a time; each is Records or the
        LookupFailed saying why not, in the order asked.

        Each question goes to the resolver's name servers in turn (its nameservers, port, timeout), UDP
        from a fresh socket (a random source port and id each time), TCP when the answer is truncated,
        all of it within the resolver's ``lifetime``. dnspython's stub ``Resolver.resolve`` and message
        API cost about 1 ms of CPU a question, and one thread per question waiting for its answer
        costs more: bulk runs ask thousands, so the exchange is ours (bot.gather.dnswire).
        """
        results: list[Records | LookupFailed | None] = [None] * len(questions)
        waiting = list(range(len(questions)))[::-1]
        flying: dict[int, _Flight] = {}
        servers = self._servers()
        with selectors.DefaultSelector() as selector:
            while waiting or flying:
                while waiting and len(flying) < in_flight:
                    index = waiting.pop()
                    name, rdtype = questions[index]
                    try:
                        flight = _Flight(index, name, rdtype, self.resolver.lifetime)
                    except (ValueError, UnicodeError, KeyError):
                        results[index] = LookupFailed(f"{rdtype} {name}: not a valid DNS name", source="dns")
                        continue
                    self._send(flight, servers, selector, results, flying)
                soonest = min((f.try_deadline for f in flying.values()), default=time.monotonic())
                for key, _ in selector.select(max(0.0, min(soonest - time.monotonic(), 0.5))):
                    flight = key.data
                    reply = flight.receive()
                    if reply is not None:
                        self._settle(flight, reply, servers, selector, results, flying)
                now = time.monotonic()
                for flight in [f for f in flying.values() if f.try_deadline <= now]:
                    flight.failure = "DNS timed out"
                    self._next(flight, servers, selector, results, flying)
        return [r if r is not None else LookupFailed("DNS: no answer", source="dns", temporary=True)
                for r in results]

    def _send(self, flight: _Flight, servers: list[str], selector: selectors.BaseSelector,
              results: list[Records | LookupFailed | None], flying: dict[int, _Flight]) -> None:
        while flight.server < len(servers):
            remaining = flight.deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                flight.open(servers[flight.server], self.resolver.port, min(self.resolver.timeout, remaining))
            except OSError as exc:
                flight.failure = f"DNS lookup failed ({type(exc).__name__})"
                flight.server += 1
                continue
            selector.register(flight.sock, selectors.EVENT_READ, flight)  # type: ignore[arg-type]
            flying[flight.index] = flight
            return
        results[flight.index] = flight.failed()

    def _next(self, flight: _Flight, servers: list[str], selector: selectors.BaseSelector,
              results: list[Records | LookupFailed | None], flying: dict[int, _Flight]) -> None:
        """This server gave no usable answer: the next one, or the failure."""
        flying.pop(flight.index, None)
        if flight.sock is not None:
            selector.unregister(flight.sock)
            flight.close()
        flight.server += 1
        self._send(flight, servers, selector, results, flying)

    def _settle(self, flight: _Flight, reply: dnswire.Reply | dnswire.Malformed, servers: list[str],
                selector: selectors.BaseSelector, results: list[Records | LookupFailed | None],
                flying: dict[int, _Flight]) -> None:
        server = servers[flight.server]
        if isinstance(reply, dnswire.Reply) and reply.truncated:
            remaining = max(0.001, min(self.resolver.timeout, flight.deadline - time.monotonic()))
            try:
                reply = _exchange_tcp(server, self.resolver.port, flight, remaining)
            except (OSError, dnswire.Malformed) as exc:
                reply = dnswire.Malformed(type(exc).__name__)
        if isinstance(reply, dnswire.Malformed):
            flight.failure = f"DNS lookup failed ({reply})"
        elif reply.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            flight.failure = f"DNS server failure ({dns.rcode.Rcode.to_text(reply.rcode)})"
        else:
            flying.pop(flight.index, None)
            selector.unregister(flight.sock)  # type: ignore[arg-type]
            flight.close()
            results[flight.index] = flight.answered(reply, server)
            return
        self._next(flight, servers, selector, results, flying)

    def ptr(self, ip: str, asked: Records | LookupFailed | None = None) -> str | None:
        """The reverse name of ``ip`` (without the trailing dot), None when there is none. ``asked``: the
        PTR answer when it was asked already (see query_many).

        A PTR is attacker-controlled: anything that is not a plain host name raises LookupFailed.
        """
        names = _given(asked).values if asked is not None else self.query(reverse_name(ip), "PTR").values
        if not names:
            return None
        name = names[0].rstrip(".").lower()
        if not _HOSTNAME_RE.match(name):
            raise LookupFailed("the PTR record is not a host name", source="dns")
        return name

    def addresses(self, name: str, failures: list[str] | None = None) -> tuple[str, ...]:
        """A and AAAA of ``name``. When one of the two questions fails, the other's answer is still
        given (its failure appended to ``failures`` when a list is passed); raises when both fail."""
        return self.address_records(name, failures).values

    def address_records(self, name: str, failures: list[str] | None = None) -> Records:
        """A and AAAA of ``name`` with the smaller TTL (see :meth:`addresses`)."""
        out: list[str] = []
        ttls: list[float] = []
        errors: list[LookupFailed] = []
        for found in self.query_many([(name, "A"), (name, "AAAA")]):
            if isinstance(found, LookupFailed):
                errors.append(found)
                continue
            out.extend(found.values)
            ttls.append(found.ttl)
        if len(errors) == 2:
            raise errors[0]
        if failures is not None:
            failures.extend(str(exc) for exc in errors)
        return Records(tuple(str(ipaddress.ip_address(a)) for a in out), min(ttls))

    def resolve_host(self, name: str) -> tuple[list[str], float]:
        """For the fetcher: the addresses of a host name and how long they may be used (no failures
        tolerated: an address we cannot see cannot be checked)."""
        found = [_given(r) for r in self.query_many([(name, "A"), (name, "AAAA")])]
        return ([str(ipaddress.ip_address(a)) for r in found for a in r.values], min(r.ttl for r in found))

    def forward_confirms(self, name: str, ip: str, asked: Records | LookupFailed | None = None) -> bool:
        """Whether ``name`` resolves back to ``ip`` (asking only for the address's own family, unless
        the answer was ``asked`` already)."""
        want = ipaddress.ip_address(ip)
        found = _given(asked) if asked is not None else self.query(name, forward_type(ip))
        return any(ipaddress.ip_address(a) == want for a in found.values)

    def reverse_zone_ns(self, ip: str) -> Records:
        """Name servers of the reverse zone holding ``ip`` (the /24, else /16; IPv6: the /48, else /32).

        Whoever the zone is delegated to runs the network's DNS: the old tool's domain guess.
        """
        labels = reversed_labels(ip).split(".")
        suffix = "in-addr.arpa" if ipaddress.ip_address(ip).version == 4 else "ip6.arpa"
        ttl = 0.0
        for keep in ((3, 2) if suffix == "in-addr.arpa" else (12, 8)):
            zone = ".".join([*labels[-keep:], suffix])
            answer = self.query(zone, "NS")
            ttl = answer.ttl
            hosts = [t.rstrip(".").lower() for t in answer.values]
            found = tuple(dict.fromkeys(h for h in hosts if _HOSTNAME_RE.match(h)))
            if found:
                return Records(found, answer.ttl)
        return Records((), ttl)

    def mx(self, name: str) -> Records:
        answer = self.query(name, "MX")
        return Records(mx_hosts(answer), answer.ttl)

    def txt(self, name: str) -> Records:
        """TXT records, each one's strings joined (as RFC 7208 reads them)."""
        return self.query(name, "TXT")

    def origin_asn(self, ip: str) -> tuple[int | None, str, float]:
        """(origin AS number, announced prefix, TTL) from Team Cymru's DNS zone; (None, "", TTL) when
        unknown."""
        zone = "origin.asn.cymru.com" if ipaddress.ip_address(ip).version == 4 else "origin6.asn.cymru.com"
        texts, ttl = self.txt(f"{reversed_labels(ip)}.{zone}")
        fields = [f.strip() for f in texts[0].split("|")] if texts else []
        first = fields[0].split() if fields else []
        if not first or not first[0].isdigit():
            return None, "", ttl
        prefix = ""
        if len(fields) > 1:
            try:
                prefix = str(ipaddress.ip_network(fields[1], strict=False))
            except ValueError:
                prefix = ""
        return int(first[0]), prefix, ttl

    def as_name(self, asn: int) -> tuple[str, float]:
        """The AS name Team Cymru lists ("" when none), and its TTL."""
        texts, ttl = self.txt(f"AS{asn}.asn.cymru.com")
        for text in texts:
            fields = [f.strip() for f in text.split("|")]
            if len(fields) >= 5:
                return fields[4], ttl
        return "", ttl


class _Flight:
    """One question on its way: its message, the server being asked, its socket and deadlines."""

    def __init__(self, index: int, name: str, rdtype: str, lifetime: float) -> None:
        self.index, self.name, self.rdtype = index, name, rdtype
        self.qid = secrets.randbits(16)
        self.wire, self.question = dnswire.query(self.qid, name, rdtype)
        self.started = time.monotonic()
        self.deadline = self.started + lifetime
        self.try_deadline = self.deadline
        self.server = 0
        self.sock: socket.socket | None = None
        self.failure = "DNS timed out"

    def open(self, server: str, port: int, timeout: float) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect((server, port))   # the kernel drops datagrams from anyone else
            sock.send(self.wire)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.try_deadline = time.monotonic() + timeout

    def receive(self) -> dnswire.Reply | dnswire.Malformed | None:
        """Our answer, a malformed one, or None (nothing for us yet: another id or question)."""
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:       # ICMP port unreachable and the like
                return dnswire.Malformed(type(exc).__name__)
            try:
                reply = dnswire.parse(data, self.qid, self.question, self.rdtype)
            except dnswire.Malformed as exc:
                return exc
            if reply is not None:
                return reply

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def answered(self, reply: dnswire.Reply, server: str) -> Records:
        if log.isEnabledFor(logging.INFO):
            count = len(reply.values)
            outcome = "no such name" if reply.rcode == dns.rcode.NXDOMAIN else \
                f"{count} record{'' if count == 1 else 's'}"
            log.info("DNS %s %s @%s: %s in %.0f ms", self.rdtype, single_line(self.name, 120), server,
                     outcome, (time.monotonic() - self.started) * 1000)
        return Records(reply.values, reply.ttl)

    def failed(self) -> LookupFailed:
        if log.isEnabledFor(logging.INFO):
            log.info("DNS %s %s: %s after %.0f ms", self.rdtype, single_line(self.name, 120), self.failure,
                     (time.monotonic() - self.started) * 1000)
        return LookupFailed(f"{self.rdtype} {self.name}: {self.failure}", source="dns", temporary=True)


def _exchange_tcp(server: str, port: int, flight: _Flight, timeout: float) -> dnswire.Reply:
    """The same question over TCP (the UDP answer was truncated), within ``timeout`` in all."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((server, port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!H", len(flight.wire)) + flight.wire)
        size = struct.unpack("!H", _recv_exactly(sock, 2, deadline))[0]
        reply = dnswire.parse(_recv_exactly(sock, size, deadline), flight.qid, flight.question, flight.rdtype)
    if reply is None or reply.truncated:
        raise dnswire.Malformed("the TCP answer is not for our question")
    return reply


def _recv_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data
