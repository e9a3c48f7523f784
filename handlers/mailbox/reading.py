"""What the mailbox needs to know of one mail, from the mail library (bot/mail, docs/mail.md).

``read(raw)`` reads the mail with the library's safe reader (size, depth, parts and lines capped),
takes its log text for the scanner (``bot.mail.alerts.log_text``: bodies, forwarded blocks, quoted
lines, attached messages and files, ``.gz`` within a cap; never its own headers) and its class as a
reply (``bot.mail.classify``). A mail the reader refuses (too large, nested too deep) comes back as
``Unreadable`` with the reason and whatever headers could be read.

``automatic`` is the mailbox's own question: may this mail, when no incident claims it, be read as
an alert? Not a bounce, nor an automatic answer (auto-replied, X-Autoreply, an empty Return-Path,
out-of-office or acknowledgement wording). ``Auto-Submitted: auto-generated`` or ``Precedence:
bulk`` alone do not make a mail an answer: cron, logcheck and many alerting tools send that way.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.mail import alerts, classify
from bot.mail.headers import Headers
from bot.mail.reading import Rejected, read_mail
from bot.mail.replies import referenced_ids
from bot.text import single_line

_ANSWER_SIGNS = ("Auto-Submitted: auto-replied", "X-Autoreply", "X-Autorespond", "X-Auto-Reply",
                 "Return-Path: <>", "wording:", "ticket ")


@dataclass(frozen=True)
class Mail:
    message_id: str         # "" when it has none
    sender: str
    subject: str
    kind: str               # as a reply: "human", "auto_ack" or "bounce"
    automatic: str          # "bounce", "auto-reply" or "": never read as an alert when set
    reply: bool             # written as an answer to something (In-Reply-To, References, "Re:")
    references: tuple[str, ...]   # the Message-IDs it answers
    text: str               # the log text: body and attachments, never its own headers


@dataclass(frozen=True)
class Unreadable:
    reason: str             # one line: "nested deeper than 50 levels", "larger than 50 MB"...
    message_id: str


def _facts(headers: Headers) -> tuple[str, str, str, tuple[str, ...]]:
    refs = tuple(referenced_ids(Rejected("", headers)))
    return (headers.message_id, single_line(headers.get("From"), 200), single_line(headers.subject, 300),
            refs[:50])


def read(raw: bytes) -> Mail | Unreadable:
    got = read_mail(raw)
    if isinstance(got, Rejected):
        return Unreadable(got.reason, got.headers.message_id)
    mid, sender, subject, refs = _facts(got.headers)
    klass = classify.classify(got)
    if klass.kind is classify.Kind.BOUNCE:
        automatic = "bounce"
    elif any(s.startswith(_ANSWER_SIGNS) for s in klass.signs):
        automatic = "auto-reply"
    else:
        automatic = ""
    reply = bool(refs) or subject.lower().startswith(("re:", "aw:", "sv:", "antw:", "odp:"))
    return Mail(mid, sender, subject, klass.kind.value, automatic, reply, refs, alerts.log_text(got).text)
