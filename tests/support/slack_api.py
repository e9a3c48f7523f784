"""Local stand-ins for Slack, on 127.0.0.1 only: its Web API (every call recorded) and a Socket Mode
websocket server (behind a TCP relay that can go silent, as a connection dropped by a middlebox does).

    with SlackApi(group_members=["U2"]) as api:
        client = api.client()                  # a WebClient whose base_url is this server
        ...; api.calls_to("chat.postMessage")  # the parameters of each call, in order
    with SocketModeServer() as ws:
        api.socket_url = ws.url                # what apps.connections.open answers
        envelope = ws.send("slash_commands", {...}); ws.wait_ack(envelope)

Signing helpers build Slack's real request signatures (``signed``), for the Bolt app and HTTP mode.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from websockets.sync.server import Server, ServerConnection, serve

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SIGNING_SECRET = "test-signing-secret"
BOT_USER, BOT_ID, TEAM = "UBOT", "BBOT", "T0TEST"


@dataclass(frozen=True)
class Call:
    method: str  # "chat.postMessage", or "response_url" for a post to a response URL
    params: dict[str, Any]
    at: float


class SlackApi:
    """Slack's Web API as far as the app uses it, recording every call."""

    def __init__(self, *, group_members: Sequence[str] = ()) -> None:
        self.calls: list[Call] = []
        self.group_members = list(group_members)
        self.socket_url = ""
        self.failures: dict[str, list[str]] = {}
        self.delay: dict[str, float] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                outer._handle(self)

            def do_GET(self) -> None:
                outer._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> SlackApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def response_url(self, name: str = "r") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/response/{name}"

    def client(self) -> WebClient:
        return WebClient(token=BOT_TOKEN, base_url=self.base_url, timeout=5)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ok=false with ``error``."""
        with self._lock:
            self.failures.setdefault(method, []).extend([error] * times)

    # --- what was called ---------------------------------------------------------------------

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c.params for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The calls of ``method`` once there are at least ``count`` (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [c.params for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({c.method for c in self.calls})
                    raise AssertionError(
                        f"{count} call(s) of {method} expected, {len(found)} seen; calls: {seen}"
                    )
                self._changed.wait(left)

    def posted_texts(self) -> Iterator[str]:
        """Every text Slack would show from what was posted or updated (blocks flattened), for
        checks that hold for all of them (no live mention, no link)."""
        for c in list(self.calls):
            if c.method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"):
                yield from _texts(c.params)

    # --- serving -----------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length).decode("utf-8") if length else ""
        params: dict[str, Any] = dict(parse_qsl(url.query))
        ctype = h.headers.get("Content-Type", "")
        if raw and "json" in ctype:
            params.update(json.loads(raw))
        elif raw:
            params.update(dict(parse_qsl(raw)))
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        if url.path.startswith("/response/"):
            method = "response_url"
            answer: dict[str, Any] = {"ok": True}
        else:
            method = url.path.removeprefix("/api/")
            time.sleep(self.delay.get(method, 0.0))
            answer = self._answer(method, params)
        with self._lock:
            self.calls.append(Call(method, params, time.monotonic()))
            self._changed.notify_all()
        body = (json.dumps(answer) if method != "response_url" else "ok").encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json" if method != "response_url" else "text/plain")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            pending = self.failures.get(method)
            if pending:
                return {"ok": False, "error": pending.pop(0)}
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "team_id": TEAM,
                "team": "Test",
                "user": "incident-bot",
                "url": "https://test.example/",
            }
        if method in ("chat.postMessage", "chat.update"):
            ts = params.get("ts") or f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": params.get("channel", ""), "ts": ts}
        if method in ("views.open", "views.update"):
            return {"ok": True, "view": {"id": params.get("view_id") or "V0TEST", "hash": "h-1"}}
        if method == "usergroups.users.list":
            return {"ok": True, "users": list(self.group_members)}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": "1700000000.999999"}
        return {"ok": True}


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


# --- signatures ---------------------------------------------------------------------------------


def signed(
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    at: float | None = None,
    retry: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """The headers Slack sends with ``body``: X-Slack-Request-Timestamp and a v0 signature."""
    ts = str(int(at if at is not None else time.time()))
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "Content-Type": content_type,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def form(**fields: str) -> str:
    return urlencode(fields)


def interactive(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


# --- Socket Mode ----------------------------------------------------------------------------------


class _Relay:
    """A TCP relay in front of the websocket server; ``freeze`` makes its live connections silent in
    both directions while they stay open (what a NAT or firewall that forgot them does)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.frozen: set[int] = set()
        self.count = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def freeze(self) -> None:
        self.frozen.update(range(self.count))

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            n, self.count = self.count, self.count + 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(n, a, b), daemon=True).start()

    def _pump(self, n: int, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.2)
        while not self.stop.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if n in self.frozen:
                continue  # dropped on the floor
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


class SocketModeServer:
    """Slack's Socket Mode endpoint: says hello on each connection, sends envelopes, collects acks."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._acked = threading.Condition(self._lock)
        self.server: Server = serve(self._serve, "127.0.0.1", 0, ping_interval=None, compression=None)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.relay = _Relay(int(self.server.socket.getsockname()[1]))

    def __enter__(self) -> SocketModeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.relay.close()
        self.server.shutdown()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.relay.port}/link/?ticket=test"

    def _serve(self, conn: ServerConnection) -> None:
        with self._lock:
            self.connections.append(conn)
        conn.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self.connections),
                    "connection_info": {"app_id": "A0TEST"},
                    "debug_info": {"host": "local"},
                }
            )
        )
        try:
            for raw in conn:
                msg = json.loads(raw)
                if msg.get("envelope_id"):
                    with self._lock:
                        self.acks[msg["envelope_id"]] = msg
                        self._acked.notify_all()
        except Exception:  # the client went away
            return

    def open_count(self) -> int:
        with self._lock:
            return len(self.connections)

    def wait_connections(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.open_count() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} Socket Mode connection(s) expected, {self.open_count()} made")
            time.sleep(0.05)

    def send(self, kind: str, payload: dict[str, Any], *, retry: int = 0) -> str:
        """An envelope on the newest connection; its id."""
        envelope = str(uuid.uuid4())
        with self._lock:
            conn = self.connections[-1]
        conn.send(
            json.dumps(
                {
                    "envelope_id": envelope,
                    "type": kind,
                    "payload": payload,
                    "accepts_response_payload": kind != "events_api",
                    "retry_attempt": retry,
                    "retry_reason": "timeout" if retry else "",
                }
            )
        )
        return envelope

    def wait_ack(self, envelope: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while envelope not in self.acks:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"envelope {envelope} was never acknowledged")
                self._acked.wait(left)
            return self.acks[envelope]
