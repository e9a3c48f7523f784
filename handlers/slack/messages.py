"""Posting and updating an incident's message: drawn from the store every time, linked in the store.

An incident's message is always drawn from what the store holds (``App.show``), so whoever changed
the incident (a button, the command line, the mailbox) the next update shows the truth. Where each
message is kept in the store's links (kind ``slack-message``, ref ``<channel>/<ts>``), so a click on
any of them, a reply filed by the mailbox or a merge of new evidence finds them again.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient

from bot.app import App, IncidentView
from handlers.slack import blocks, ids

log = logging.getLogger(__name__)


def ref(channel: str, ts: str) -> str:
    return f"{channel}/{ts}"


def split(link: str) -> tuple[str, str]:
    channel, _, ts = link.partition("/")
    return channel, ts


class Messages:
    def __init__(self, app: App, client: WebClient, channel: str) -> None:
        self.app = app
        self.client = client
        self.channel = channel

    def post(self, channel: str, blocks_: list[dict[str, Any]], text: str, *, thread_ts: str = "") -> str:
        """A new message of ours; its ts. Links are never unfurled (nothing untrusted becomes a preview)."""
        kw: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        resp = self.client.chat_postMessage(channel=channel, blocks=blocks_, text=text, unfurl_links=False,
                                            unfurl_media=False, **kw)
        return str(resp["ts"])

    def update(self, channel: str, ts: str, blocks_: list[dict[str, Any]], text: str) -> None:
        self.client.chat_update(channel=channel, ts=ts, blocks=blocks_, text=text)

    def show_incident(self, incident_id: str, *, channel: str = "", ts: str = "", thread_ts: str = "",
                      view: IncidentView | None = None) -> str:
        """The incident's message: ``ts`` given: that message becomes it (updated in place); else a
        new one in ``channel`` (default: the drafts channel). Linked to the incident; its ref."""
        view = view or self.app.show(incident_id)
        channel = channel or self.channel
        body, text = blocks.incident_blocks(view), blocks.incident_text(view.incident)
        if ts:
            self.update(channel, ts, body, text)
        else:
            ts = self.post(channel, body, text, thread_ts=thread_ts)
        self.app.store().link(view.incident.id, ids.LINK_MESSAGE, ref(channel, ts))
        return ref(channel, ts)

    def linked(self, incident_id: str) -> list[str]:
        return self.app.store().links(incident_id, ids.LINK_MESSAGE)

    def refresh(self, incident_id: str, *, also: tuple[str, str] | None = None) -> None:
        """Draw every message of the incident again from the store (and ``also`` that one)."""
        view = self.app.show(incident_id)
        body, text = blocks.incident_blocks(view), blocks.incident_text(view.incident)
        seen = set()
        targets = [split(link) for link in self.linked(view.incident.id)]
        if also and also[0] and also[1]:
            targets.append(also)
        for channel, ts in targets:
            if (channel, ts) in seen:
                continue
            seen.add((channel, ts))
            self.update(channel, ts, body, text)
