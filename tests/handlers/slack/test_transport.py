"""One test per transport: HTTP mode through a real local server with real signatures (a stale
timestamp and a bad signature refused), Socket Mode through a local websocket server, with the
watchdog re-making a connection that went quiet."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.slack import SlackFrontEnd, ids
from tests.handlers.slack.helpers import ALLOWED, CHANNEL, slack_cfg
from tests.support.fakes import FakeGatherer, make_app
from tests.support.slack_api import APP_TOKEN, TEAM, SlackApi, SocketModeServer, form, signed
from tests.support.smtp import SmtpServer


def _post(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _command(api: SlackApi, text: str) -> dict[str, str]:
    return {
        "token": "x",
        "team_id": TEAM,
        "channel_id": "C0ELSEWHERE",
        "user_id": ALLOWED,
        "command": ids.COMMAND,
        "text": text,
        "response_url": api.response_url("cmd"),
        "trigger_id": f"trig-{time.monotonic_ns()}",
    }


@pytest.fixture
def http_front(tmp_path: Path, api: SlackApi, smtp: SmtpServer) -> Iterator[SlackFrontEnd]:
    cfg = slack_cfg(tmp_path, smtp, mode="http", http_port=0)
    app = make_app(tmp_path, smtp, gatherer=FakeGatherer(), cfg=cfg)
    front = SlackFrontEnd(cfg, app, client=api.client(), signing_secret="test-signing-secret")
    front.start()
    yield front
    front.stop()
    app.close()


def test_http_mode_acks_signed_requests_and_refuses_stale_or_forged_ones(
    http_front: SlackFrontEnd, api: SlackApi
) -> None:
    assert http_front.http is not None
    url = f"http://127.0.0.1:{http_front.http.port}{http_front.cfg.http_path}"
    body = form(**_command(api, "211.191.28.13"))
    status, text = _post(url, body, signed(body))
    assert status == 200 and "Looking into it" in text
    stale = form(**_command(api, "45.33.32.9"))
    assert _post(url, stale, signed(stale, at=time.time() - 6 * 60))[0] == 401
    forged = signed(stale)
    forged["X-Slack-Signature"] = "v0=" + "0" * 64
    assert _post(url, stale, forged)[0] == 401
    assert _post(url, stale, signed(stale, secret="another-secret"))[0] == 401
    assert _post(url.replace("/slack/events", "/other"), stale, signed(stale))[0] == 404
    with socket.create_connection(("127.0.0.1", http_front.http.port), timeout=5) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3145728\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 413"), "refused before 3 MB are read"
    assert http_front.wait_idle()
    assert [i.ips for i in http_front.app.incidents()] == [("211.191.28.13",)], (
        "only the signed request drafted"
    )


def test_socket_mode_delivers_and_a_quiet_connection_is_made_again(
    tmp_path: Path, api: SlackApi, smtp: SmtpServer
) -> None:
    cfg = slack_cfg(tmp_path, smtp, mode="socket", socket_check_seconds=0.3, socket_quiet_seconds=1.5)
    app = make_app(tmp_path, smtp, gatherer=FakeGatherer(), cfg=cfg)
    with SocketModeServer() as ws:
        api.socket_url = ws.url
        front = SlackFrontEnd(cfg, app, client=api.client(), app_token=APP_TOKEN)
        try:
            front.start()
            ws.wait_connections(1)
            ack = ws.wait_ack(ws.send("slash_commands", _command(api, "211.191.28.13")))
            assert "Looking into it" in ack["payload"]["text"]
            # an event delivered twice (Socket Mode's retry_attempt) drafts once
            event = {
                "type": "event_callback",
                "team_id": TEAM,
                "event_id": "EvSock",
                "event_time": 1,
                "event": {
                    "type": "message",
                    "channel": CHANNEL,
                    "user": "U0PASTER",
                    "ts": "1699999999.1",
                    "text": "sshd[1]: Failed password for root from 45.33.32.9 port 22",
                    "channel_type": "channel",
                },
            }
            ws.wait_ack(ws.send("events_api", event))
            ws.wait_ack(ws.send("events_api", event, retry=1))
            assert front.wait_idle()
            assert sorted(i.ips for i in app.incidents()) == [("211.191.28.13",), ("45.33.32.9",)]

            ws.relay.freeze()  # the connection stays open but nothing passes any more
            ws.wait_connections(2, timeout=15)
            assert len(api.calls_to("apps.connections.open")) == 2
            # (the server sees the new connection before the client's connect() returns and counts it)
            deadline = time.monotonic() + 10
            while front.socket is not None and front.socket.connections < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert front.socket is not None and front.socket.connections == 2
            time.sleep(0.2)
            ack = ws.wait_ack(ws.send("slash_commands", _command(api, "45.33.32.10")))
            assert "Looking into it" in ack["payload"]["text"]
            assert front.wait_idle()
            assert len(app.incidents()) == 3
        finally:
            started = time.monotonic()
            front.stop()
            assert time.monotonic() - started < 8
            app.close()
