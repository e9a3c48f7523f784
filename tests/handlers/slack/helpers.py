"""The Slack app under test: a real App (store, SMTP client against the local server), the fake
gatherer, the front end's WebClient pointed at the local Web API stand-in, and builders for the
payloads Slack sends (dispatched to the Bolt app with real signatures)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_bolt import BoltRequest, BoltResponse

from bot.app import App
from bot.config import Config, from_dict
from handlers.slack import SlackFrontEnd, ids
from tests.support.fakes import FakeGatherer, make_app
from tests.support.slack_api import TEAM, SlackApi, form, interactive, signed
from tests.support.smtp import SmtpServer

CHANNEL = "C0DRAFTS"
ALLOWED = "U0ALLOWED"
OTHER = "U0OTHER"


def slack_cfg(tmp_path: Path, smtp: SmtpServer | None, **slack: Any) -> Config:
    data: dict[str, Any] = {
        "report": {"incident_dir": str(tmp_path / "incident"), "reporter_email": "security@mydomain.example"},
        "slack": {
            "enabled": True,
            "mode": "http",
            "channel": CHANNEL,
            "senders": [ALLOWED],
            "progress_seconds": 0.0,
            **slack,
        },
    }
    if smtp is not None:
        data["smtp"] = smtp.config_dict()
    return from_dict(data)


@dataclass
class Harness:
    api: SlackApi
    app: App
    front: SlackFrontEnd
    gatherer: FakeGatherer

    def dispatch(
        self, body: str, *, json_body: bool = False, retry: int | None = None, at: float | None = None
    ) -> BoltResponse:
        ctype = "application/json" if json_body else "application/x-www-form-urlencoded"
        headers = signed(body, at=at, retry=retry, content_type=ctype)
        return self.front.bolt.dispatch(
            BoltRequest(body=body, headers={k.lower(): v for k, v in headers.items()})
        )

    def idle(self, timeout: float = 15.0) -> None:
        """Wait for the background jobs (drafting, sending) to finish."""
        assert self.front.wait_idle(timeout), "Slack listeners or jobs still running"

    # --- what Slack sends -------------------------------------------------------------------

    def command(self, text: str, *, user: str = ALLOWED, channel: str = "C0ELSEWHERE") -> BoltResponse:
        return self.dispatch(
            form(
                token="x",
                team_id=TEAM,
                channel_id=channel,
                user_id=user,
                command=ids.COMMAND,
                text=text,
                response_url=self.api.response_url("cmd"),
                trigger_id=f"trig-{time.monotonic_ns()}",
            )
        )

    def message(
        self,
        text: str,
        *,
        user: str = "U0PASTER",
        channel: str = CHANNEL,
        ts: str = "1699999999.000100",
        event_id: str = "Ev0001",
        retry: int | None = None,
        **extra: Any,
    ) -> BoltResponse:
        event = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "channel_type": "channel",
            **extra,
        }
        body = {
            "token": "x",
            "team_id": TEAM,
            "api_app_id": "A0TEST",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1,
            "event": event,
        }
        return self.dispatch(json.dumps(body), json_body=True, retry=retry)

    def click(
        self,
        action_id: str,
        incident_id: str,
        *,
        user: str = ALLOWED,
        ts: str = "",
        ticked: list[str] | None = None,
    ) -> BoltResponse:
        ts = ts or self.message_ts(incident_id)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": TEAM},
            "api_app_id": "A0TEST",
            "token": "x",
            "trigger_id": f"trig-{time.monotonic_ns()}",
            "response_url": self.api.response_url(user),
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
            "channel": {"id": CHANNEL},
            "message": {"ts": ts},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "incident_actions",
                    "value": incident_id,
                    "action_ts": "1",
                }
            ],
        }
        if ticked is not None:
            payload["state"] = {
                "values": {
                    f"{ids.ACTION_RECIPIENTS}.{incident_id}": {
                        ids.ACTION_RECIPIENTS: {
                            "type": "checkboxes",
                            "selected_options": [{"value": a} for a in ticked],
                        }
                    }
                }
            }
        return self.dispatch(interactive(payload))

    def tick(self, incident_id: str, ticked: list[str], *, user: str = ALLOWED) -> BoltResponse:
        ts = self.message_ts(incident_id)
        payload = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": TEAM},
            "token": "x",
            "trigger_id": "t",
            "response_url": self.api.response_url(user),
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
            "channel": {"id": CHANNEL},
            "message": {"ts": ts},
            "actions": [
                {
                    "type": "checkboxes",
                    "action_id": ids.ACTION_RECIPIENTS,
                    "block_id": f"{ids.ACTION_RECIPIENTS}.{incident_id}",
                    "action_ts": "1",
                    "selected_options": [{"value": a} for a in ticked],
                }
            ],
        }
        return self.dispatch(interactive(payload))

    def submit(
        self, callback_id: str, values: dict[str, str], meta: dict[str, str], *, user: str = ALLOWED
    ) -> BoltResponse:
        state = {k: {k: {"type": "plain_text_input", "value": v}} for k, v in values.items()}
        payload = {
            "type": "view_submission",
            "user": {"id": user},
            "team": {"id": TEAM},
            "token": "x",
            "trigger_id": "t",
            "view": {
                "id": "V0TEST",
                "type": "modal",
                "callback_id": callback_id,
                "hash": "h-1",
                "private_metadata": json.dumps(meta),
                "state": {"values": state},
            },
        }
        return self.dispatch(interactive(payload))

    def shortcut(self, text: str, *, user: str = ALLOWED, ts: str = "1699999999.000200") -> BoltResponse:
        payload = {
            "type": "message_action",
            "callback_id": ids.SHORTCUT_REPORT,
            "user": {"id": user},
            "team": {"id": TEAM},
            "token": "x",
            "channel": {"id": CHANNEL},
            "trigger_id": "t",
            "response_url": self.api.response_url("shortcut"),
            "message": {"type": "message", "ts": ts, "user": "U0PASTER", "text": text},
        }
        return self.dispatch(interactive(payload))

    # --- what the app did -------------------------------------------------------------------

    def message_ts(self, incident_id: str) -> str:
        links = self.app.store().links(incident_id, ids.LINK_MESSAGE)
        assert links, f"{incident_id} was never shown in Slack"
        return links[0].partition("/")[2]

    def drafts(self) -> list[str]:
        return [i.id for i in self.app.incidents()]

    def last_blocks(self, ts: str) -> list[dict[str, Any]]:
        """The blocks the message ``ts`` shows now (its last post or update)."""
        shown: list[dict[str, Any]] = []
        for c in self.api.calls:
            updated = c.method == "chat.update" and c.params.get("ts") == ts
            if updated or (c.method == "chat.postMessage" and _posted_ts(self.api, c) == ts):
                shown = c.params["blocks"]
        return shown

    def ephemeral_texts(self) -> list[str]:
        return [c["text"] for c in self.api.calls_to("response_url")] + [
            c["text"] for c in self.api.calls_to("chat.postEphemeral")
        ]


def _posted_ts(api: SlackApi, call: Any) -> str:
    """chat.postMessage answers carry ts numbered in call order: the n-th post got ...n."""
    posts = [c for c in api.calls if c.method == "chat.postMessage"]
    return f"1700000000.{posts.index(call) + 1:06d}" if call in posts else ""


def make_harness(
    tmp_path: Path,
    api: SlackApi,
    smtp: SmtpServer | None,
    *,
    gatherer: FakeGatherer | None = None,
    **slack: Any,
) -> Harness:
    cfg = slack_cfg(tmp_path, smtp, **slack)
    gatherer = gatherer or FakeGatherer()
    app = make_app(tmp_path, smtp, gatherer=gatherer, cfg=cfg)
    front = SlackFrontEnd(cfg, app, client=api.client(), signing_secret="test-signing-secret")
    return Harness(api, app, front, gatherer)


def texts(blocks: list[dict[str, Any]]) -> str:
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "text" and isinstance(x, str):
                    out.append(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(blocks)
    return "\n".join(out)


def action_ids(blocks: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if "action_id" in v and isinstance(v["action_id"], str):
                found.add(v["action_id"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(blocks)
    return found
