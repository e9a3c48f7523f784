"""The one place that decides what a person sees when something fails, for every listener.

Bolt's global error handler (``app.error``) and the background jobs that listeners start both end
here. A ``UserError`` (a typed ``Conflict`` too: "INC-... was already sent by slack:U123 at ... to
...") is written for a person: it is shown to the person who acted, ephemerally, as it is. Anything
else shows only "internal error" and the incident id; its traceback goes to the log. An exception's
text is never posted in a channel.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.errors import UserError
from bot.text import mrkdwn_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Where:
    """Who acted and where, read from any request's body: enough to answer that person."""

    user: str = ""
    channel: str = ""
    message_ts: str = ""
    response_url: str = ""
    trigger_id: str = ""
    incident_id: str = ""
    meta: str = ""   # a modal's private_metadata

    @classmethod
    def of(cls, body: dict[str, Any]) -> Where:
        event = body.get("event") or {}
        user = body.get("user_id") or (body.get("user") or {}).get("id") or event.get("user", "")
        channel = (body.get("channel_id") or (body.get("channel") or {}).get("id")
                   or (body.get("container") or {}).get("channel_id") or event.get("channel", ""))
        ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts", "")
        actions = body.get("actions") or [{}]
        value = actions[0].get("value", "") if isinstance(actions[0], dict) else ""
        meta = (body.get("view") or {}).get("private_metadata", "")
        inc = value if isinstance(value, str) and value.upper().startswith("INC-") else ""
        if not inc and meta:
            inc = _meta(meta).get("id", "")
        return cls(user=str(user or ""), channel=str(channel or ""), message_ts=str(ts or ""),
                   response_url=str(body.get("response_url") or ""),
                   trigger_id=str(body.get("trigger_id") or ""), incident_id=inc[:40], meta=meta)


def _meta(text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def shown(error: BaseException, incident_id: str = "") -> str:
    """The text a person is shown for ``error`` (escaped for mrkdwn)."""
    if isinstance(error, UserError):
        return ":warning: " + mrkdwn_line(str(error), 1500)
    where = f" with {mrkdwn_line(incident_id, 40)}" if incident_id else ""
    return f":x: internal error{where}; the details are in the bot's log."


class ErrorReporter:
    """Logs an error and tells the person who acted, in the most private way the request allows."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def report(self, error: BaseException, where: Where) -> None:
        if isinstance(error, UserError):
            log.info("refused for %s (%s): %s", where.user or "?", where.incident_id or "-", error)
        else:
            log.error("failed for %s (%s)", where.user or "?", where.incident_id or "-",
                      exc_info=(type(error), error, error.__traceback__))
        self.tell(where, shown(error, where.incident_id))

    def tell(self, where: Where, text: str) -> None:
        """An ephemeral note to the person: through the request's response_url, else chat.postEphemeral
        in the channel, else a direct message (a modal's submission has neither)."""
        try:
            if where.response_url:
                WebhookClient(where.response_url, timeout=10).send(
                    text=text, response_type="ephemeral", replace_original=False)
            elif where.channel and where.user:
                self.client.chat_postEphemeral(channel=where.channel, user=where.user, text=text)
            elif where.user:
                self.client.chat_postMessage(channel=where.user, text=text)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not tell %s: %s", where.user or "?", exc)

    def bolt_handler(self, error: Exception, body: dict[str, Any]) -> None:
        """Bolt's global error handler (``app.error``): every listener's exceptions end here."""
        self.report(error, Where.of(body if isinstance(body, dict) else {}))
