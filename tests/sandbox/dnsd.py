"""The sandbox DNS server: authoritative only, UDP and TCP on one port of 127.0.0.1.

Built on dnspython's message API (from_wire / make_response) and socketserver. It never
forwards or recurses: names outside the zones it holds are answered REFUSED.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tests.sandbox.faults import FaultPlan
from tests.sandbox.serving import ConnectionTracking, hold
from tests.sandbox.zone import TTL, RRs, Zone

DNS_FAULTS = frozenset({"servfail", "timeout", "nxdomain"})


class DnsServer:
    """The zone, the fault plan and the query log behind the UDP and TCP listeners."""

    def __init__(self, zone: Zone, stopping: threading.Event, host: str = "127.0.0.1",
                 latency: float = 0.0) -> None:
        self.zone = zone
        self.faults = FaultPlan(DNS_FAULTS)
        self.latency = latency          # seconds before each answer leaves; may be changed while running
        self._stopping = stopping
        self.delayed = DelayedSender(stopping)
        self._log_lock = threading.Lock()
        self._queries: list[tuple[str, str]] = []
        self._udp, self._tcp = _bind_pair(self, host)
        self.port: int = self._udp.server_address[1]
        self._threads: list[threading.Thread] = []

    # --- the contract -------------------------------------------------------------------

    def add(self, name: str, rdtype: str | int, *values: str) -> None:
        """Add records at run time (a PTR may be given for an IP address: its reverse name is used)."""
        self.zone.add(name, rdtype, *values)

    def fail(self, name: str, kind: str, times: int | None = None) -> None:
        """Queries for `name` or any name under it get `kind` ("servfail", "timeout": no answer at
        all, "nxdomain"); the next `times` of them, or all until clear_faults() when None."""
        target = name.lower().rstrip(".")

        def matches(qname: str) -> bool:
            return qname == target or qname.endswith("." + target)

        self.faults.add(matches, kind, times)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def queries(self) -> list[tuple[str, str]]:
        """(name, type) of every query received, in order (a copy)."""
        with self._log_lock:
            return list(self._queries)

    def reset_counts(self) -> None:
        with self._log_lock:
            self._queries.clear()

    # --- serving ------------------------------------------------------------------------

    def start(self) -> None:
        self.delayed.start()
        for server in (self._udp, self._tcp):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"sandbox-dns-{type(server).__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            if self._threads:                  # shutdown() waits for a loop that must be running
                server.shutdown()
            server.server_close()
        self._tcp.close_connections()
        self.delayed.stop()
        for thread in self._threads:
            thread.join(timeout=2)

    def answer(self, wire: bytes, max_size: int | None) -> bytes | None:
        """The answer to one query message, or None to stay silent (a timeout fault, garbage)."""
        fast = _plain_question(wire)
        if fast is not None:
            return self._answer(wire, fast, max_size)
        try:
            # The question is all we need; an OPT record (EDNS) is only looked for in the header.
            query = dns.message.from_wire(wire, question_only=True)
        except dns.exception.DNSException:
            return None
        edns = struct.unpack("!H", wire[10:12])[0] > 0
        flags = dns.flags.QR | dns.flags.AA | (query.flags & (dns.flags.RD | 0x7800))
        if len(query.question) != 1:
            return _render(query.id, flags, dns.rcode.FORMERR, query.question, [], [], edns, 512)
        question = query.question[0]
        return self._reply(query.id, flags, query.question, question.name, question.rdtype,
                           question.name.to_text().lower(), edns, max_size)

    def _answer(self, wire: bytes, plain: tuple[bytes, str, int], max_size: int | None) -> bytes | None:
        """answer() for the usual query (one question, a plain name), without building dnspython
        objects for it: a bulk benchmark asks thousands, and the sandbox must not be what is slow."""
        qid, qflags, _, _, _, arcount = struct.unpack_from("!HH4H", wire)
        question, key, rdtype = plain
        return self._reply(qid, _QR_AA | (qflags & _RD_OPCODE), question, question[:-4], rdtype, key,
                           arcount > 0, max_size)

    def _reply(self, qid: int, flags: int, question: list[dns.rrset.RRset] | bytes,
               name: dns.name.Name | bytes, rdtype: int, key: str, edns: bool,
               max_size: int | None) -> bytes | None:
        """The query logged, its fault (if one is planned) or the zone's answer, rendered."""
        qname = key.rstrip(".")
        with self._log_lock:
            self._queries.append((qname, dns.rdatatype.to_text(rdtype)))
        fault = self.faults.take(qname)
        answer: list[RRs] = []
        authority: list[RRs] = []
        rcode: int
        if fault == "timeout":
            return None
        if fault == "servfail":
            flags &= ~dns.flags.AA
            rcode = dns.rcode.SERVFAIL
        elif fault == "nxdomain":
            rcode = dns.rcode.NXDOMAIN
        else:
            rcode, answer, authority = self.zone.lookup(name, rdtype, key)
            if rcode == dns.rcode.REFUSED:
                flags &= ~dns.flags.AA
        limit = 65535 if max_size is None else max(max_size, 1232 if edns else 0)
        return _render(qid, flags, rcode, question, answer, authority, edns, limit)


