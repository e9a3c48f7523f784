"""Edit a draft (or a failed incident) in $VISUAL/$EDITOR: its recipients, subject and body.

The file opened holds a To: line (comma-separated addresses), a Subject: line, a blank line and the
body; the contacts found are listed in comment lines (starting with #) above them, with where each
came from. What comes back is checked (at least one well-formed address, a subject, a body); when it
is not usable nothing is changed and the error says why. The subject keeps the incident's [INC-...]
token, which is how replies find the incident. Every change is kept in the incident's history.

Exit codes: 0 edited (or nothing changed); 1 when its state does not allow it (already sent...);
2 bad input (unknown incident, no editor, an unusable edit).
"""

from __future__ import annotations

import argparse

from bot.app import App
from bot.config import Config
from bot.errors import UserError
from bot.mail.message import check_address
from bot.models import StoredDraft
from bot.text import visible_line
from handlers.cli.common import actor, contact_lines
from handlers.cli.exits import Exit
from handlers.cli.prompts import edit_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("incident", metavar="ID", help="the incident, e.g. INC-20261128-0001")


def editable(draft: StoredDraft) -> str:
    lines = [f"# {draft.incident_id}: edit the recipients, the subject and the body, then save and quit.",
             "# Lines starting with # (above the To: line) are ignored. Contacts found, * chosen:"]
    lines += [f"#{line}" for line in contact_lines(draft.contacts, draft.recipients)] or ["#  (none)"]
    lines += [f"To: {', '.join(draft.recipients)}", f"Subject: {draft.subject}", "", draft.body]
    return "\n".join(lines)


def parse(text: str) -> tuple[list[str], str, str]:
    """(recipients, subject, body) from an edited file, or a UserError saying what is wrong."""
    head, sep, body = text.partition("\n\n")
    if not sep:
        raise UserError("the edited file has no blank line between the To:/Subject: lines and the body")
    fields: dict[str, str] = {}
    for line in head.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, colon, value = line.partition(":")
        if not colon or name.strip().lower() not in ("to", "subject"):
            raise UserError(f"unexpected line above the body: {visible_line(line)[:80]!r} "
                            f"(only To: and Subject: go there)")
        fields[name.strip().lower()] = value.strip()
    to = [a.strip() for a in fields.get("to", "").split(",") if a.strip()]
    if not to:
        raise UserError("the To: line names nobody: at least one recipient is needed")
    to = [check_address(a, "To:") for a in to]
    if not fields.get("subject"):
        raise UserError("the Subject: line is empty")
    if not body.strip():
        raise UserError("the body is empty")
    return to, fields["subject"], body


def run(args: argparse.Namespace, cfg: Config) -> int:
    with App(cfg) as app:
        draft = app.store().draft(args.incident)
        app.store().history(draft.incident_id)  # an unknown id fails here, before the editor opens
        text = edit_text(editable(draft), name=draft.incident_id)
        if text is None:
            raise UserError(f"{draft.incident_id} is unchanged")
        to, subject, body = parse(text)
        inc = app.edit(draft.incident_id, actor(), recipients=to, subject=subject, body=body)
    print(visible_line(f"{inc.id}: saved ({inc.state.value}; to {', '.join(inc.recipients)})"))
    return Exit.OK
