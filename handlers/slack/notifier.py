"""The Slack side of ``bot.notify.Notifier``: what the mailbox watcher and the scheduled jobs tell.

- ``draft_ready``: a draft made from an alert mail is posted in the drafts channel (evidence added to
  a draft already shown there updates its message in place);
- ``reply_filed``: a reply filed with an incident appears in its message's thread (sender, class,
  ticket, first lines); a bounce's proposed draft to the next contact comes with a Send button;
- ``remind``: the list of sent incidents without a human answer.

As the protocol asks, a failure of Slack is logged and never raised: the incident is stored either
way and ``incident list`` shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.app import App
from bot.flow import Outcome
from bot.models import Incident
from bot.text import mrkdwn_line
from handlers.slack import blocks, ids
from handlers.slack.messages import Messages, split

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(self, app: App, messages: Messages, *, now: Callable[[], datetime] | None = None) -> None:
        self.app = app
        self.messages = messages
        self.now = now or app.now

    def draft_ready(self, outcome: Outcome) -> None:
        if outcome.status not in ("drafted", "merged") or not outcome.incident_id:
            return
        try:
            if self.messages.linked(outcome.incident_id):
                self.messages.refresh(outcome.incident_id)
            else:
                self.messages.show_incident(outcome.incident_id)
        except Exception:
            log.exception("could not show %s in Slack", outcome.incident_id)

    def reply_filed(self, incident: Incident, kind: str, sender: str, ticket: str, preview: str,
                    proposed: Outcome | None = None) -> None:
        try:
            self._reply(incident, kind, sender, ticket, preview, proposed)
        except Exception:
            log.exception("could not show a %s of %s in Slack", kind, incident.id)

    def _reply(self, incident: Incident, kind: str, sender: str, ticket: str, preview: str,
               proposed: Outcome | None) -> None:
        links = self.messages.linked(incident.id)
        if links:
            channel, parent = split(links[0])
            self.messages.refresh(incident.id)  # its state may have changed (answered, failed recipient)
        else:  # shown nowhere yet (sent from the command line): show it now, and thread under that
            channel, parent = split(self.messages.show_incident(incident.id))
        view = None
        if proposed is not None and proposed.incident_id and proposed.status in ("drafted", "merged"):
            view = self.app.show(proposed.incident_id)
        text = mrkdwn_line(f"{kind.replace('_', ' ')} filed with {incident.id} from {sender}", 300)
        body = blocks.reply_blocks(self.app.show(incident.id).incident, kind, sender, ticket, preview, view)
        ts = self.messages.post(channel, body, text, thread_ts=parent)
        if view is not None:  # the proposed draft's Send lives in this reply: its message from now on
            self.app.store().link(view.incident.id, ids.LINK_MESSAGE, f"{channel}/{ts}")

    def remind(self, incidents: Sequence[Incident]) -> None:
        if not incidents:
            return
        now = self.now()

        def days(inc: Incident) -> int:
            return max(0, (now - (inc.sent or inc.updated).astimezone(UTC)).days)

        try:
            self.messages.post(self.messages.channel, blocks.reminder_blocks(incidents, days),
                               f"{len(incidents)} sent reports without an answer")
        except Exception:
            log.exception("could not post the reminder in Slack")
