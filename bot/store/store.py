"""The Store: incident folders on disk and the sqlite index of all of them (see bot/store/__init__).

Every change is one IMMEDIATE transaction that checks the incident's state against bot/lifecycle.py,
applies the change and appends the event (actor, time, detail) to the incident's history. Files an
incident needs are written inside that transaction, so a change that is refused (or loses a race
with another process) leaves nothing on disk that looks as if it had happened.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.errors import StoreError
from bot.lifecycle import REPORTED, Action, Actor, Suppressed, next_state, refusal
from bot.models import Incident, Origin, State, StoredDraft
from bot.store.codec import to_data
from bot.store.files import (
    atomic_write,
    discard,
    json_bytes,
    orig_email_text,
    safe_segment,
    staged,
    write_fresh,
)
from bot.store.index import COLUMNS, ORIG_EMAIL, IndexReader, iso, marks, now_utc

MESSAGE_EML = "message.eml"
FINDINGS_JSON = "findings.json"


class StaleDraft(StoreError):
    """The draft changed (another process merged into it or edited it) since it was read."""


class OpenDraftExists(StoreError):
    """An open draft already holds one of the addresses: merge into it instead of opening another."""

    def __init__(self, incident_id: str) -> None:
        super().__init__(f"{incident_id} is an open draft for the same address")
        self.incident_id = incident_id


@dataclass(frozen=True)
class Guard:
    """Suppression checked inside the transaction that records ``sending``: no other incident for the
    same address (``by="ip"``) or to the same contact (``by="contact"``) went out within ``days``."""

    by: str
    days: int


class Store(IndexReader):
    """Incident folders under ``root`` and the index ``root/index.sqlite``: the changes. Keeps no
    per-incident state and opens a connection per operation, so one Store serves every thread."""

    # --- plumbing ----------------------------------------------------------------------------

    def _event(self, db: sqlite3.Connection, incident_id: str, actor: Actor | str, action: Action,
               detail: str, now: datetime) -> None:
        db.execute("INSERT INTO events (incident, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
                   (incident_id, iso(now), str(actor), action.value, detail))

    def _check(self, db: sqlite3.Connection, incident_id: str, action: Action) -> tuple[str, State, State]:
        """(canonical id, state, state after) or the typed Conflict, told from the history."""
        inc_id, state = self._state(db, incident_id)
        after = next_state(state, action)
        if after is None:
            rcpts = tuple(r[0] for r in db.execute(
                "SELECT address FROM recipients WHERE incident = ? AND status = 'accepted'", (inc_id,)))
            raise refusal(inc_id, state, action, self._history(db, inc_id), rcpts)
        return inc_id, state, after

    def _set_state(self, db: sqlite3.Connection, incident_id: str, state: State, now: datetime) -> None:
        db.execute("UPDATE incidents SET state = ?, updated = ? WHERE id = ?",
                   (state.value, iso(now), incident_id))

    # --- ids and folders ---------------------------------------------------------------------

    def new_id(self, now: datetime | None = None) -> str:
        """The next free INC-YYYYMMDD-NNNN for the day of ``now`` (UTC). Not synced by itself: a number
        lost in a power cut was given to no stored incident (creating one syncs it)."""
        day = (now or now_utc()).astimezone(UTC).strftime("%Y%m%d")
        with self.tx(immediate=True, synced=False) as db:
            db.execute("INSERT INTO counters (day, n) VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET n = n + 1",
                       (day,))
            (n,) = db.execute("SELECT n FROM counters WHERE day = ?", (day,)).fetchone()
        return f"INC-{day}-{n:04d}"

    def _make_folder(self, domain: str, now: datetime) -> Path:
        parent = self.root / safe_segment(domain)
        stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
        for n in range(1, 10_000):
            folder = parent / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                folder.mkdir()  # exclusive: two processes never share a folder
            except FileExistsError:
                continue
            except FileNotFoundError:  # the domain's first incident (a directory change fewer for the rest)
                parent.mkdir(parents=True, exist_ok=True)
                try:
                    folder.mkdir()
                except FileExistsError:
                    continue
            return folder
        raise StoreError(f"too many incidents in {parent} at {stamp}")

    def _write_files(self, folder: Path, draft: StoredDraft, files: dict[str, bytes],
                     targets: list[Any], *, fresh: bool = False) -> None:
        """The human-readable copy of the draft and its attachments, each written atomically (or, in
        a ``fresh`` folder just made, written once in place). The index holds all of it (and is what
        a send reads): these copies are not synced one by one."""
        def put(path: Path, data: bytes) -> None:
            if fresh:
                write_fresh(path, data)
            else:
                atomic_write(path, data, sync=False)

        for name, data in files.items():
            put(folder / safe_segment(name, "file"), data)
        if targets:  # an incident kept from before drafts were stored whole has its own file
            contacts = [to_data(c) for c in draft.contacts]
            put(folder / FINDINGS_JSON, json_bytes([{
                "ip": t["candidate"]["ip"], "count": t["candidate"]["count"],
                "first_seen": t["candidate"]["evidence"]["first_seen"],
                "last_seen": t["candidate"]["evidence"]["last_seen"],
                "findings": t["findings"], "contacts": contacts,
            } for t in targets]))
        written = orig_email_text(draft.subject, draft.body, draft.recipients)
        put(folder / ORIG_EMAIL, written.encode())

    # --- drafts ------------------------------------------------------------------------------

    def create_draft(self, draft: StoredDraft, *, domain: str, files: dict[str, bytes], origin: Origin,
                     actor: Actor, forced: bool = False, merge_since: datetime | None = None,
                     now: datetime | None = None) -> Incident:
        """A new incident in state draft: its folder and files, then its index rows in one transaction.

        The folder is written before the index's write lock is taken (other writers, a batch's sending
        threads, need not wait for the files); it is removed again if the transaction fails, and until
        the index row exists nothing lists it.
        With ``merge_since``, raises OpenDraftExists when an open draft created since then already
        holds one of its addresses (checked under the write lock: two intakes of one attacker at once
        never open two drafts)."""
        when = now or now_utc()
        ips = [t.candidate.ip for t in draft.targets]
        folder: Path | None = None
        try:
            targets = to_data(draft.targets)
            folder = self._make_folder(domain, when)
            self._write_files(folder, draft, files, targets, fresh=True)
            with self.tx(immediate=True) as db:
                if merge_since is not None:
                    other = self._open_draft(db, ips, merge_since)
                    if other is not None:
                        raise OpenDraftExists(other)
                db.execute(f"INSERT INTO incidents ({COLUMNS}, ip) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?)",
                           (draft.incident_id, State.DRAFT.value, safe_segment(domain), str(folder),
                            iso(when), iso(when), draft.subject, int(forced), ips[0]))
                db.executemany("INSERT INTO addresses (incident, ip) VALUES (?, ?)",
                               [(draft.incident_id, ip) for ip in ips])
                self._put_draft(db, draft, files, targets)
                self._add_origin(db, draft.incident_id, origin, when)
                count = sum(t.candidate.count for t in draft.targets)
                self._event(db, draft.incident_id, actor, Action.CREATE,
                            f"{', '.join(ips[:5])}{' ...' if len(ips) > 5 else ''}: {count} log lines"
                            f"{_origin_text(origin)}", when)
        except OSError as exc:
            raise StoreError(f"cannot write incident {draft.incident_id}: {exc.strerror}") from exc
        except BaseException:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return self.get(draft.incident_id)

    def _put_draft(self, db: sqlite3.Connection, draft: StoredDraft, files: dict[str, bytes],
                   targets: list[Any]) -> None:
        db.execute("INSERT OR REPLACE INTO drafts (incident, subject, body, description, edited, version, "
                   "contacts, attachments, targets, incomplete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (draft.incident_id, draft.subject, draft.body, draft.description, int(draft.edited),
                    draft.version, _json(draft.contacts), _json(draft.attachments), _dumps(targets),
                    _dumps(list(draft.incomplete))))
        types = {a.filename: a.content_type for a in draft.attachments}
        db.executemany("INSERT OR REPLACE INTO attachments (incident, filename, content_type, data) "
                       "VALUES (?, ?, ?, ?)",
                       [(draft.incident_id, name, types.get(name, "application/octet-stream"), data)
                        for name, data in files.items()])
        db.execute("DELETE FROM recipients WHERE incident = ?", (draft.incident_id,))
        db.executemany("INSERT INTO recipients (incident, address) VALUES (?, ?)",
                       [(draft.incident_id, r.lower()) for r in dict.fromkeys(draft.recipients)])
        db.execute("UPDATE incidents SET subject = ? WHERE id = ?", (draft.subject, draft.incident_id))

    def update_draft(self, draft: StoredDraft, *, action: Action, actor: Actor, detail: str,
                     files: dict[str, bytes], origin: Origin | None = None, add_ips: Sequence[str] = (),
                     now: datetime | None = None) -> Incident:
        """Write a changed draft (a merge or an edit) if nobody changed it since it was read (its
        ``version`` is the one read; the stored one becomes version + 1), else StaleDraft."""
        when = now or now_utc()
        with self.tx(immediate=True) as db:
            inc_id, _, after = self._check(db, draft.incident_id, action)
            row = db.execute("SELECT version FROM drafts WHERE incident = ?", (inc_id,)).fetchone()
            if row is not None and row[0] != draft.version:
                raise StaleDraft(f"{inc_id} changed meanwhile (version {row[0]}, not {draft.version})")
            folder = Path(db.execute("SELECT folder FROM incidents WHERE id = ?", (inc_id,)).fetchone()[0])
            new = _replace_version(draft, inc_id, draft.version + 1)
            targets = to_data(new.targets)
            try:
                self._write_files(folder, new, files, targets)
            except OSError as exc:
                raise StoreError(f"cannot write incident {inc_id}: {exc.strerror}") from exc
            self._put_draft(db, new, files, targets)
            known = {r[0] for r in db.execute("SELECT ip FROM addresses WHERE incident = ?", (inc_id,))}
            db.executemany("INSERT INTO addresses (incident, ip) VALUES (?, ?)",
                           [(inc_id, ip) for ip in dict.fromkeys(add_ips) if ip not in known])
            if origin is not None:
                self._add_origin(db, inc_id, origin, when)
            self._set_state(db, inc_id, after, when)
            self._event(db, inc_id, actor, action, detail, when)
        return self.get(inc_id)

    def _add_origin(self, db: sqlite3.Connection, incident_id: str, origin: Origin, now: datetime) -> None:
        db.execute("INSERT INTO origins (incident, kind, ref, detail, at) VALUES (?, ?, ?, ?, ?)",
                   (incident_id, origin.kind, origin.ref, origin.detail, iso(now)))

    def link(self, incident_id: str, kind: str, ref: str, now: datetime | None = None) -> None:
        """Remember where a front end showed the incident (``slack-message``: ``<channel>/<ts>``;
        ``approval-secret``: the token a summary mail carried), to find it again from there."""
        with self.tx(immediate=True) as db:
            db.execute("INSERT OR IGNORE INTO links (incident, kind, ref, at) VALUES (?, ?, ?, ?)",
                       (incident_id, kind, ref, iso(now or now_utc())))

    # --- sending -----------------------------------------------------------------------------

    def begin_send(self, incident_id: str, actor: Actor, message_id: str, eml: bytes, *,
                   guard: Guard | None = None, now: datetime | None = None) -> None:
        """Before any SMTP traffic: state ``sending``, the Message-ID, the message as it will be sent.

        Refused with a typed Conflict when the incident is not a draft or failed (it was sent, is
        being sent, or was skipped), and with Suppressed when ``guard`` finds another incident that
        went out for the same address or contact within its window: both checked in this very
        transaction, so two processes sending at once never both send."""
        when = now or now_utc()
        # The message is written and synced before the index's write lock is taken (other writers,
        # a batch drafting, need not wait for the disk), and renamed into place inside the transaction:
        # there only once this process owns the send.
        row = self._connection().execute("SELECT folder FROM incidents WHERE id = ? COLLATE NOCASE",
                                         (incident_id,)).fetchone()
        ready: Path | None = None
        try:
            if row is not None:
                ready = staged(Path(row[0]), eml)
            with self.tx(immediate=True) as db:
                inc_id, state, after = self._check(db, incident_id, Action.SEND)
                if guard is not None and guard.days > 0:
                    other = self._reported_meanwhile(db, inc_id, guard, when)
                    if other is not None:
                        what = "its address" if guard.by == "ip" else "its contact"
                        raise Suppressed(f"{inc_id}: {what} was reported as {other} within {guard.days} "
                                         f"days; not sending (force it to send anyway)",
                                         incident_id=inc_id, state=state, other=other)
                self._set_state(db, inc_id, after, when)
                db.execute("UPDATE incidents SET sent = ? WHERE id = ?", (iso(when), inc_id))
                db.execute("INSERT OR REPLACE INTO message_ids (message_id, incident) VALUES (?, ?)",
                           (message_id.strip(), inc_id))
                rcpts = [r[0] for r in db.execute("SELECT address FROM recipients WHERE incident = ?",
                                                  (inc_id,))]
                self._event(db, inc_id, actor, Action.SEND, f"to {', '.join(rcpts)} as {message_id.strip()}",
                            when)
                (where,) = db.execute("SELECT folder FROM incidents WHERE id = ?", (inc_id,)).fetchone()
                folder = Path(where)
                if ready is None or ready.parent != folder:  # (its folder was read before the lock)
                    ready = staged(folder, eml)
                os.replace(ready, folder / MESSAGE_EML)
                ready = None
        except OSError as exc:
            raise StoreError(f"cannot write incident {incident_id}: {exc.strerror}") from exc
        finally:
            if ready is not None:
                discard(ready)

    @staticmethod
    def _reported_meanwhile(db: sqlite3.Connection, inc_id: str, guard: Guard, now: datetime) -> str | None:
        since = iso(now - timedelta(days=guard.days))
        states = [s.value for s in REPORTED]
        if guard.by == "ip":
            same = ("SELECT a.incident FROM addresses a WHERE a.ip IN "
                    "(SELECT ip FROM addresses WHERE incident = ?)")
        else:
            same = ("SELECT r.incident FROM recipients r WHERE r.status != 'failed' AND r.address IN "
                    "(SELECT address FROM recipients WHERE incident = ?)")
        row = db.execute(
            f"SELECT i.id FROM incidents i WHERE i.id IN ({same}) AND i.id != ? "
            f"AND i.state IN ({marks(states)}) "
            f"AND (CASE WHEN i.sent != '' THEN i.sent ELSE i.created END) >= ? ORDER BY i.sent DESC LIMIT 1",
            (inc_id, inc_id, *states, since)).fetchone()
        return row[0] if row else None

    def finish_send(self, incident_id: str, actor: Actor, accepted: Sequence[str], failed: dict[str, str],
                    now: datetime | None = None) -> State:
        """After the SMTP transaction: each recipient's outcome; ``sent`` when anyone accepted it."""
        when = now or now_utc()
        action = Action.DELIVERED if accepted else Action.REFUSED
        with self.tx(immediate=True) as db:
            inc_id, _, after = self._check(db, incident_id, action)
            for addr in accepted:
                db.execute("UPDATE recipients SET status = 'accepted', detail = '' "
                           "WHERE incident = ? AND address = ?", (inc_id, addr.lower()))
            for addr, why in failed.items():
                cur = db.execute("UPDATE recipients SET status = 'failed', detail = ? WHERE incident = ? "
                                 "AND address = ?", (why, inc_id, addr.lower()))
                if cur.rowcount == 0:
                    db.execute("INSERT INTO recipients (incident, address, status, detail) "
                               "VALUES (?, ?, 'failed', ?)", (inc_id, addr.lower(), why))
            self._set_state(db, inc_id, after, when)
            parts = [f"accepted by {', '.join(accepted)}"] if accepted else []
            parts += [f"refused by {a}: {why}" for a, why in failed.items()]
            self._event(db, inc_id, actor, action, "; ".join(parts), when)
        return after

    # --- other changes -----------------------------------------------------------------------

    def transition(self, incident_id: str, actor: Actor, action: Action, detail: str = "",
                   now: datetime | None = None) -> Incident:
        """Skip, reopen, settle, note...: check the state, change it, record the event."""
        when = now or now_utc()
        with self.tx(immediate=True) as db:
            inc_id, _, after = self._check(db, incident_id, action)
            self._set_state(db, inc_id, after, when)
            self._event(db, inc_id, actor, action, detail, when)
            if action is Action.SETTLE_SENT:
                db.execute("UPDATE recipients SET status = 'accepted' "
                           "WHERE incident = ? AND status = 'chosen'", (inc_id,))
        return self.get(inc_id)

    def mark_recipient(self, incident_id: str, address: str, status: str, detail: str) -> None:
        """A recipient's outcome learnt later (a bounce): ``failed`` with the reason."""
        with self.tx(immediate=True) as db:
            db.execute("UPDATE recipients SET status = ?, detail = ? WHERE incident = ? AND address = ?",
                       (status, detail, incident_id, address.lower()))


def _json(value: object) -> str:
    return _dumps(to_data(value))


def _dumps(data: object) -> str:
    # ASCII: registry text can hold a lone surrogate ("\udcfc"), which sqlite cannot store as UTF-8
    return json.dumps(data, default=str)


def _origin_text(origin: Origin) -> str:
    return f" from {origin.kind}" + (f" {origin.ref}" if origin.ref else "")


def _replace_version(draft: StoredDraft, inc_id: str, version: int) -> StoredDraft:

    return replace(draft, incident_id=inc_id, version=version)


