"""The HTTP replay server: registry answers at {base}/HOST/PATH on 127.0.0.1.

One thread per connection (http.server.ThreadingHTTPServer), HTTP/1.1 keep-alive, added latency
slept on the request's own thread, faults on demand.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.sandbox.faults import FaultPlan
from tests.sandbox.recorded import Answer
from tests.sandbox.replay import RDAP_JSON, Replay, error_answer
from tests.sandbox.serving import ConnectionTracking, ServerThread, endless, hold, trickle

HTTP_FAULTS = frozenset({"429", "500", "503", "timeout", "malformed", "ripe-ratelimit", "endless", "trickle",
                         "redirect"})
# What a hostile registry's endless or trickling answer looks like: a JSON document that never closes.
HOSTILE_HEAD = b'{"objectClassName": "ip network", "remarks": [{"description": ["'
HOSTILE_FILLER = b"x" * 1024


class HttpServer:
    """What tests see as ``sb.http``: the request log, faults, latency."""

    def __init__(self, replay: Replay, stopping: threading.Event, latency: float = 0.0,
                 host: str = "127.0.0.1") -> None:
        self.replay = replay
        self.latency = latency          # seconds; may be changed while running
        self.faults = FaultPlan(HTTP_FAULTS)
        self._stopping = stopping
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str]] = []
        self._spans: list[list[float]] = []       # [start, end] per request, monotonic; end 0 while open
        self._server = _Server((host, 0), _Handler)
        self._server.sandbox = self
        self.port: int = self._server.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self._runner = ServerThread(self._server, "sandbox-http")

    # --- the contract -------------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(host, path) of every request served, in order (a copy; query strings left out)."""
        with self._lock:
            return list(self._requests)

    def reset_counts(self) -> None:
        with self._lock:
            self._requests.clear()
            self._spans.clear()

    def timeline(self, host: str = "") -> list[tuple[str, str, float, float]]:
        """(host, path, start, end) of each request to hosts containing `host`, in arrival order;
        times are time.monotonic() values, end is 0.0 while a request is still being answered."""
        with self._lock:
            return [(h, p, span[0], span[1]) for (h, p), span in zip(self._requests, self._spans, strict=True)
                    if host in h]

    def peak_concurrency(self, host: str = "") -> int:
        """The most requests to hosts containing `host` that were being answered at one time (with
        latency set, this is how many the client had in flight: per-registry limits show here)."""
        events = sorted((t, step) for _, _, start, end in self.timeline(host)
                        for t, step in ((start, 1), (end or float("inf"), -1)))
        peak = current = 0
        for _, step in events:        # at equal times an end (-1) sorts before a start (+1)
            current += step
            peak = max(peak, current)
        return peak

    def count(self, host: str = "") -> int:
        """Requests served so far, to hosts containing `host` (all when empty)."""
        with self._lock:
            return sum(1 for h, _ in self._requests if host in h)

    def fail(self, match: str, kind: str | int, times: int | None = 1) -> None:
        """The next `times` requests whose host+path contains `match` get `kind`: 429, 500, 503,
        "timeout" (no answer until the client gives up), "malformed" (200 with broken JSON),
        "ripe-ratelimit" (RIPE's 429 with an RDAP error body), "endless" (200 whose body never ends,
        sent as fast as the client reads) or "trickle" (200 whose body comes one byte every 0.2 s,
        never ending). times=None: every one until cleared."""
        if str(kind) == "redirect":
            raise ValueError("use redirect(match, location) for a redirect")
        self.faults.add(lambda key: match in key, str(kind), times)

    def redirect(self, match: str, location: str, times: int | None = 1, status: int = 302) -> None:
        """The next `times` requests whose host+path contains `match` get a `status` redirect to
        `location` (any text: a hostile registry chooses it)."""
        if status not in (301, 302, 303, 307, 308):
            raise ValueError(f"not a redirect status: {status}")
        self.faults.add(lambda key: match in key, "redirect", times, f"{status} {location}")

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- serving ------------------------------------------------------------------------

    def start(self) -> None:
        self._runner.start()

    def stop(self) -> None:
        self._runner.stop()

    def log(self, host: str, path: str) -> list[float]:
        """Record a request; the returned span's end is set by the handler when it is answered."""
        span = [time.monotonic(), 0.0]
        with self._lock:
            self._requests.append((host, path))
            self._spans.append(span)
        return span


class _Server(ConnectionTracking, ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    sandbox: HttpServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60                      # an idle keep-alive connection is closed after this
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read sb.http.requests instead."""

    def do_GET(self) -> None:
        sandbox = self.server.sandbox
        host, _, rest = self.path.split("?", 1)[0].lstrip("/").partition("/")
        host = host.lower()
        path = "/" + urllib.parse.unquote(rest)
        span = sandbox.log(host, path)
        try:
            if sandbox.latency > 0:
                time.sleep(sandbox.latency)
            taken = sandbox.faults.take_with_data(host + path)
            fault, data = taken if taken else (None, "")
            if fault == "timeout":
                self.close_connection = True
                hold(self.connection, sandbox._stopping)
                return
            if fault in ("endless", "trickle"):
                self._hostile(fault, sandbox)
                return
            answer = sandbox.replay.resolve(host, path)
            if fault == "redirect":
                status, _, location = data.partition(" ")
                answer = Answer(int(status), RDAP_JSON, b"{}", (("Location", location),))
            elif fault is not None:
                answer = _fault_answer(fault, answer, self.client_address[0])
            span[1] = time.monotonic()     # before the first byte: a client that has its answer sees it
            self._send(answer)
        finally:
            span[1] = span[1] or time.monotonic()

    def _hostile(self, kind: str, sandbox: HttpServer) -> None:
        """A 200 whose JSON body never ends: as fast as the client reads ("endless"), or one byte at a
        time, each in time for any per-read timeout ("trickle"). No Content-Length; the connection is
        closed afterwards."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", RDAP_JSON)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(HOSTILE_HEAD)
        except OSError:
            return
        if kind == "endless":
            endless(self.wfile.write, sandbox._stopping, HOSTILE_FILLER)
        else:
            trickle(self.wfile.write, sandbox._stopping, HOSTILE_FILLER)

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)


def _fault_answer(kind: str, normal: Answer, client: str) -> Answer:
    if kind == "429":
        body = b"<html><head><title>429 Too Many Requests</title></head><body>Too Many Requests</body></html>"
        return Answer(429, "text/html", body, (("Retry-After", "1"),))
    if kind == "ripe-ratelimit":
        err = error_answer(429, "Too Many Requests", f"%ERROR:201: access denied for {client}",
                           "Queries from your IP address have passed the daily limit of controlled objects.",
                           "(Sandbox imitation of the RIPE Database's rate-limit answer.)")
        return Answer(err.status, err.content_type, err.body, (("Retry-After", "1"),))
    if kind == "500":
        return error_answer(500, "Internal Server Error", "Sandbox fault: 500.")
    if kind == "503":
        err = error_answer(503, "Service Unavailable", "Sandbox fault: 503.")
        return Answer(err.status, err.content_type, err.body, (("Retry-After", "1"),))
    # malformed: a 200 whose JSON is cut in the middle
    body = normal.body if normal.status == 200 else json.dumps({"objectClassName": "ip network"}).encode()
    return Answer(200, RDAP_JSON, body[: max(1, len(body) // 2)])
