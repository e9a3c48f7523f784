"""Sending a stored draft: from the store only, recorded before and after, never twice.

``Sender.send`` reads the draft (recipients, subject, body, attachments with their content types)
from the store, builds the message, and records ``sending`` with its Message-ID inside the
transaction that checks the incident's state and the suppression window; only then does the SMTP
transaction start. The outcome is recorded per recipient after it. A crash in between leaves the
incident ``sending``: nothing sends it again until a person settles it (``incident settle``).

Unattended sends (batch runs, the bot acting on its own) keep a draft for a person instead when its
findings are incomplete or it has no recipient, and say why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Config
from bot.errors import SendError, StoreError, UserError
from bot.flow import Outcome
from bot.lifecycle import Action, Actor, Suppressed
from bot.mail import message as message_mod
from bot.mail.outbox import Outbox, UncertainDelivery
from bot.models import Attachment, Draft, State
from bot.store import Guard, StaleDraft, Store

# Where a test may stop a send to prove what a crash there leaves behind (injected, never read from
# the environment): after ``sending`` is recorded, and after the server took the mail.
PAUSE_RECORDED = "recorded"
PAUSE_DELIVERED = "delivered"
Pause = Callable[[str], None]


class Sender:
    def __init__(self, cfg: Config, *, store: Callable[[], Store], outbox: Callable[[], Outbox | None],
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), pause: Pause | None = None) -> None:
        self.cfg = cfg
        self._store = store
        self._outbox = outbox
        self.now = now
        self.pause = pause

    def send(self, incident_id: str, actor: Actor, *, to: Sequence[str] | None = None, force: bool = False,
             unattended: bool = False, notice: Callable[[str], None] | None = None) -> Outcome:
        """Send a draft (or a failed incident) as stored. ``to`` replaces its recipients first.

        Raises the lifecycle's typed Conflict (already sent, being sent, skipped...) and, for a person,
        Suppressed; an unattended send that is suppressed is marked skipped and returned as such."""
        store = self._store()
        outbox = self._outbox()
        if outbox is None:
            raise UserError("sending needs smtp.host in the configuration")
        if to is not None:
            self._set_recipients(store, incident_id, actor, to)
        draft = store.sendable(incident_id)
        inc = store.get(draft.incident_id)
        ips = inc.ips
        if unattended and inc.state in (State.DRAFT, State.FAILED):
            why = ("its findings are incomplete (" + "; ".join(draft.incomplete) + ")" if draft.incomplete
                   else "it has no usable contact" if not draft.recipients else "")
            if why:
                return Outcome("kept", ips, inc.id, folder=inc.folder, recipients=draft.recipients,
                               detail=f"kept as a draft for a person: {why}; see 'incident show {inc.id}'")
        bad: dict[str, str] = {}
        for addr in draft.recipients:  # one unusable address fails that recipient, not the send
            try:
                message_mod.check_address(addr, "recipient")
            except UserError as exc:
                bad[addr] = str(exc)
        good = [a for a in draft.recipients if a not in bad]
        if not good:
            why = f" ({'; '.join(bad.values())})" if bad else ""
            raise UserError(f"{inc.id} has no usable recipient{why}: add one with 'incident edit {inc.id}' "
                            f"or 'incident send {inc.id} --to ADDRESS'")
        kept = store.attachments(inc.id)
        attachments = tuple(self._attachment(kept, Path(inc.folder), ref.filename, ref.content_type)
                            for ref in draft.attachments)
        from_addr, rcpts = message_mod.envelope(self.cfg, good)
        mid = message_mod.new_message_id(inc.id, from_addr)
        data = message_mod.build(Draft(inc.id, draft.subject, draft.body, (), attachments), self.cfg, to=good,
                                 message_id=mid, now=self.now())
        rc = self.cfg.report
        guard = None if force or inc.forced else Guard(rc.suppress_by, rc.suppress_days)
        try:
            store.begin_send(inc.id, actor, mid, data, guard=guard, now=self.now())
        except Suppressed as exc:
            if not unattended:
                raise
            store.transition(inc.id, actor, Action.SKIP, f"not sent: {exc.other} reported it meanwhile")
            return Outcome("suppressed", ips, inc.id, folder=inc.folder,
                           detail=f"already reported as {exc.other} meanwhile; not sent (--force to send)")
        if self.pause:
            self.pause(PAUSE_RECORDED)
        try:
            result = outbox.send(data, from_addr, rcpts, notice=notice)
        except UncertainDelivery as exc:
            store.transition(inc.id, actor, Action.NOTE, str(exc))
            return Outcome("failed", ips, inc.id, folder=inc.folder, recipients=tuple(good), detail=(
                f"{exc}; left as 'sending': check the relay's log, then 'incident settle {inc.id} --sent' "
                f"or '--not-sent'"))
        except SendError as exc:
            store.finish_send(inc.id, actor, [], {**bad, **dict.fromkeys(good, str(exc))}, now=self.now())
            return Outcome("failed", ips, inc.id, folder=inc.folder, recipients=tuple(good), detail=str(exc))
        if self.pause:
            self.pause(PAUSE_DELIVERED)
        # Only the report's own recipients count: the Bcc copy to ourselves reaching our own server
        # does not make a report that every abuse desk refused "sent" (nor suppress its address).
        wanted = {a.lower() for a in good}
        accepted = [a for a in result.accepted if a.lower() in wanted]
        refused = {**bad, **{a: why for a, why in result.failed.items() if a.lower() in wanted}}
        state = store.finish_send(inc.id, actor, accepted, refused, now=self.now())
        failed = "; ".join(f"{a}: {why}" for a, why in refused.items())
        if state is State.SENT:
            detail = f"sent to {', '.join(accepted)}"
            if result.attempts > 1:  # the server said "try later" first: say so, it took a while
                detail += f" after {result.attempts} attempts"
            return Outcome("sent", ips, inc.id, folder=inc.folder, recipients=tuple(accepted),
                           detail=detail + (f" (refused: {failed})" if failed else ""))
        return Outcome("failed", ips, inc.id, folder=inc.folder, recipients=tuple(good),
                       detail=f"every recipient refused: {failed}")

    def _set_recipients(self, store: Store, incident_id: str, actor: Actor, to: Sequence[str]) -> None:
        addresses = [message_mod.check_address(a, "--to") for a in to]
        for _ in range(5):
            held = store.draft(incident_id)
            try:
                store.update_draft(replace(held, recipients=tuple(addresses)), action=Action.EDIT,
                                   actor=actor, detail=f"recipients: {', '.join(addresses)}", files={},
                                   now=self.now())
                return
            except StaleDraft:
                continue
        raise StoreError(f"{incident_id} kept changing while its recipients were set")

    @staticmethod
    def _attachment(kept: dict[str, bytes], folder: Path, name: str, content_type: str) -> Attachment:
        """From the index; an incident written before the index kept attachments has them in its folder."""
        if name in kept:
            return Attachment(name, content_type, kept[name])
        try:
            return Attachment(name, content_type, (folder / name).read_bytes())
        except OSError as exc:
            raise StoreError(f"cannot read the attachment {name} of {folder}: {exc.strerror}") from exc