_PLAIN = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
_QR_AA = int(dns.flags.QR | dns.flags.AA)     # plain ints: enum arithmetic per query adds up
_RD_OPCODE = int(dns.flags.RD) | 0x7800


def _plain_question(wire: bytes) -> tuple[bytes, str, int] | None:
    """(question section, lower-case name text with its final dot, type) of a query with one question
    whose name is plain labels; None for anything else (dnspython then reads it)."""
    if len(wire) < 17 or wire[4:6] != b"\x00\x01" or wire[2] & 0x80:
        return None
    pos, labels = 12, []
    while pos < len(wire) and wire[pos] != 0:
        size = wire[pos]
        if size > 63 or pos + 1 + size > len(wire):
            return None
        label = wire[pos + 1:pos + 1 + size]
        if not label or label.translate(None, _PLAIN):   # a byte outside the plain ones is left
            return None
        labels.append(label.decode("ascii").lower())
        pos += 1 + size
    if pos + 5 > len(wire) or pos - 12 > 254:
        return None
    rdtype, rdclass = struct.unpack_from("!HH", wire, pos + 1)
    if rdclass != dns.rdataclass.IN:
        return None
    return wire[12:pos + 5], ".".join(labels) + ".", rdtype


def _render(qid: int, flags: int, rcode: int, question: list[dns.rrset.RRset] | bytes, answer: list[RRs],
            authority: list[RRs], edns: bool, limit: int) -> bytes:
    """A response's wire form, from dnspython's own name and rdata wire forms, names written whole
    (dnspython's renderer rebuilds every suffix of every name it writes, which for 34-label reversed
    IPv6 names costs more than all the rest of an answer). Too big for `limit`: truncated (TC).
    `question`: the question section as the query wrote it, or dnspython's."""
    if isinstance(question, bytes):
        head, count = question, 1
    else:
        head = b"".join(_name_wire(q.name) + struct.pack("!HH", q.rdtype, q.rdclass) for q in question)
        count = len(question)
    records: list[bytes] = []
    counts = [0, 0]
    for index, section in enumerate((answer, authority)):
        for rrs in section:
            prefix = _name_wire(rrs.name) + struct.pack("!HHI", rrs.rdtype, dns.rdataclass.IN, TTL)
            for rdata in rrs.rdatas:
                data = _rdata_wire(rdata)
                records.append(prefix + struct.pack("!H", len(data)) + data)
                counts[index] += 1
    # OPT: root owner, our UDP payload size, extended rcode 0, version 0, no flags, no options
    opt = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, 1232, 0, 0) if edns else b""
    flags = (flags & ~0xF) | (rcode & 0xF)
    wire = struct.pack("!HH4H", qid, flags, count, *counts, 1 if edns else 0) + head
    wire += b"".join(records) + opt
    if len(wire) <= limit:
        return wire
    return struct.pack("!HH4H", qid, flags | dns.flags.TC, count, 0, 0, 1 if edns else 0) + head + opt


def _name_wire(name: dns.name.Name | bytes) -> bytes:
    if isinstance(name, bytes):   # the question's own name, as the query wrote it
        return name
    wire = name.to_wire()         # without a file: the fast path, uncompressed
    assert wire is not None
    return wire


