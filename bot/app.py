"""The one composition root: the configuration in, the use cases out.

``App(cfg)`` builds, when first needed and once per process, the store, ONE gatherer (one lookup
cache and one set of per-registry gates, so LACNIC's ten a minute hold whichever front end asks),
the SMTP outbox, and the drafting and sending steps; ``close()`` closes what it opened. Every front
end (the command line, the mailbox watcher, the Slack app, the scheduled jobs) calls these
operations, each told who acts; none builds a client, a store or a gatherer itself.

    with App(cfg) as app:
        run = app.draft(Intake.from_text(text, Origin("mail", msgid)), MAILBOX, DraftOptions(every=True))
        app.send("INC-20261128-0001", Actor.slack("U123"))

The App is shared by threads: it keeps no per-incident state (the store and the gatherer are safe
to share; the outbox serialises its own sends).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from bot.config import Config
from bot.contacts import rank_contacts
from bot.errors import StoreError, UserError
from bot.flow import DraftOptions, DraftRun, Gatherer, Intake, Outcome, Progress, Timings
from bot.lifecycle import Action, Actor, Event
from bot.mail import message as message_mod
from bot.mail import replies as replies_mod
from bot.mail.classify import Kind, classify
from bot.mail.outbox import Outbox
from bot.mail.reading import Mail, Rejected, read_mail
from bot.models import (
    AttachmentRef,
    Contact,
    Incident,
    LookupResult,
    Origin,
    ScanResult,
    State,
    StoredDraft,
)
from bot.pipeline import Drafting
from bot.sending import Pause, Sender
from bot.store import StaleDraft, Store
from bot.store import followups as followups_mod
from bot.text import single_line

__all__ = ["App", "DraftOptions", "IncidentView", "Intake", "ReplyOutcome"]


@dataclass(frozen=True)
class IncidentView:
    """Everything ``incident show`` prints: the index row, the stored draft, the history."""

    incident: Incident
    draft: StoredDraft
    history: tuple[Event, ...]
    origins: tuple[Origin, ...]
    replies: tuple[followups_mod.FiledReply, ...]


@dataclass(frozen=True)
class ReplyOutcome:
    """Where a mail was filed: ``filed`` (with its incident), ``unmatched`` or ``rejected``."""

    status: str
    incident: Incident | None
    path: Path
    how: str = ""          # how it was matched (message-id, token, ticket, subject...)
    again: bool = False    # this very mail was filed there before: not copied again
    reason: str = ""       # why it was rejected
    note: str = ""         # something a person should know (the subject names another incident)
    kind: str = "human"    # the reply's class: human, auto_ack, bounce
    ticket: str = ""       # the desk's own ticket number, when it gave one
    sender: str = ""
    preview: str = ""      # its first lines, one printable line
    proposed: Outcome | None = None   # for a bounce: the new draft to the next-best contact


class App:
    def __init__(self, cfg: Config, *, store: Store | None = None, gatherer: Gatherer | None = None,
                 outbox: Outbox | None = None, now: Callable[[], datetime] | None = None,
                 pause: Pause | None = None) -> None:
        self.cfg = cfg
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._store = store
        self._gatherer = gatherer
        self._gatherer_owned = gatherer is None
        self._outbox = outbox
        self._outbox_owned = outbox is None
        from bot.scan import collect_evidence, scan_lines, scan_paths

        self.drafting = Drafting(cfg, store=self.store, gatherer=self.gatherer, scan_text=scan_lines,
                                 scan_paths=scan_paths, evidence=collect_evidence, now=self.now)
        self.sender = Sender(cfg, store=self.store, outbox=self.outbox, now=self.now, pause=pause)

    # --- what it builds, once, when first needed ---------------------------------------------

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                try:
                    self._store = Store(Path(self.cfg.report.incident_dir).expanduser())
                except StoreError as exc:  # its text is written for a person: a folder we cannot use
                    raise UserError(f"incident store: {exc}") from exc
            return self._store

    def gatherer(self) -> Gatherer:
        with self._lock:
            if self._gatherer is None:
                from bot.clients import build_clients
                from bot.gather import Gatherer as RealGatherer

                self._gatherer = RealGatherer(self.cfg, build_clients(self.cfg))
            return self._gatherer

    def outbox(self) -> Outbox | None:
        """The SMTP outbox (None without smtp.host); opened when the first mail is sent."""
        with self._lock:
            if self._outbox is None and self.cfg.smtp.host:
                message_mod.sender(self.cfg)  # a missing From address is a configuration error, said now
                self._outbox = Outbox(self.cfg.smtp)
            return self._outbox

    def close(self) -> None:
        with self._lock:
            if self._outbox is not None and self._outbox_owned:
                self._outbox.close()
                self._outbox = None
            closer: Any = getattr(self._gatherer, "close", None)
            if self._gatherer is not None and self._gatherer_owned and closer is not None:
                closer()
                self._gatherer = None

    def __enter__(self) -> App:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- the use cases -----------------------------------------------------------------------

    def scan(self, intake: Intake, *, select: str | None = None,
             keep_received: bool | None = None) -> ScanResult:
        """Ranked attacker candidates of an intake, nothing stored."""
        return self.drafting.scan(intake, select=select, keep_received=keep_received)

    def draft(self, intake: Intake, actor: Actor, opts: DraftOptions | None = None, *,
              progress: Progress = lambda s: None,
              bulk_progress: Callable[[int, int, str], None] = lambda d, t, s: None,
              timings: Timings | None = None, scanned: ScanResult | None = None,
              on_outcome: Callable[[Outcome], None] | None = None) -> DraftRun:
        """Drafts for the attackers of an intake (or evidence added to their open drafts);
        ``on_outcome`` is told of each as soon as it is stored."""
        return self.drafting.draft(intake, actor, opts or DraftOptions(), progress=progress,
                                   bulk_progress=bulk_progress, timings=timings, scanned=scanned,
                                   on_outcome=on_outcome)

    def earlier(self, ip: str) -> Outcome | None:
        """Why an address is not to be reported again now (already reported, or interrupted), if so."""
        return self.drafting.earlier(ip)

    def send(self, incident_id: str, actor: Actor, *, to: Sequence[str] | None = None, force: bool = False,
             unattended: bool = False, notice: Callable[[str], None] | None = None) -> Outcome:
        return self.sender.send(incident_id, actor, to=to, force=force, unattended=unattended, notice=notice)

    def edit(self, incident_id: str, actor: Actor, *, recipients: Sequence[str] | None = None,
             subject: str | None = None, body: str | None = None, description: str | None = None) -> Incident:
        """Change a draft (or a failed incident) before it is sent. A new description renders the text
        again unless a person wrote it; a subject or body given here is the person's and is kept."""
        checked = None
        if recipients is not None:
            checked = tuple(dict.fromkeys(message_mod.check_address(a, "recipient") for a in recipients))
            if not checked:
                raise UserError("at least one recipient is needed")
        if subject is not None:
            subject = single_line(subject, 200)
            if f"[{incident_id.upper()}]" not in subject.upper():
                # the token is how replies find the incident: a person's subject keeps it
                subject = single_line(f"[{incident_id.upper()}] {subject}", 200)
        if body is not None and not body.strip():
            raise UserError("the message body is empty")
        for _ in range(5):
            held = self.store().draft(incident_id)
            new, files = held, dict[str, bytes]()
            if description is not None and description != held.description:
                new, files = self.drafting.rerender(held, description=description)
            changed = []
            if checked is not None and checked != held.recipients:
                new = replace(new, recipients=checked)
                changed.append(f"recipients: {', '.join(checked)}")
            if subject is not None and subject != held.subject:
                new = replace(new, subject=subject, edited=True)
                changed.append("subject")
            if body is not None and body != held.body:
                new = replace(new, body=body, edited=True)
                changed.append("body")
            if description is not None and description != held.description:
                changed.append("description")
            if not changed:
                return self.store().get(incident_id)
            try:
                return self.store().update_draft(new, action=Action.EDIT, actor=actor,
                                                 detail="; ".join(changed), files=files, now=self.now())
            except StaleDraft:
                continue
        raise StoreError(f"{incident_id} kept changing while it was edited")

    def skip(self, incident_id: str, actor: Actor, reason: str = "") -> Incident:
        return self.store().transition(incident_id, actor, Action.SKIP, single_line(reason, 300),
                                       now=self.now())

    def reopen(self, incident_id: str, actor: Actor) -> Incident:
        return self.store().transition(incident_id, actor, Action.REOPEN, now=self.now())

    def settle(self, incident_id: str, actor: Actor, *, sent: bool, note: str = "") -> Incident:
        """A person checked the relay's log for an interrupted send: it went out, or it did not."""
        action = Action.SETTLE_SENT if sent else Action.SETTLE_NOT_SENT
        return self.store().transition(incident_id, actor, action, single_line(note, 300), now=self.now())

    def file_reply(self, source: bytes | BinaryIO, actor: Actor, *, keep_unmatched: bool = True,
                   kind: str | None = None, ticket: str | None = None) -> ReplyOutcome:
        """File a mail with the incident it answers (the old -e), classified: a human answer makes a
        sent incident answered; an auto-acknowledgement is noted and its ticket number learnt; a
        bounce marks the failed recipients and proposes a draft to the next-best contact (never sent
        here). A mail no incident claims is kept in unmatched/ (with ``keep_unmatched=False`` it is
        left where it is: the mailbox asks this before reading the mail as an alert); one that cannot
        be read at all in rejected/ with the reason. Never lost, never filed twice.

        ``source`` is the mail's bytes or a binary stream (read with caps; a large mail is spooled to
        disk, never held whole). ``kind``/``ticket`` override the classification."""
        store = self.store()
        spool = store.root / ".spool"
        spool.mkdir(exist_ok=True)
        mail = read_mail(source, keep_in=None if isinstance(source, bytes) else spool)
        keep: bytes | Path = source if isinstance(source, bytes) else (mail.kept or Path(os.devnull))
        try:
            return self._file_reply(store, mail, keep, actor, keep_unmatched, kind, ticket)
        finally:
            if mail.kept is not None:
                mail.kept.unlink(missing_ok=True)

    def _file_reply(self, store: Store, mail: Mail | Rejected, keep: bytes | Path, actor: Actor,
                    keep_unmatched: bool, kind: str | None, ticket: str | None) -> ReplyOutcome:
        if isinstance(mail, Rejected) and not mail.headers.fields:  # nothing to match it by
            reason = mail.reason if mail.kept_whole or isinstance(keep, bytes) else \
                f"{mail.reason}; only its first {mail.size} bytes were kept"
            if mail.size == 0:
                return ReplyOutcome("rejected", None, Path(), reason=mail.reason)
            filed = followups_mod.reject(store, keep, reason, now=self.now())
            return ReplyOutcome("rejected", None, filed.path, again=filed.again, reason=reason)
        klass = classify(mail)
        kind = kind or klass.kind.value
        ticket = klass.ticket if ticket is None else ticket
        sender = single_line(mail.headers.from_address or mail.headers.get("From"), 200)
        found = replies_mod.match(mail, store)
        if found.incident is None and not keep_unmatched:
            return ReplyOutcome("unmatched", None, Path(), sender=sender, kind=kind, ticket=ticket)
        if found.incident is None:
            filed = followups_mod.file_reply(store, None, keep, actor=actor, now=self.now())
            return ReplyOutcome("unmatched", None, filed.path, again=filed.again, kind=kind, ticket=ticket,
                                sender=sender, preview=klass.preview)
        inc = found.incident
        failed = [r for r in klass.failed if r.address.lower() in {a.lower() for a in inc.recipients}] \
            if kind == Kind.BOUNCE.value else []
        why = "; ".join(f"{r.address}: {' '.join(x for x in (r.status, r.diagnostic) if x)}".strip()
                        for r in failed)
        filed = followups_mod.file_reply(store, inc.id, keep, actor=actor, kind=kind, ticket=ticket,
                                         sender=sender, preview=klass.preview, note=why, now=self.now())
        proposed = None
        if failed and not filed.again:
            for r in failed:
                detail = single_line(f"bounced: {r.status} {r.diagnostic}", 300)
                store.mark_recipient(inc.id, r.address, "failed", detail)
            proposed = self.propose_next(inc.id, actor, failed=[r.address for r in failed],
                                         why=f"bounce: {why}")
        named = replies_mod.subject_tokens(mail, store) if found.how == "message-id" else []
        others = [i for i in named if i.lower() != inc.id.lower()]
        note = (f"its subject names {', '.join(others)}, but it answers a message of {inc.id}; "
                f"filed with {inc.id}") if others else ""
        return ReplyOutcome("filed", store.get(inc.id), filed.path, how=found.how, again=filed.again,
                            note=note, kind=kind, ticket=ticket, sender=sender, preview=klass.preview,
                            proposed=proposed)

    def propose_next(self, incident_id: str, actor: Actor, *, failed: Sequence[str] = (),
                     why: str = "") -> Outcome | None:
        """A new draft of an incident's report to its next-best contact (one it was not sent to, that
        did not fail, unflagged first), for a person to send: never sent here. None when no contact
        is left, or when an earlier proposal for this incident still waits as a draft: the same bounce
        filed again after a restart, or a second bounce of the same report, proposes nothing more."""
        from bot.compose import compose

        store = self.store()
        inc = store.get(incident_id)
        held = store.draft(inc.id)
        origin = Origin("incident", inc.id, single_line(why, 200))
        tried = {a.lower() for a in (*inc.recipients, *failed)}
        for other in store.incidents_from(origin):
            earlier = store.get(other)
            if earlier.state is State.DRAFT:
                return None
            tried.update(a.lower() for a in earlier.recipients)
        left = [c for c in held.contacts if c.address.lower() not in tried]
        nxt = next((c for c in left if not c.flag), left[0] if left else None)
        if nxt is None or not held.targets:
            return None
        now = self.now()
        new_id = store.new_id(now)
        text = compose(new_id, held.targets, [nxt], self.cfg, description=held.description, now=now,
                       env=self.drafting.templates)
        stored = StoredDraft(new_id, text.subject, text.body, (nxt.address,), held.contacts,
                             tuple(AttachmentRef(a.filename, a.content_type) for a in text.attachments),
                             held.targets, description=held.description)
        files = {a.filename: a.data for a in text.attachments}
        made = store.create_draft(stored, domain=inc.domain, files=files, origin=origin, actor=actor,
                                  forced=True, now=now)
        store.transition(inc.id, actor, Action.NOTE, f"{new_id} drafted to the next contact {nxt.address}"
                         f"{f' ({single_line(why, 200)})' if why else ''}", now=now)
        return Outcome("drafted", made.ips, made.id, folder=made.folder, recipients=(nxt.address,),
                       draft=stored, detail=f"draft to the next contact {nxt.address} in {made.folder}")

    def lookup(self, target: str, *, probe: bool | None = None,
               progress: Progress | None = None) -> tuple[LookupResult, tuple[Contact, ...]]:
        """Everything gathered about an IP, host or domain, and its ranked contacts (the old -x)."""
        gatherer: Any = self.gatherer()
        result: LookupResult = gatherer.lookup(target, probe=probe, progress=progress)
        return result, rank_contacts(result.findings, self.cfg.contacts)

    def incidents(self, *, states: Sequence[State] = (), since_days: float | None = None) -> list[Incident]:
        since = self.now() - timedelta(days=since_days) if since_days is not None else None
        return self.store().incidents(states, since)

    def show(self, incident_id: str) -> IncidentView:
        store = self.store()
        inc = store.get(incident_id)
        return IncidentView(inc, store.draft(inc.id), tuple(store.history(inc.id)),
                            tuple(store.origins(inc.id)), tuple(followups_mod.replies(store, inc.id)))
