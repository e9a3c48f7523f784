"""Telling people what the bot did: the one interface the core and the jobs announce through.

``incident serve`` builds one Notifier from the configuration: the Slack app's (a draft posted with
Send / Edit / Skip, replies in its thread) where Slack is configured, else a short mail to the
operator addresses. The mailbox watcher and the scheduled jobs call it; they never know which.
A notifier must not raise for a failure of its own channel: it logs and the work goes on (the
incident is stored either way and ``incident list`` shows it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from bot.flow import Outcome
from bot.models import Incident

log = logging.getLogger(__name__)


class Notifier(Protocol):
    def draft_ready(self, outcome: Outcome) -> None:
        """A new draft (status ``drafted``) or evidence added to one (``merged``) waits for a person."""

    def reply_filed(self, incident: Incident, kind: str, sender: str, ticket: str, preview: str,
                    proposed: Outcome | None = None) -> None:
        """A reply was filed with ``incident`` (kind: human, auto_ack, bounce); for a bounce,
        ``proposed`` is the new draft to the next-best contact, if one was made."""

    def remind(self, incidents: Sequence[Incident]) -> None:
        """These sent incidents have had no human answer for report-reminder days."""


class Nobody:
    """Tells no one (``incident serve`` with neither Slack nor operator addresses configured)."""

    def draft_ready(self, outcome: Outcome) -> None:
        log.info("draft %s ready (%s); no one to tell", outcome.incident_id, outcome.status)

    def reply_filed(self, incident: Incident, kind: str, sender: str, ticket: str, preview: str,
                    proposed: Outcome | None = None) -> None:
        log.info("%s filed with %s; no one to tell", kind, incident.id)

    def remind(self, incidents: Sequence[Incident]) -> None:
        log.info("%d incidents without an answer; no one to tell", len(incidents))
