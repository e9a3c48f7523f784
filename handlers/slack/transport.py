"""How Slack reaches the Bolt app: HTTP mode (Slack calls our server; every request's signature and
timestamp checked by Bolt with the signing secret, five minutes of replay window) or Socket Mode
(we call Slack; the app token opens the connection), with a watchdog on the connection.

Why the watchdog: long-running Socket Mode apps have been reported to stop receiving events while
the process looks healthy, after an idle period or a dropped connection that the client re-made
(slackapi/bolt-python#1529, #952, #470; slackapi/python-slack-sdk#1701, #1110, #1379). Every
``slack.socket_check_seconds`` it pings on the current connection, calls ``auth.test`` (the
keep-alive that was seen to prevent the failure, and a check that the token still works), and
replaces the whole Socket Mode client (a new URL from apps.connections.open, new threads) when the
connection is closed, nothing (no pong, no message) came back for ``slack.socket_quiet_seconds``, or
a delivered request has waited that long without being handled.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from slack_bolt import App as BoltApp
from slack_bolt import BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

log = logging.getLogger(__name__)
MAX_BODY = 2 * 1024 * 1024     # Slack's largest payloads (a 40,000-character message event) fit well


class HttpServer:
    """Slack's requests over HTTP, dispatched to the Bolt app (which verifies the signature)."""

    def __init__(self, bolt: BoltApp, host: str, port: int, path: str, *, read_timeout: float = 10.0) -> None:
        self.bolt, self.path = bolt, path
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = read_timeout            # a client that stops sending costs one thread for this long
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                outer._post(self)

            def do_GET(self) -> None:
                self._reply(404, b"not found", "text/plain")

            def _reply(self, status: int, body: bytes, ctype: str) -> None:
                self.close_connection = True  # a body we did not read must not be taken for a request
                self.send_response(status)
                self.send_header("Connection", "close")
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http: " + format, *args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def _post(self, h: Any) -> None:
        url = urlsplit(h.path)
        if url.path != self.path:
            h._reply(404, b"not found", "text/plain")
            return
        try:
            length = int(h.headers.get("Content-Length", ""))
        except ValueError:
            h._reply(411, b"length required", "text/plain")
            return
        if length < 0 or length > MAX_BODY:
            h._reply(413, b"too large", "text/plain")
            return
        raw = h.rfile.read(length)
        headers: dict[str, str | Sequence[str]] = {}
        for name, value in h.headers.items():
            headers.setdefault(name.lower(), [])
            cast(list[str], headers[name.lower()]).append(value)
        req = BoltRequest(body=raw.decode("utf-8", errors="replace"), query=url.query, headers=headers)
        resp = self.bolt.dispatch(req)
        body = (resp.body or "").encode("utf-8")
        h.send_response(resp.status)
        for name, values in resp.headers.items():
            if name.lower() != "content-length":
                for value in values:
                    h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="slack-http", daemon=True)
        self._thread.start()
        log.info("Slack HTTP mode: listening on %s:%d%s", *self.server.server_address[:2], self.path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=3)


class _Handler(SocketModeHandler):
    """Bolt's Socket Mode handler, telling the runner when a delivered request has been handled."""

    runner: SocketRunner

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        try:
            super().handle(client, req)
        finally:
            self.runner._handled(req.envelope_id)


class SocketRunner:
    """A Socket Mode connection kept alive: see the module docstring."""

    def __init__(self, bolt: BoltApp, app_token: str, *, check_seconds: float, quiet_seconds: float,
                 ping_interval: float = 10.0) -> None:
        self.bolt, self.app_token = bolt, app_token
        self.check_seconds, self.quiet_seconds = check_seconds, quiet_seconds
        self.ping_interval = ping_interval
        self.handler: _Handler | None = None
        self.connections = 0          # how many times a client was made (1 + replacements)
        self._heard = 0.0             # wall time of the last message received
        self._waiting: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._connect()
        self._thread = threading.Thread(target=self._watch, name="slack-socket-watchdog", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        handler = _Handler(self.bolt, self.app_token, web_client=self.bolt.client,
                           ping_interval=self.ping_interval)
        handler.runner = self
        handler.client.on_message_listeners.append(self._on_message)
        with self._lock:
            self._heard = time.time()
            self._waiting.clear()
        handler.connect()
        self.handler = handler
        self.connections += 1
        log.info("Slack Socket Mode: connected (connection %d)", self.connections)

    def _on_message(self, raw: str) -> None:
        now = time.time()
        envelope = ""
        if '"envelope_id"' in raw:
            try:
                envelope = str(json.loads(raw).get("envelope_id") or "")
            except ValueError:
                envelope = ""
        with self._lock:
            self._heard = now
            if envelope:
                self._waiting.setdefault(envelope, now)

    def _handled(self, envelope_id: str) -> None:
        with self._lock:
            self._waiting.pop(envelope_id, None)

    def _watch(self) -> None:
        while not self._stop.wait(self.check_seconds):
            try:
                why = self.check()
                if why:
                    log.warning("Slack Socket Mode: %s; making a new connection", why)
                    self.replace()
            except Exception:
                log.exception("Slack Socket Mode: the connection check failed; trying again later")

    def check(self) -> str:
        """Why the connection must be re-made ("" when it is fine); pings and calls auth.test."""
        handler = self.handler
        if handler is None:
            return "no connection"
        try:
            self.bolt.client.auth_test()
        except SlackApiError as exc:
            log.error("Slack Socket Mode: auth.test refused the bot token (%s)", exc.response.get("error"))
        except (SlackClientError, OSError) as exc:
            log.warning("Slack Socket Mode: auth.test failed (%s)", exc)
        session = handler.client.current_session
        if session is None or not handler.client.is_connected():
            return "the connection is closed"
        now = time.time()
        with self._lock:
            last = max(self._heard, session.last_ping_pong_time or 0.0)
            stuck = [t for t in self._waiting.values() if now - t > self.quiet_seconds]
        if stuck:
            return f"{len(stuck)} delivered request(s) not handled for {self.quiet_seconds:.0f} s"
        if now - last > self.quiet_seconds:
            return f"nothing received for {now - last:.0f} s"
        session.ping(f"{session.session_id}:{now}")  # its pong sets last_ping_pong_time
        return ""

    def replace(self) -> None:
        old = self.handler
        self.handler = None
        if old is not None:
            threading.Thread(target=_close_quietly, args=(old,), daemon=True).start()
        self._connect()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        old, self.handler = self.handler, None
        if old is not None:
            closer = threading.Thread(target=_close_quietly, args=(old,), daemon=True)
            closer.start()
            closer.join(timeout=3)


def _close_quietly(handler: SocketModeHandler) -> None:
    try:
        handler.close()
    except Exception:
        log.debug("closing an old Socket Mode client failed", exc_info=True)