_RDATA_WIRE: dict[int, tuple[dns.rdata.Rdata, bytes]] = {}


def _rdata_wire(rdata: dns.rdata.Rdata) -> bytes:
    """An rdata's wire form, kept (zone records never change once made; the entry holds the object so
    that its id is not reused)."""
    found = _RDATA_WIRE.get(id(rdata))
    if found is not None and found[0] is rdata:
        return found[1]
    data = rdata.to_wire() or b""
    _RDATA_WIRE[id(rdata)] = (rdata, data)
    return data


class DelayedSender:
    """Sends UDP answers after the configured latency, all from one thread: the answer is computed at
    once, so concurrent queries each wait their own latency (as from a real resolver) and the
    single-threaded UDP listener is never held."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def later(self, delay: float, send: Callable[[], None]) -> None:
        with self._cond:
            item = (time.monotonic() + delay, next(self._order), send)
            heapq.heappush(self._queue, item)
            if self._queue[0] is item:  # sooner than all it waits for: wake it (else it is woken
                self._cond.notify()     # in time anyway; a wake per query cost the listener its GIL)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-dns-delay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                now = time.monotonic()
                if not self._queue or self._queue[0][0] > now:
                    wait = self._queue[0][0] - now if self._queue else 0.1
                    self._cond.wait(min(wait, 0.1))
                    continue
                due = []
                while self._queue and self._queue[0][0] <= now:   # all that are due, in one go
                    due.append(heapq.heappop(self._queue)[2])
            for send in due:
                with contextlib.suppress(OSError):
                    send()


def _reply_udp(dns_server: DnsServer, sock: socket.socket, data: bytes, client: tuple[str, int]) -> None:
    reply = dns_server.answer(data, 512)
    if reply is None:
        return
    if dns_server.latency > 0:
        dns_server.delayed.later(dns_server.latency, lambda: sock.sendto(reply, client))
        return
    with contextlib.suppress(OSError):
        sock.sendto(reply, client)


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        try:
            while True:
                head = _recv_exact(sock, 2)
                if head is None:
                    return
                wire = _recv_exact(sock, struct.unpack("!H", head)[0])
                if wire is None:
                    return
                reply = self.server.dns.answer(wire, None)
                if reply is None:       # say nothing until the client gives up or we stop
                    hold(sock, self.server.dns._stopping)
                    return
                if self.server.dns.latency > 0:
                    time.sleep(self.server.dns.latency)     # this connection's own thread
                sock.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class _UdpServer(socketserver.UDPServer):
    """socketserver's UDP server, bound as usual, with a plain receive loop: its own loop costs a
    select, a handler object and a lock per datagram, and the sandbox answered 3,000 queries a
    second, slower than the bulk lookups it serves (a real resolver answers tens of thousands)."""

    allow_reuse_address = False
    max_packet_size = 65535

    def __init__(self, addr: tuple[str, int], dns_server: DnsServer) -> None:
        self.dns = dns_server
        self._halt = threading.Event()
        self._done = threading.Event()
        self._done.set()
        super().__init__(addr, socketserver.BaseRequestHandler)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._done.clear()
        self.socket.settimeout(poll_interval)
        try:
            while not self._halt.is_set():
                try:
                    data, client = self.socket.recvfrom(self.max_packet_size)
                except TimeoutError:
                    continue
                except OSError:
                    if self._halt.is_set():
                        break
                    continue   # an ICMP error from an earlier send, reported here: keep serving
                _reply_udp(self.dns, self.socket, data, client)
        finally:
            self._done.set()

    def shutdown(self) -> None:
        self._halt.set()
        self._done.wait()


class _TcpServer(ConnectionTracking, socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], dns_server: DnsServer) -> None:
        self.dns = dns_server
        super().__init__(addr, _TcpHandler)


def _bind_pair(dns_server: DnsServer, host: str) -> tuple[_UdpServer, _TcpServer]:
    """A UDP and a TCP listener on the same free port."""
    for _ in range(50):
        udp = _UdpServer((host, 0), dns_server)
        try:
            tcp = _TcpServer((host, udp.server_address[1]), dns_server)
        except OSError:
            udp.server_close()
            continue
        return udp, tcp
    raise OSError("no port free for both UDP and TCP on " + host)
