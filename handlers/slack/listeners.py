"""Registers every listener on the Bolt app: the intake ones here (/incident, pasted logs, the Report
incident shortcut, the retry filter), the draft's buttons and modals in actions.py.

Each listener acknowledges first and hands anything slow to ``Jobs``; exceptions reach Bolt's global
error handler (``errors.ErrorReporter.bolt_handler``), which is also where failed jobs end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import App as BoltApp
from slack_bolt import BoltRequest, BoltResponse
from slack_sdk import WebClient

from bot.app import App
from bot.config import SlackConfig
from bot.models import Origin
from handlers.slack import ids
from handlers.slack.access import Senders
from handlers.slack.errors import ErrorReporter, Where
from handlers.slack.intake import DraftRunner, Request, unslack
from handlers.slack.jobs import Busy, Jobs
from handlers.slack.messages import Messages

log = logging.getLogger(__name__)
BUSY = ":hourglass: The bot has too much to do right now; try again in a minute."


@dataclass
class Parts:
    """What the listeners share: the core, Slack's client and the front end's own helpers."""

    app: App
    cfg: SlackConfig
    client: WebClient
    messages: Messages
    runner: DraftRunner
    jobs: Jobs
    errors: ErrorReporter
    senders: Senders
    seen: Seen


class Seen:
    """Event ids delivered lately (bounded, an hour): a retried delivery of one is not drafted twice."""

    def __init__(self, size: int = 5000, ttl: float = 3600.0) -> None:
        self._ids: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self.size, self.ttl = size, ttl

    def add(self, event_id: str) -> bool:
        """True the first time ``event_id`` is seen."""
        now = time.monotonic()
        with self._lock:
            while self._ids and (len(self._ids) >= self.size
                                 or now - next(iter(self._ids.values())) > self.ttl):
                self._ids.popitem(last=False)
            if event_id in self._ids:
                return False
            self._ids[event_id] = now
            return True


def _retry_filter(p: Parts) -> Callable[..., BoltResponse | None]:
    def drop_repeats(body: dict[str, Any], request: BoltRequest,
                     next: Callable[[], None]) -> BoltResponse | None:
        """An event Slack delivers again (X-Slack-Retry-Num: our ack was late, or we were down) is
        dropped when its first delivery was seen here, or its message already has an incident."""
        if body.get("type") == "event_callback":
            first = p.seen.add(str(body.get("event_id", "")))
            retry = request.headers.get("x-slack-retry-num")
            event = body.get("event") or {}
            origin = Origin("slack", f"{event.get('channel', '')}/{event.get('ts', '')}")
            if not first or (retry and p.app.store().incidents_from(origin)):
                log.info("dropped a repeated delivery of %s (retry %s)", body.get("event_id"), retry)
                return BoltResponse(status=200, body="")
        next()
        return None

    return drop_repeats


def _submit(p: Parts, req: Request) -> bool:
    try:
        p.jobs.submit(lambda: _run(p, req), req.where)
    except Busy as exc:
        log.warning("refused a draft request: %s", exc)
        return False
    return True


def _run(p: Parts, req: Request) -> None:
    p.runner.run(req)


def register(bolt: BoltApp, p: Parts) -> None:
    from handlers.slack import actions

    bolt.use(_retry_filter(p))
    bolt.error(p.errors.bolt_handler)

    @bolt.command(ids.COMMAND)
    def on_command(ack: Any, body: dict[str, Any], command: dict[str, Any]) -> None:
        text = unslack(str(command.get("text") or "")).strip()
        if not text:
            ack(text=f"Usage: {ids.COMMAND} <IP address or host name>, or log lines pasted after it.")
            return
        where = Where.of(body)
        origin = Origin("slack", f"{where.channel}/command-{where.trigger_id[:60]}", detail=ids.COMMAND)
        if not _submit(p, Request(text, origin, where.user, where, explicit=True, how=ids.COMMAND)):
            ack(text=BUSY)
            return
        ack(text=f":mag: Looking into it; the draft will be posted in <#{p.cfg.channel}>.")

    @bolt.shortcut(ids.SHORTCUT_REPORT)
    def on_shortcut(ack: Any, body: dict[str, Any]) -> None:
        ack()
        where = Where.of(body)
        message = body.get("message") or {}
        text = unslack(str(message.get("text") or ""))
        origin = Origin("slack", f"{where.channel}/{message.get('ts', '')}", detail="Report incident")
        if not text.strip():
            p.errors.tell(where, "That message holds no text to look at.")
        elif not _submit(p, Request(text, origin, where.user, where, explicit=True, how="Report incident")):
            p.errors.tell(where, BUSY)

    @bolt.event(ids.EVENT_LISTENED)
    def on_message(event: dict[str, Any]) -> None:
        if not _wanted(p.cfg, event):
            return
        channel, user = str(event["channel"]), str(event["user"])
        where = Where(user=user, channel=channel)
        origin = Origin("slack", f"{channel}/{event.get('ts', '')}", detail="pasted")
        is_dm = event.get("channel_type") == "im"
        req = Request(unslack(str(event["text"])), origin, user, where, explicit=is_dm,
                      how="direct message" if is_dm else "pasted message")
        if not _submit(p, req):
            p.errors.tell(where, BUSY)

    actions.register(bolt, p)


def _wanted(cfg: SlackConfig, event: dict[str, Any]) -> bool:
    """A person's own new message with text, in the drafts channel, a listened channel or a DM; never a
    bot's (ours included), an edit, a join, a thread reply (conversation about a draft)."""
    if event.get("subtype") or event.get("bot_id") or event.get("bot_profile"):
        return False
    if not event.get("user") or not event.get("text") or not event.get("channel"):
        return False
    if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        return False
    channel = event["channel"]
    return event.get("channel_type") == "im" or channel == cfg.channel or channel in cfg.listen_channels
