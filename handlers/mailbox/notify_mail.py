"""The Notifier for a team without Slack: short notices mailed to the operator addresses.

A new draft: the attacker, the network and its contacts, the first lines of evidence, and how to
act (``incident send ID``, ``incident skip ID``). With ``serve.mail_approval`` the notice also holds
a secret approval code made for that draft (kept with the incident as its ``approval-secret``
link): an operator's answer starting with "send" or "skip" and carrying that code acts on the
draft (handlers/mailbox/approval.py). From: can be forged; the code cannot be guessed.

Every notice is marked ``Auto-Submitted: auto-generated`` (RFC 3834: nobody's robot answers it),
its Message-ID is remembered (handlers/mailbox/ledger.py) so that a notice delivered to the very
mailbox the bot reads is never taken for an alert, and its subject carries no incident token, so
that an operator's answer is never filed as the abuse desk's. Text from logs, registries and mail
is made single-line or log-safe (bot/text.py) before it is written. A failure to mail is logged
and the work goes on: a notifier never raises.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from bot.app import App
from bot.errors import IncidentError
from bot.flow import Outcome
from bot.mail import message as message_mod
from bot.models import Incident, StoredDraft
from bot.text import log_line, single_line
from handlers.mailbox.ledger import Ledger

log = logging.getLogger("incident.notify")
SECRET_KIND = "approval-secret"
SECRET_PREFIX = "ib-"
EXCERPT = 8


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(16)


class MailNotifier:
    """Notices by mail to ``serve.operators`` through the App's SMTP outbox."""

    def __init__(self, app: App, ledger: Ledger) -> None:
        self.app = app
        self.cfg = app.cfg
        self.ledger = ledger
        self.operators = tuple(app.cfg.serve.operators)

    # --- the Notifier interface --------------------------------------------------------------

    def draft_ready(self, outcome: Outcome) -> None:
        try:
            inc = self.app.store().get(outcome.incident_id)
            draft = self.app.store().draft(inc.id)
            lines = self._draft_lines(inc, draft, outcome)
        except IncidentError as exc:
            log.warning("notice for %s not written: %s", outcome.incident_id, exc)
            return
        what = "new draft" if outcome.status == "drafted" else "more evidence in the draft"
        self._send(f"incident-bot: {what} for {', '.join(inc.ips[:3])} ({inc.domain})", lines,
                   kind="draft", incident=inc.id)

    def reply_filed(self, incident: Incident, kind: str, sender: str, ticket: str, preview: str,
                    proposed: Outcome | None = None) -> None:
        what = {"human": "an answer", "auto_ack": "an automatic acknowledgement",
                "bounce": "a bounce"}.get(kind, kind)
        lines = [f"{incident.id} ({', '.join(incident.ips[:3])}) received {what}"
                 f"{f' from {single_line(sender, 120)}' if sender else ''}"
                 f"{f', ticket {single_line(ticket, 60)}' if ticket else ''}.", "",
                 f"  state now  {incident.state.value}"]
        if preview:
            lines += ["", "It begins:", f"  {single_line(preview, 300)}"]
        if proposed is not None and proposed.incident_id:
            to = ", ".join(proposed.recipients) or "nobody yet"
            lines += ["", f"A new draft to the next contact ({to}) waits for you: {proposed.incident_id}",
                      f"  incident show {proposed.incident_id}", f"  incident send {proposed.incident_id}"]
        lines += ["", f"  incident show {incident.id}"]
        self._send(f"incident-bot: {what} for {', '.join(incident.ips[:3])}", lines, kind="reply",
                   incident=incident.id)

    def remind(self, incidents: Sequence[Incident]) -> None:
        if not incidents:
            return
        lines = [f"{len(incidents)} sent report(s) have had no answer from a person:", ""]
        for inc in incidents:
            sent = inc.sent.astimezone(UTC).strftime("%Y-%m-%d") if inc.sent else "?"
            lines.append(f"  {inc.id}  sent {sent}  {', '.join(inc.ips[:3])}  to {', '.join(inc.recipients)}")
            nxt = self._next_contact(inc)
            if nxt:
                lines.append(f"      next contact not yet written to: {nxt}")
        lines += ["", "Nothing is sent by itself. To look at one: incident show ID. To write to another",
                  "contact, edit a new draft of it, or send it again to an address:",
                  "  incident send ID --to ADDRESS  (only for a draft or failed incident)"]
        self._send(f"incident-bot: {len(incidents)} report(s) without an answer", lines, kind="reminder")

    # --- also used by the mail approvals -----------------------------------------------------

    def tell(self, to: str, subject: str, lines: list[str], in_reply_to: str = "") -> None:
        """A short answer to one operator (what became of their "send" or "skip")."""
        self._send(subject, lines, kind="answer", to=(to,), in_reply_to=in_reply_to)

    # --- building and sending ----------------------------------------------------------------

    def _draft_lines(self, inc: Incident, draft: StoredDraft, outcome: Outcome) -> list[str]:
        out = [f"{'A new draft report waits' if outcome.status == 'drafted' else 'A draft got more evidence'}"
               f" for a person: {inc.id}", ""]
        for target in draft.targets[:5]:
            cand, found = target.candidate, target.findings
            rdns = f" ({single_line(found.rdns, 120)})" if found.rdns else ""
            out.append(f"  attacker   {cand.ip}{rdns}, {cand.count} log lines")
            net = found.network
            if net is not None:
                asn = f", AS{net.asn} {single_line(net.as_name, 60)}" if net.asn else ""
                cidr = net.cidrs[0] if net.cidrs else f"{net.start}-{net.end}"
                out.append(f"  network    {single_line(net.name, 60)} {single_line(cidr, 50)}"
                           f" ({single_line(net.registry, 10)}, {single_line(net.country, 4)}{asn})")
            seen = cand.evidence
            if seen.first_seen and seen.last_seen:
                out.append(f"  seen       {seen.first_seen:%Y-%m-%d %H:%M} to "
                           f"{seen.last_seen:%Y-%m-%d %H:%M} UTC")
        chosen = {r.lower() for r in draft.recipients}
        out.append("  contacts   " + ("; ".join(
            f"{single_line(c.address, 120)}{' (chosen)' if c.address.lower() in chosen else ''}"
            for c in draft.contacts[:6]) or "none found: add a recipient with 'incident edit'"))
        if draft.incomplete:
            out.append(f"  incomplete {single_line('; '.join(draft.incomplete), 200)}")
        lines = [ln for t in draft.targets[:1] for ln in t.candidate.evidence.lines[:EXCERPT]]
        if lines:
            out += ["", "First lines:"] + [f"  {log_line(ln)[:200]}" for ln in lines]
        out += ["", "To act:", f"  incident show {inc.id}", f"  incident send {inc.id}",
                f"  incident skip {inc.id} --reason '...'"]
        if self.cfg.serve.mail_approval and outcome.status == "drafted":
            secret = self._secret(inc.id)
            out += ["", 'Or answer this mail with "send" or "skip" as the first word of your answer,',
                    "keeping the code below in it (quoted is fine). Only this mail holds it:",
                    f"  approval code: {secret}"]
        return out

    def _secret(self, incident_id: str) -> str:
        store = self.app.store()
        known = store.links(incident_id, SECRET_KIND)
        if known:
            return known[0]
        secret = new_secret()
        store.link(incident_id, SECRET_KIND, secret)
        return secret

    def _next_contact(self, inc: Incident) -> str:
        try:
            draft = self.app.store().draft(inc.id)
        except IncidentError:
            return ""
        written = {r.lower() for r in inc.recipients}
        for c in draft.contacts:
            if c.address.lower() not in written and not c.flag:
                return single_line(c.address, 120)
        return ""

    def _send(self, subject: str, lines: list[str], *, kind: str, incident: str = "",
              to: Sequence[str] = (), in_reply_to: str = "") -> None:
        rcpts = tuple(to or self.operators)
        if not rcpts:
            return
        try:
            outbox = self.app.outbox()
            if outbox is None:
                log.warning("notice %r not mailed: no smtp.host", subject)
                return
            from_addr = message_mod.sender(self.cfg)
            mid = message_mod.new_message_id(incident or "notice", from_addr)
            msg = EmailMessage(policy=policy.SMTP)
            msg["From"] = from_addr
            msg["To"] = ", ".join(message_mod.check_address(a, "serve.operators") for a in rcpts)
            if self.cfg.mailbox.address:
                msg["Reply-To"] = self.cfg.mailbox.address
            msg["Subject"] = single_line(subject, 150)
            msg["Date"] = format_datetime(datetime.now(UTC))
            msg["Message-ID"] = mid
            if in_reply_to:
                msg["In-Reply-To"] = in_reply_to
            msg["Auto-Submitted"] = "auto-generated"
            msg["X-Incident-Bot"] = kind
            body = "\n".join(lines) + "\n"
            msg.set_content(body, charset="utf-8", cte="quoted-printable" if not body.isascii() else "7bit")
            self.ledger.notice_sent(mid, kind, incident)  # before it can arrive in the mailbox we read
            result = outbox.send(msg, from_addr, list(rcpts))
            if result.failed:
                refused = "; ".join(f"{a}: {w}" for a, w in result.failed.items())
                log.warning("notice %s refused for %s", kind, refused)
            else:
                log.info("notice %s mailed to %s %s", kind, ", ".join(rcpts), incident)
        except (IncidentError, OSError) as exc:  # the incident is stored either way: incident list shows it
            log.warning("notice %s not mailed%s: %s", kind, f" for {incident}" if incident else "", exc)
