"""A bounce filed again after a restart: its failed recipients marked and the next contact proposed.

The core does both when it files a bounce (``App.file_reply``: the failed recipients from the mail
library's DSN reading or flufl.bounce, marked ``failed: bounced ...``; ``App.propose_next``). It
does them only the first time the mail is filed; a process killed between the filing and the
proposal would leave the bounce filed (``again`` the next time) and no proposal. So when the core
reports a bounce filed again without a proposal, the mailbox does the rest, idempotently: marking a
recipient failed twice changes nothing, and ``propose_next`` proposes a contact once. Nothing is
ever sent from here, and a bounce is never answered.
"""

from __future__ import annotations

import logging

from bot.app import App
from bot.errors import UserError
from bot.flow import Outcome
from bot.lifecycle import MAILBOX
from bot.mail.classify import Kind, classify
from bot.mail.reading import Mail, read_mail
from bot.models import Incident
from bot.text import single_line

log = logging.getLogger("incident.mailbox")


def settle(app: App, incident: Incident, raw: bytes) -> Outcome | None:
    """Mark the bounce's failed recipients and propose the next contact; the proposal, if any."""
    mail = read_mail(raw)
    if not isinstance(mail, Mail):
        return None
    klass = classify(mail)
    mine = {a.lower() for a in incident.recipients}
    failed = [r for r in klass.failed if r.address.lower() in mine] if klass.kind is Kind.BOUNCE else []
    if not failed:
        return None
    try:
        for r in failed:
            app.store().mark_recipient(incident.id, r.address, "failed",
                                       single_line(f"bounced: {r.status} {r.diagnostic}", 300))
        proposed = app.propose_next(incident.id, MAILBOX, failed=[r.address for r in failed],
                                    why=f"bounce: {', '.join(r.address for r in failed)}")
    except UserError as exc:  # store trouble (StoreError) is not caught: the mail is tried again later
        log.warning("bounce for %s: %s", incident.id, exc)
        return None
    if proposed is not None:
        log.info("%s: %s bounced; %s drafted to %s for a person", incident.id,
                 ", ".join(r.address for r in failed), proposed.incident_id, ", ".join(proposed.recipients))
    return proposed
