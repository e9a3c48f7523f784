"""Approval by mail (``serve.mail_approval``, off by default): an operator answers a draft's notice
with "send" or "skip" as the first word.

Accepted only when BOTH hold: the mail comes from one of ``serve.operators`` (From: can be forged,
so this alone is never enough), and it carries the secret approval code that only that draft's
notice held (``approval-secret`` link, handlers/mailbox/notify_mail.py). Then the core sends or skips
the draft as ``mail:<operator>``, and the operator is told the outcome (or the core's conflict, e.g.
"already sent by slack:U123 ..."). Anything else, including a right code from a wrong sender or a
wrong code from an operator, is not an approval: the caller files it as an ordinary mail and it
changes nothing. An automatic answer (a bounce, an out-of-office) never approves anything.
"""

from __future__ import annotations

import logging
import re
from email.utils import parseaddr

from bot.app import App
from bot.errors import UserError
from bot.lifecycle import Actor
from bot.text import single_line
from handlers.mailbox.notify_mail import SECRET_KIND, SECRET_PREFIX, MailNotifier
from handlers.mailbox.reading import Mail
from handlers.mailbox.results import DONE, Handled

log = logging.getLogger("incident.mailbox")
_CODE = re.compile(rf"\b{re.escape(SECRET_PREFIX)}[0-9a-f]{{32}}\b")
_FIRST_WORD = re.compile(r"^\W*([A-Za-z]+)")


class Approvals:
    def __init__(self, app: App, notifier: MailNotifier) -> None:
        self.app = app
        self.notifier = notifier
        self.operators = {a.lower() for a in app.cfg.serve.operators}

    def handle(self, mail: Mail) -> Handled | None:
        """The approval this mail carries, done; None when it is not one (the caller files it)."""
        if mail.automatic:
            return None
        word = _first_word(mail.text)
        if word not in ("send", "skip"):
            return None
        sender = parseaddr(mail.sender)[1].lower()
        incident = None
        for code in dict.fromkeys(_CODE.findall(mail.text)):
            incident = self.app.store().linked(SECRET_KIND, code)
            if incident:
                break
        if incident is None or sender not in self.operators:
            why = "no valid approval code" if incident is None else f"{sender or 'nobody'} is not an operator"
            log.warning("a %r by mail was not accepted (%s); filed as an ordinary mail", word,
                        single_line(why, 200))
            return None
        actor = Actor(f"mail:{sender}")
        try:
            if word == "send":
                outcome = self.app.send(incident, actor)
                result = f"{outcome.status}: {outcome.detail}"
            else:
                self.app.skip(incident, actor, "skipped by mail")
                result = "skipped"
        except UserError as exc:  # the core's own words: already sent by ..., skipped by ..., no recipient
            result = f"not done: {exc}"
        log.info("%s: %s by mail from %s: %s", incident, word, sender, single_line(result, 300))
        self.notifier.tell(sender, f"incident-bot: {word} {incident}", [f"{incident}: {result}"],
                           in_reply_to=mail.message_id)
        return Handled("approval", DONE, f"{word} by {sender}: {result}", (incident,), mail.message_id)


def _first_word(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            found = _FIRST_WORD.match(line)
            return found.group(1).lower() if found else ""
    return ""
