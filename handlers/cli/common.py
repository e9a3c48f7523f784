"""What the command-line commands share: who acts, the App, and how an incident is printed."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.app import IncidentView
from bot.contacts import explain
from bot.errors import UserError
from bot.lifecycle import Actor, when
from bot.models import Contact, Incident, State
from bot.store.codec import to_data
from bot.text import visible_line, visible_text


def actor() -> Actor:
    """``cli:<login>``: the person at this terminal."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): say so rather than guess
        login = "unknown"
    return Actor.cli(login)


def parse_states(text: str | None) -> tuple[State, ...]:
    if not text:
        return ()
    states = []
    for word in text.split(","):
        try:
            states.append(State(word.strip().lower()))
        except ValueError:
            raise UserError(f"unknown state {word.strip()!r}: use one of "
                            f"{', '.join(s.value for s in State)}") from None
    return tuple(states)


def stamp(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "-"


def summary_json(inc: Incident) -> dict[str, Any]:
    return {"id": inc.id, "state": inc.state.value, "ips": list(inc.ips), "recipients": list(inc.recipients),
            "delivery": inc.delivery, "created": inc.created.isoformat(), "updated": inc.updated.isoformat(),
            "sent": inc.sent.isoformat() if inc.sent else None, "subject": inc.subject, "domain": inc.domain,
            "folder": inc.folder}


def contact_lines(contacts: Sequence[Contact], chosen: Sequence[str]) -> list[str]:
    """Numbered contacts, ``*`` marking those the report goes to (the numbers answer the send question)."""
    wanted = {a.lower() for a in chosen}
    return [f" {n:>2} {'*' if c.address.lower() in wanted else ' '} {visible_line(explain(c))}"
            for n, c in enumerate(contacts, 1)]


def print_view(view: IncidentView, *, as_json: bool) -> None:
    inc, draft = view.incident, view.draft
    if as_json:
        doc = {**summary_json(inc), "body": draft.body, "description": draft.description,
               "contacts": [to_data(c) for c in draft.contacts],
               "attachments": [to_data(a) for a in draft.attachments],
               "findings": [{"ip": t.candidate.ip, "count": t.candidate.count,
                             "first_seen": to_data(t.candidate.evidence.first_seen),
                             "last_seen": to_data(t.candidate.evidence.last_seen),
                             "incomplete": list(t.findings.incomplete)} for t in draft.targets],
               "origins": [to_data(o) for o in view.origins],
               "history": [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "detail": e.detail}
                           for e in view.history],
               "replies": [{**to_data(r), "received": r.received.isoformat()} for r in view.replies]}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    out = [f"{inc.id}  {inc.state.value}  {', '.join(inc.ips)}",
           f"  created {stamp(inc.created)}, updated {stamp(inc.updated)}"
           + (f", sent {stamp(inc.sent)}" if inc.sent else ""),
           f"  folder  {inc.folder}"]
    if view.origins:
        out.append("  from    " + "; ".join(f"{o.kind} {o.ref}".strip() for o in view.origins[:5])
                   + (f" (+{len(view.origins) - 5} more)" if len(view.origins) > 5 else ""))
    if draft.incomplete:
        out.append("  incomplete findings: " + "; ".join(draft.incomplete))
    out.append("")
    out.append("Recipients:" if inc.recipients else "Recipients: none chosen")
    out += [f"  {addr}  ({status})" for addr, status in inc.delivery.items()]
    out.append("Contacts found (* chosen):" if draft.contacts else "Contacts found: none")
    out += contact_lines(draft.contacts, inc.recipients)
    out += ["", f"Subject: {draft.subject}", "", draft.body.rstrip("\n"), ""]
    if draft.attachments:
        out.append("Attachments: " + ", ".join(f"{a.filename} ({a.content_type})" for a in draft.attachments))
    if view.replies:
        out.append("Replies:")
        out += [f"  {stamp(r.received)}  {r.kind or 'reply'}{f' {r.ticket}' if r.ticket else ''}  "
                f"{r.sender}  {r.path}" for r in view.replies]
    out.append("History:")
    out += [f"  {when(e.at)}  {e.actor:<20} {e.action:<16} {e.detail}" for e in view.history]
    if not view.history:
        out.append("  (none recorded: written before the history was kept)")
    print(visible_text("\n".join(out)))
