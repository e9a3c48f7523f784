"""The incident's life: who may do what in which state, and the conflicts a person is shown.

Pure: the store applies these rules inside its transactions; front ends show the errors as they are.

    draft ──send──> sending ──delivered──> sent ──answer──> answered
      │  ^             │ └──refused──> failed ──send──> sending
      │  └──reopen──┐  └──settle --sent──> sent / settle --not-sent──> draft
      └──skip──> skipped <──skip── failed

A draft may also be edited, re-rendered with new evidence (merge), or given a description; a failed
incident may be edited before it is sent again. Every change is an event in the incident's history,
with its actor and time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from bot.errors import UserError
from bot.models import State


class Action(StrEnum):
    CREATE = "create"
    MERGE = "merge"             # the same attacker seen again: evidence added to the open draft
    EDIT = "edit"               # recipients, subject, body or description changed by a person
    SEND = "send"               # a person (or a batch run) asked to send: state sending is recorded
    DELIVERED = "delivered"     # the SMTP server took it for at least one recipient
    REFUSED = "refused"         # every recipient refused, or the server failed for good
    SKIP = "skip"
    REOPEN = "reopen"
    SETTLE_SENT = "settle-sent"          # a person checked the relay: the interrupted send went out
    SETTLE_NOT_SENT = "settle-not-sent"  # ... it did not: back to a draft
    ANSWER = "answer"           # a reply was filed (a human answer moves sent -> answered)
    NOTE = "note"               # anything worth keeping in the history that changes no state


# (state, action) -> the state after it. What is not here is refused.
TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.DRAFT, Action.MERGE): State.DRAFT,
    (State.DRAFT, Action.EDIT): State.DRAFT,
    (State.FAILED, Action.EDIT): State.FAILED,
    (State.DRAFT, Action.SEND): State.SENDING,
    (State.FAILED, Action.SEND): State.SENDING,
    (State.SENDING, Action.DELIVERED): State.SENT,
    (State.SENDING, Action.REFUSED): State.FAILED,
    (State.DRAFT, Action.SKIP): State.SKIPPED,
    (State.FAILED, Action.SKIP): State.SKIPPED,
    (State.SKIPPED, Action.REOPEN): State.DRAFT,
    (State.FAILED, Action.REOPEN): State.DRAFT,
    (State.SENDING, Action.SETTLE_SENT): State.SENT,
    (State.SENDING, Action.SETTLE_NOT_SENT): State.DRAFT,
    (State.SENT, Action.ANSWER): State.ANSWERED,
    (State.ANSWERED, Action.ANSWER): State.ANSWERED,
}
# Actions that keep any state (a reply filed with a skipped or failed incident is still kept).
ANY_STATE = frozenset({Action.NOTE})
# States in which the report went out, or may have: they count for suppression.
REPORTED = (State.SENDING, State.SENT, State.ANSWERED)
OPEN = (State.DRAFT,)


def next_state(state: State, action: Action) -> State | None:
    """The state after ``action``, or None when it is not allowed in ``state``."""
    if action in ANY_STATE:
        return state
    return TRANSITIONS.get((state, action))


# --- who acts --------------------------------------------------------------------------------

_ACTOR = re.compile(r"^(?:cli:[A-Za-z0-9._@-]{1,64}|slack:[A-Z0-9]{2,32}|mailbox|scheduler"
                    r"|mail:[a-z0-9._@+-]{1,120})$")


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: ``cli:<login>``, ``slack:<user id>``, ``mailbox``, ``scheduler``, or
    ``mail:<operator address>`` (an approval by mail). Recorded with every event."""

    name: str

    def __post_init__(self) -> None:
        if not _ACTOR.match(self.name):
            raise UserError(f"not a valid actor: {self.name[:80]!r}")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def cli(cls, login: str) -> Actor:
        cleaned = re.sub(r"[^A-Za-z0-9._@-]", "_", login)[:64] or "unknown"
        return cls(f"cli:{cleaned}")

    @classmethod
    def slack(cls, user_id: str) -> Actor:
        return cls(f"slack:{user_id}")


MAILBOX = Actor("mailbox")
SCHEDULER = Actor("scheduler")


# --- conflicts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One line of an incident's history."""

    at: datetime
    actor: str
    action: str
    detail: str = ""


def when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class Conflict(UserError):
    """The incident is not in a state that allows this. The text is written for a person and says
    who did what and when; ``state`` and ``event`` let a front end show it its own way."""

    def __init__(self, message: str, *, incident_id: str, state: State, event: Event | None = None) -> None:
        super().__init__(message)
        self.incident_id = incident_id
        self.state = state
        self.event = event


class AlreadySent(Conflict):
    """A send was asked for an incident that went out (or is going out) already."""


class Suppressed(Conflict):
    """Another incident reported the same address (or contact) within the suppression window."""

    def __init__(self, message: str, *, incident_id: str, state: State, other: str) -> None:
        super().__init__(message, incident_id=incident_id, state=state)
        self.other = other


def refusal(incident_id: str, state: State, action: Action, history: list[Event],
            recipients: tuple[str, ...] = ()) -> Conflict:
    """The conflict to raise when ``action`` is not allowed in ``state``, told from the history."""
    last = _last(history, _CAUSES.get(state, ()))
    by = f" by {last.actor} at {when(last.at)}" if last else ""
    if action is Action.SEND and state in (State.SENT, State.ANSWERED):
        to = f" to {', '.join(recipients)}" if recipients else ""
        return AlreadySent(f"{incident_id} was already sent{by}{to}", incident_id=incident_id, state=state,
                           event=last)
    if action is Action.SEND and state is State.SENDING:
        return AlreadySent(f"{incident_id} is being sent (started{by}); if that run died, check the relay's "
                           f"log and use 'incident settle {incident_id} --sent' or '--not-sent'",
                           incident_id=incident_id, state=state, event=last)
    reason = f" ({last.detail})" if last and last.detail and state is State.SKIPPED else ""
    what = {State.SKIPPED: "skipped", State.SENT: "sent", State.ANSWERED: "answered", State.FAILED: "failed",
            State.DRAFT: "a draft", State.SENDING: "being sent"}[state]
    return Conflict(f"{incident_id} is {what}{by}{reason}: cannot {action.value} it",
                    incident_id=incident_id, state=state, event=last)


# For each state, the actions that lead to it: the event that explains "by whom, when".
_CAUSES: dict[State, tuple[Action, ...]] = {
    State.SENT: (Action.DELIVERED, Action.SETTLE_SENT),
    State.ANSWERED: (Action.DELIVERED, Action.SETTLE_SENT),
    State.SENDING: (Action.SEND,),
    State.SKIPPED: (Action.SKIP,),
    State.FAILED: (Action.REFUSED,),
    State.DRAFT: (Action.CREATE, Action.REOPEN, Action.SETTLE_NOT_SENT),
}


def _last(history: list[Event], actions: tuple[Action, ...]) -> Event | None:
    for event in reversed(history):
        if event.action in actions:
            return event
    return None
