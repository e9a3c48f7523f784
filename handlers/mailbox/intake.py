"""What one mail from the mailbox becomes: a reply filed with its incident, drafts, or kept aside.

In this order, each mail:
1. a notice the bot mailed itself (to an operator address delivered here): nothing to do;
2. with ``serve.mail_approval``, an operator's "send" or "skip" carrying a draft's secret code:
   done through the core as ``mail:<operator>`` (handlers/mailbox/approval.py);
3. a reply an incident claims (the core's matching: Message-IDs, subject token, ticket, subject):
   filed with it; a bounce also marks its recipient failed and proposes the next contact;
4. a bounce or an automatic reply that no incident claims, or any mail in a reply folder: kept in
   the store's ``unmatched/``;
5. otherwise an alert: its log text (body and attachments, never its own headers) is drafted
   through the core with the mail's Message-ID as its origin (the core merges the same attacker
   into its open draft, and an origin it has seen adds nothing). Nothing reportable: the mail is put
   in the no-report folder with the reason (or kept in ``unmatched/`` when it reads as an answer).

The result names the folder the message goes to; the watcher moves it there only after this
returned, i.e. after the draft or reply was committed. A notifier's failure never fails the mail.
"""

from __future__ import annotations

import logging

from bot.app import App, ReplyOutcome
from bot.errors import NothingToDo
from bot.flow import DraftOptions, Intake, Outcome
from bot.lifecycle import MAILBOX
from bot.models import Origin
from bot.notify import Notifier
from bot.store import followups
from bot.text import single_line
from handlers.mailbox import bounces, reading
from handlers.mailbox.approval import Approvals
from handlers.mailbox.ledger import Ledger
from handlers.mailbox.results import DONE, NO_REPORT, QUARANTINE, UNMATCHED, Handled, Source

log = logging.getLogger("incident.mailbox")


class MailIntake:
    """Shared by the watcher threads; keeps no per-mail state."""

    def __init__(self, app: App, notifier: Notifier, ledger: Ledger,
                 approvals: Approvals | None = None) -> None:
        self.app = app
        self.notifier = notifier
        self.ledger = ledger
        self.approvals = approvals

    def handle(self, raw: bytes, source: Source) -> Handled:
        mail = reading.read(raw)
        if isinstance(mail, reading.Unreadable):  # too large or too deep to read: a reply still, maybe
            filed = self.app.file_reply(raw, MAILBOX, keep_unmatched=False)
            if filed.status == "filed" and filed.incident is not None:
                return Handled("filed", DONE, f"{filed.kind} filed with {filed.incident.id} by {filed.how} "
                               f"(unreadable: {mail.reason})", (filed.incident.id,), mail.message_id)
            kept = followups.reject(self.app.store(), raw, mail.reason)
            return Handled("rejected", QUARANTINE, f"{mail.reason}; kept in {kept.path}",
                           message_id=mail.message_id)
        if self.ledger.is_notice(mail.message_id):
            return Handled("own-notice", DONE, "a notice this bot mailed", message_id=mail.message_id)
        answers_notice = any(self.ledger.is_notice(m) for m in mail.references)
        if self.approvals is not None:
            acted = self.approvals.handle(mail)
            if acted is not None:
                return acted
        if answers_notice:  # an operator writing back about a notice: theirs, never an abuse desk's
            return self._unmatched(raw, mail, "an answer to one of this bot's notices")
        filed = self.app.file_reply(raw, MAILBOX, keep_unmatched=False)
        if filed.status == "rejected":
            return Handled("rejected", QUARANTINE, f"{filed.reason}; kept in {filed.path}")
        if filed.status == "filed":
            return self._filed(filed, raw, mail)
        if source.replies_only or mail.automatic:
            why = mail.automatic or "in a reply folder"
            return self._unmatched(raw, mail, f"{why}, no incident claims it")
        return self._alert(raw, mail, source)

    # --- replies -----------------------------------------------------------------------------

    def _filed(self, filed: ReplyOutcome, raw: bytes, mail: reading.Mail) -> Handled:
        inc = filed.incident
        assert inc is not None
        kind = filed.kind
        proposed = filed.proposed
        if kind == "bounce" and filed.again:  # a restart after the filing: the rest is done now
            proposed = bounces.settle(self.app, inc, raw)
        if not filed.again:
            try:
                self.notifier.reply_filed(self.app.store().get(inc.id), kind, filed.sender or mail.sender,
                                          filed.ticket, filed.preview or mail.text[:300], proposed)
            except Exception:  # a notifier must not fail the mail: the reply is filed either way
                log.exception("notifier failed for the reply filed with %s", inc.id)
        again = " (filed before; not again)" if filed.again else ""
        extra = f"; next contact proposed as {proposed.incident_id}" if proposed else ""
        return Handled("filed", DONE, f"{kind} filed with {inc.id} by {filed.how}{again}{extra}", (inc.id,),
                       mail.message_id)

    def _unmatched(self, raw: bytes, mail: reading.Mail, why: str) -> Handled:
        kept = self.app.file_reply(raw, MAILBOX)
        if kept.status == "filed":  # matched meanwhile (a report sent since the first look)
            return self._filed(kept, raw, mail)
        return Handled("unmatched", UNMATCHED, f"{why}; kept in {kept.path}", message_id=mail.message_id)

    # --- alerts ------------------------------------------------------------------------------

    def _alert(self, raw: bytes, mail: reading.Mail, source: Source) -> Handled:
        ref = mail.message_id or f"sha256:{followups.digest(raw)}"
        origin = Origin("mail", ref, single_line(f"{source.folder} uid {source.uid}: {mail.subject}", 200))
        before = set(self.app.store().incidents_from(origin))
        opts = DraftOptions(every=self.app.cfg.mailbox.every_address)
        try:
            run = self.app.draft(Intake.from_text(mail.text, origin), MAILBOX, opts)
        except NothingToDo as exc:
            if mail.reply:
                return self._unmatched(raw, mail, f"reads as an answer and {exc}")
            return Handled("no-report", NO_REPORT, str(exc), message_id=mail.message_id)
        for outcome in run.outcomes:
            if outcome.status in ("drafted", "merged") and outcome.incident_id not in before:
                self._tell(outcome)
        made = tuple(dict.fromkeys(o.incident_id for o in run.outcomes if o.incident_id))
        statuses = sorted({o.status for o in run.outcomes})
        detail = "; ".join(f"{','.join(o.ips[:3])}: {o.status} {o.incident_id}".strip() for o in run.outcomes)
        return Handled("+".join(statuses) or "nothing", DONE, detail, made, mail.message_id)

    def _tell(self, outcome: Outcome) -> None:
        try:
            self.notifier.draft_ready(outcome)
        except Exception:  # the draft is stored either way: incident list shows it
            log.exception("notifier failed for %s", outcome.incident_id)

