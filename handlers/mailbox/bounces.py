"""A bounce filed with its incident: which recipient failed, and a draft to the next contact.

The failed recipients come from the delivery-status blocks of a DSN (RFC 3464: each block of a
``message/delivery-status`` part with ``Action: failed``; the email library gives the blocks as a
list, ``get_content()`` would return only the first). An MTA's non-standard bounce has no such
part: then the incident's own recipients that the bounce text names are the failed ones. Each is
marked failed on the incident (with the status and diagnostic), and the core proposes a new draft
of the report to the next-best contact, for a person to send: nothing is ever sent from here, and
a bounce is never answered.
"""

from __future__ import annotations

import logging
from email.message import Message

from bot.app import App
from bot.errors import UserError
from bot.lifecycle import MAILBOX
from bot.models import Incident
from bot.pipeline import Outcome
from bot.text import single_line
from handlers.mailbox.reading import Mail

log = logging.getLogger("incident.mailbox")
_MAX_BLOCKS = 200


def failed_recipients(mail: Mail, recipients: tuple[str, ...]) -> dict[str, str]:
    """address -> why, for the recipients this bounce says failed."""
    found: dict[str, str] = {}
    for part in _walk(mail.message):
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in (blocks if isinstance(blocks, list) else [])[:_MAX_BLOCKS]:
            if not isinstance(block, Message):
                continue
            action = str(block.get("Action", "")).strip().lower()
            rcpt = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
            addr = rcpt.partition(";")[2].strip().strip("<>").lower() if ";" in rcpt else rcpt.strip().lower()
            if action == "failed" and "@" in addr:
                why = " ".join(f"{block.get('Status', '')} {block.get('Diagnostic-Code', '')}".split())
                found[addr] = single_line(f"bounced: {why}" if why else "bounced", 300)
    if found:
        return found
    text = mail.text.lower()
    return {a.lower(): "bounced (named in a non-standard bounce)" for a in recipients if a.lower() in text}


def _walk(msg: Message) -> list[Message]:
    out: list[Message] = []
    stack = [msg]
    while stack and len(out) < 500:
        part = stack.pop()
        out.append(part)
        if part.get_content_type() == "message/delivery-status":
            continue  # its blocks are read above, not walked as parts
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack += [p for p in payload if isinstance(p, Message)]
    return out


def settle(app: App, incident: Incident, mail: Mail) -> Outcome | None:
    """Mark the failed recipients and propose the next contact; the proposal (None when none)."""
    failed = failed_recipients(mail, incident.recipients)
    if not failed:
        log.info("bounce for %s names none of its recipients; nothing marked", incident.id)
        return None
    try:
        store = app.store()
        for addr, why in failed.items():
            store.mark_recipient(incident.id, addr, "failed", why)
        proposed = app.propose_next(incident.id, MAILBOX, failed=tuple(failed),
                                    why=f"{', '.join(failed)} bounced")
    except UserError as exc:  # store trouble (StoreError) is not caught: the mail is tried again later
        log.warning("bounce for %s: %s", incident.id, exc)
        return None
    if proposed is None:
        log.info("%s: %s bounced; no other contact to propose", incident.id, ", ".join(failed))
    else:
        log.info("%s: %s bounced; %s drafted to %s for a person", incident.id, ", ".join(failed),
                 proposed.incident_id, ", ".join(proposed.recipients))
    return proposed
