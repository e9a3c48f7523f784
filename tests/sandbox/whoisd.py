"""The sandbox port-43 whois server: one query line in, the recorded text out, connection closed.

Answers, in order: a recorded query exactly (INDEX.json `query`, e.g. ARIN's "n + <ip>" or RADB's
"-i origin AS..."); Team Cymru's bulk form (" -r -a -c -p -f <ip>") from the test zone's origin
data; any query whose last word is an address or CIDR inside a recorded (or synthetic) network,
with that network's text; otherwise a "no match" text.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading

from tests.sandbox import recorded, synthetic
from tests.sandbox.example import EXAMPLE
from tests.sandbox.faults import FaultPlan
from tests.sandbox.recorded import Recorded
from tests.sandbox.serving import ConnectionTracking, ServerThread, endless, hold, trickle
from tests.sandbox.zone import Zone

WHOIS_FAULTS = frozenset({"timeout", "empty", "ratelimit", "endless", "trickle"})
HOSTILE_LINE = b"remarks:        this answer never ends (sandbox fault)\r\n"
_CYMRU_FLAGS = {"-a", "-c", "-p", "-f", "-v"}


class WhoisServer:
    """What tests see as ``sb.whois``: address, query log, faults."""

    def __init__(self, rec: Recorded, zone: Zone, networks: list[synthetic.SyntheticNetwork],
                 stopping: threading.Event, host: str = "127.0.0.1") -> None:
        self.zone = zone
        self.faults = FaultPlan(WHOIS_FAULTS)
        self._stopping = stopping
        self._exact = {" ".join(w.query.lower().split()): w.text for w in rec.whois}
        self._ranged: list[tuple[int, int, int, bytes]] = [
            (v, first, last, w.text) for w in rec.whois for v, first, last in w.ranges]
        for net in [*networks, EXAMPLE]:
            cidr = ipaddress.ip_network(net.cidr)
            self._ranged.append((cidr.version, int(cidr.network_address), int(cidr.broadcast_address),
                                 synthetic.whois_text(net)))
        self._lock = threading.Lock()
        self._queries: list[str] = []
        self._server = _Server((host, 0), _Handler)
        self._server.whois = self
        self.port: int = self._server.server_address[1]
        self.address = f"{host}:{self.port}"
        self._runner = ServerThread(self._server, "sandbox-whois")

    @property
    def queries(self) -> list[str]:
        """Every query line received, in order (a copy)."""
        with self._lock:
            return list(self._queries)

    def reset_counts(self) -> None:
        with self._lock:
            self._queries.clear()

    def fail(self, match: str, kind: str, times: int | None = 1) -> None:
        """The next `times` queries containing `match` get `kind`: "timeout" (no answer until the client
        gives up), "empty" (closed without a byte), "ratelimit" (LACNIC's 'Query rate limit exceeded'),
        "endless" (lines without end, as fast as the client reads) or "trickle" (one byte every 0.2 s,
        never ending)."""
        self.faults.add(lambda query: match in query, kind, times)

    def clear_faults(self) -> None:
        self.faults.clear()

    def start(self) -> None:
        self._runner.start()

    def stop(self) -> None:
        self._runner.stop()

    def answer(self, query: str) -> bytes:
        """The text a query gets (fault handling is the connection's business)."""
        norm = " ".join(query.lower().split())
        if norm in self._exact:
            return self._exact[norm]
        words = query.split()
        if not words:
            return b"% Empty query. Send an address, a network or an AS query.\n"
        if len(words) > 1 and set(words[:-1]) & _CYMRU_FLAGS:
            return self._cymru(words[-1])
        if norm.startswith("-i origin"):
            return b"%  No entries found for the selected source(s).\n"
        parsed = recorded.parse_query(words[-1])
        if parsed is not None:
            version, first, last = parsed
            holding = [r for r in self._ranged if r[0] == version and r[1] <= first and last <= r[2]]
            if holding:
                return min(holding, key=lambda r: r[2] - r[1])[3]
        return f"% No match found for '{query.strip()}' (incident-bot local sandbox).\n".encode()

    def _cymru(self, target: str) -> bytes:
        try:
            ip = str(ipaddress.ip_address(target))
        except ValueError:
            return b"Error: no ASN or IP match on line 1.\n"
        origins = self.zone.cymru.for_address(ip)
        if not origins:
            return f"NA      | {ip:<16} | NA                  | NA | NA       | NA         | NA\n".encode()
        asn, prefix, cc, registry, date = (part.strip() for part in origins[0].split("|"))
        as_texts = self.zone.texts(f"AS{asn}.asn.cymru.com", "TXT")
        as_name = as_texts[0].strip('"').rsplit("|", 1)[-1].strip() if as_texts else "NA"
        return f"{asn:<7} | {ip:<16} | {prefix:<19} | {cc} | {registry:<8} | {date} | {as_name}\n".encode()


class _Server(ConnectionTracking, socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128
    whois: WhoisServer


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        whois = self.server.whois
        line = b""
        try:
            while b"\n" not in line and len(line) < 2048:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                line += chunk
        except OSError:
            return
        query = line.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        with whois._lock:
            whois._queries.append(query)
        fault = whois.faults.take(query)
        try:
            if fault == "timeout":
                hold(sock, whois._stopping)
            elif fault == "endless":
                endless(sock.sendall, whois._stopping, HOSTILE_LINE)
            elif fault == "trickle":
                trickle(sock.sendall, whois._stopping, HOSTILE_LINE)
            elif fault == "ratelimit":
                sock.sendall(b"%% Query rate limit exceeded. Reduced information.\r\n")
            elif fault is None:
                sock.sendall(whois.answer(query))
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
