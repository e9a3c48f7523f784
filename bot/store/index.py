"""Reading the incident index: the queries every part of the store (and its callers) use.

``IndexReader`` opens the index (running its migrations) and answers questions; ``Store``
(bot/store/store.py) adds the changes. Each call opens its own connection: nothing is kept between
calls, so one object serves every thread of a process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.errors import StoreError
from bot.lifecycle import REPORTED, Event
from bot.models import AttachmentRef, Contact, Incident, Origin, State, StoredDraft, Target
from bot.store import schema
from bot.store.codec import from_data
from bot.store.files import read_orig_email

INDEX_NAME = "index.sqlite"
ORIG_EMAIL = "orig_email.txt"
COLUMNS = "id, state, domain, folder, created, updated, subject, sent, forced"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def now_utc() -> datetime:
    return datetime.now(UTC)


def marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


@dataclass(frozen=True)
class Sendable:
    """The part of a stored draft a send needs."""

    incident_id: str
    subject: str
    body: str
    recipients: tuple[str, ...]
    attachments: tuple[AttachmentRef, ...]
    incomplete: tuple[str, ...]


class IndexReader:
    """The incident index under ``root`` (``root/index.sqlite``), read-only questions."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.index_path = self.root / INDEX_NAME
        self._local = threading.local()
        # Writers of this process queue here rather than in sqlite's busy handler, which polls with
        # sleeps of up to 100 ms: a bulk run's drafting and its sending threads write all the time.
        self._writing = threading.RLock()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.index_path, timeout=30.0, isolation_level=None)
            try:
                db.execute("PRAGMA busy_timeout = 30000")
                schema.write_ahead_log(db)
                schema.migrate(db)
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the incident index {self.index_path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot create the incident folder {self.root}: {exc.strerror}") from exc

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection to the index, opened once (sqlite connections are not shared
        between threads; opening and closing one per call cost a WAL checkpoint at every close)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.index_path, timeout=30.0, isolation_level=None)
                db.execute("PRAGMA busy_timeout = 30000")
                db.execute("PRAGMA synchronous = FULL")  # a committed send record survives power loss
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the incident index {self.index_path}: {exc}") from exc
            self._local.db = db
        return db

    @contextlib.contextmanager
    def tx(self, immediate: bool = False, *, synced: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; IMMEDIATE takes the write lock at once (every read-check-write needs it).
        Transactions do not nest: a call made inside one opens no second one on this thread.
        ``synced=False``: its commit is not synced to disk by itself, but by the next synced one (the
        write-ahead log is synced whole): for a change worth nothing until that one is made."""
        db = self._connection()
        with self._writing if immediate else contextlib.nullcontext():
            try:
                if not synced:
                    db.execute("PRAGMA synchronous = NORMAL")
                db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"incident index {self.index_path}: {exc}") from exc
            finally:
                if not synced:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            self._local.db = None
            db.close()


    def _state(self, db: sqlite3.Connection, incident_id: str) -> tuple[str, State]:
        row = db.execute("SELECT id, state FROM incidents WHERE id = ? COLLATE NOCASE",
                         (incident_id,)).fetchone()
        if row is None:
            raise StoreError(f"unknown incident {incident_id}")
        return row[0], State(row[1])


    def claims(self, ips: Sequence[str], *, reported_since: datetime | None) -> dict[str, Incident]:
        """For each of ``ips`` that has one: the incident that stops it being reported again now:
        one left ``sending`` (interrupted, at any age) first, else the newest reported since
        ``reported_since`` (None: only the interrupted ones count). One query for all of them."""
        found: dict[str, tuple[bool, str, str]] = {}
        states = [s.value for s in REPORTED]
        with self.tx() as db:
            for chunk in (list(ips[n:n + 500]) for n in range(0, len(ips), 500)):
                rows = db.execute(
                    f"SELECT a.ip, i.id, i.state, i.created FROM incidents i "
                    f"JOIN addresses a ON a.incident = i.id WHERE a.ip IN ({marks(chunk)}) "
                    f"AND (i.state = ? OR (i.state IN ({marks(states)}) AND i.created >= ?))",
                    (*chunk, State.SENDING.value, *states, iso(reported_since) if reported_since else "~"))
                for ip, inc_id, state, created in rows:
                    key = (state == State.SENDING.value, created, inc_id)
                    if ip not in found or key > found[ip]:
                        found[ip] = key
            wanted = sorted({key[2] for key in found.values()})
            picked: list[Any] = db.execute(f"SELECT {COLUMNS} FROM incidents WHERE id IN ({marks(wanted)})",
                                           wanted).fetchall() if wanted else []
            incidents = {inc.id: inc for inc in self._incidents(db, picked)}
        return {ip: incidents[key[2]] for ip, key in found.items()}

    def open_drafts_for(self, ips: Sequence[str], since: datetime) -> dict[str, str]:
        """For each of ``ips`` held by an open draft created since ``since``: the newest such draft."""
        found: dict[str, tuple[str, str]] = {}
        with self.tx() as db:
            for chunk in (list(ips[n:n + 500]) for n in range(0, len(ips), 500)):
                for ip, inc_id, created in db.execute(
                        f"SELECT a.ip, i.id, i.created FROM incidents i "
                        f"JOIN addresses a ON a.incident = i.id WHERE a.ip IN ({marks(chunk)}) "
                        f"AND i.state = ? AND i.created >= ?",
                        (*chunk, State.DRAFT.value, iso(since))):
                    if ip not in found or (created, inc_id) > found[ip]:
                        found[ip] = (created, inc_id)
        return {ip: inc_id for ip, (_, inc_id) in found.items()}

    def open_draft_for(self, ips: Iterable[str], since: datetime) -> str | None:
        """The newest open draft created since ``since`` that holds one of ``ips``."""
        with self.tx() as db:
            return self._open_draft(db, list(ips), since)

    @staticmethod
    def _open_draft(db: sqlite3.Connection, ips: list[str], since: datetime) -> str | None:
        if not ips:
            return None
        row = db.execute(
            f"SELECT i.id FROM incidents i JOIN addresses a ON a.incident = i.id "
            f"WHERE a.ip IN ({marks(ips)}) AND i.state = ? AND i.created >= ? "
            f"ORDER BY i.created DESC, i.id DESC LIMIT 1",
            (*ips, State.DRAFT.value, iso(since))).fetchone()
        return row[0] if row else None


    def draft(self, incident_id: str) -> StoredDraft:
        """The stored draft: what is needed to send it, from the store only."""
        with self.tx() as db:
            inc_id, _ = self._state(db, incident_id)
            row = db.execute("SELECT subject, body, description, edited, version, contacts, attachments, "
                             "targets FROM drafts WHERE incident = ?", (inc_id,)).fetchone()
            folder = db.execute("SELECT folder FROM incidents WHERE id = ?", (inc_id,)).fetchone()[0]
            rcpts = [r[0] for r in db.execute(
                "SELECT address FROM recipients WHERE incident = ? ORDER BY rowid", (inc_id,))]
        if row is None:
            return _legacy_draft(inc_id, Path(folder))
        return StoredDraft(
            incident_id=inc_id, subject=row[0], body=row[1], recipients=tuple(rcpts),
            contacts=from_data(tuple[Contact, ...], _load(row[5])),
            attachments=from_data(tuple[AttachmentRef, ...], _load(row[6])),
            targets=from_data(tuple[Target, ...], _load(row[7])), description=row[2], edited=bool(row[3]),
            version=row[4])

    def attachments(self, incident_id: str) -> dict[str, bytes]:
        """The attachments' bytes as the index keeps them, by file name (none for an incident written
        before it did: its folder has the files)."""
        with self.tx() as db:
            rows = db.execute("SELECT filename, data FROM attachments WHERE incident = ?", (incident_id,))
            return {name: bytes(data) for name, data in rows}

    def sendable(self, incident_id: str) -> Sendable:
        """What a send reads (recipients, subject, body, attachments, why the findings are incomplete),
        without rebuilding every address's findings: a batch sends a thousand of them."""
        with self.tx() as db:
            inc_id, _ = self._state(db, incident_id)
            row = db.execute("SELECT subject, body, attachments, incomplete FROM drafts WHERE incident = ?",
                             (inc_id,)).fetchone()
            rcpts = tuple(r[0] for r in db.execute(
                "SELECT address FROM recipients WHERE incident = ? ORDER BY rowid", (inc_id,)))
        if row is None:
            old = self.draft(inc_id)
            return Sendable(inc_id, old.subject, old.body, old.recipients, old.attachments, ())
        incomplete = tuple(str(why) for why in _load(row[3]))
        return Sendable(inc_id, row[0], row[1], rcpts, from_data(tuple[AttachmentRef, ...], _load(row[2])),
                        incomplete)


    def origins(self, incident_id: str) -> list[Origin]:
        with self.tx() as db:
            return [Origin(*r) for r in db.execute(
                "SELECT kind, ref, detail FROM origins WHERE incident = ? ORDER BY rowid", (incident_id,))]

    def incidents_from(self, origin: Origin) -> list[str]:
        """The incidents an intake with this origin (an alert's Message-ID, a Slack message) made or fed."""
        if not origin.ref:
            return []
        with self.tx() as db:
            return [r[0] for r in db.execute(
                "SELECT DISTINCT incident FROM origins WHERE kind = ? AND ref = ?",
                (origin.kind, origin.ref))]


    def links(self, incident_id: str, kind: str) -> list[str]:
        with self.tx() as db:
            rows = db.execute("SELECT ref FROM links WHERE incident = ? AND kind = ? ORDER BY rowid",
                              (incident_id, kind))
            return [r[0] for r in rows]

    def linked(self, kind: str, ref: str) -> str | None:
        """The incident a front end's reference points at (a Slack message, an approval token)."""
        with self.tx() as db:
            row = db.execute("SELECT incident FROM links WHERE kind = ? AND ref = ? "
                             "ORDER BY rowid DESC LIMIT 1", (kind, ref)).fetchone()
        return row[0] if row else None


    # --- reading -----------------------------------------------------------------------------

    def get(self, incident_id: str) -> Incident:
        with self.tx() as db:
            row = db.execute(f"SELECT {COLUMNS} FROM incidents WHERE id = ? COLLATE NOCASE",
                             (incident_id,)).fetchone()
            if row is None:
                raise StoreError(f"unknown incident {incident_id}")
            return self._incidents(db, [row])[0]

    def exists(self, incident_id: str) -> bool:
        with self.tx() as db:
            row = db.execute("SELECT 1 FROM incidents WHERE id = ? COLLATE NOCASE", (incident_id,)).fetchone()
        return row is not None

    def history(self, incident_id: str) -> list[Event]:
        with self.tx() as db:
            inc_id, _ = self._state(db, incident_id)
            return self._history(db, inc_id)

    @staticmethod
    def _history(db: sqlite3.Connection, inc_id: str) -> list[Event]:
        rows = db.execute("SELECT at, actor, action, detail FROM events WHERE incident = ? ORDER BY seq",
                          (inc_id,))
        return [Event(datetime.fromisoformat(at), who, action, detail) for at, who, action, detail in rows]

    def incidents(self, states: Sequence[State] = (), since: datetime | None = None) -> list[Incident]:
        """Incidents, newest first, in any of ``states`` (all when empty), created since ``since``."""
        where, args = ["1"], []
        if states:
            where.append(f"state IN ({marks(states)})")
            args += [s.value for s in states]
        if since is not None:
            where.append("created >= ?")
            args.append(iso(since))
        with self.tx() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM incidents WHERE {' AND '.join(where)} "
                              f"ORDER BY created DESC, id DESC", args).fetchall()
            return self._incidents(db, rows)

    def _incidents(self, db: sqlite3.Connection, rows: list[Any]) -> list[Incident]:
        """Incidents for index rows, their addresses, recipients and Message-IDs read in bulk."""
        ids = [r[0] for r in rows]
        ips: dict[str, list[str]] = {i: [] for i in ids}
        rcpts: dict[str, dict[str, str]] = {i: {} for i in ids}
        mids: dict[str, list[str]] = {i: [] for i in ids}
        for chunk in (ids[n:n + 500] for n in range(0, len(ids), 500)):
            held = marks(chunk)
            for inc, ip in db.execute(
                    f"SELECT incident, ip FROM addresses WHERE incident IN ({held}) ORDER BY rowid", chunk):
                ips[inc].append(ip)
            for inc, addr, status, detail in db.execute(
                    f"SELECT incident, address, status, detail FROM recipients WHERE incident IN ({held}) "
                    f"ORDER BY rowid", chunk):
                rcpts[inc][addr] = f"{status}: {detail}" if detail else status
            for inc, mid in db.execute(
                    f"SELECT incident, message_id FROM message_ids WHERE incident IN ({held})", chunk):
                mids[inc].append(mid)
        return [Incident(id=r[0], state=State(r[1]), domain=r[2], folder=r[3],
                         created=datetime.fromisoformat(r[4]), updated=datetime.fromisoformat(r[5]),
                         subject=r[6], sent=datetime.fromisoformat(r[7]) if r[7] else None, forced=bool(r[8]),
                         ips=tuple(ips[r[0]]), recipients=tuple(rcpts[r[0]]), delivery=rcpts[r[0]],
                         message_ids=tuple(mids[r[0]])) for r in rows]

    def recent(self, *, ips: Sequence[str] = (), contacts: Sequence[str] = (), days: int,
               now: datetime | None = None) -> Incident | None:
        """The latest incident reported (or possibly reported) within ``days`` for these ips or contacts."""
        if days <= 0 or not (ips or contacts):
            return None
        since = iso((now or now_utc()) - timedelta(days=days))
        states = [s.value for s in REPORTED]
        hits: list[tuple[str, str]] = []
        with self.tx() as db:
            if ips:
                hits += db.execute(
                    f"SELECT i.id, i.created FROM incidents i JOIN addresses a ON a.incident = i.id "
                    f"WHERE a.ip IN ({marks(ips)}) AND i.created >= ? AND i.state IN ({marks(states)})",
                    (*ips, since, *states)).fetchall()
            if contacts:
                lowered = [c.lower() for c in contacts]
                hits += db.execute(
                    f"SELECT i.id, i.created FROM incidents i JOIN recipients r ON r.incident = i.id "
                    f"WHERE r.address IN ({marks(lowered)}) AND r.status != 'failed' AND i.created >= ? "
                    f"AND i.state IN ({marks(states)})", (*lowered, since, *states)).fetchall()
        return self.get(max(hits, key=lambda h: (h[1], h[0]))[0]) if hits else None

    def unfinished(self, *, ips: Sequence[str] = (), contacts: Sequence[str] = ()) -> Incident | None:
        """An incident for these ips or contacts whose send was interrupted (state ``sending``), any age."""
        with self.tx() as db:
            row = None
            if ips:
                row = db.execute(f"SELECT i.id FROM incidents i JOIN addresses a ON a.incident = i.id "
                                 f"WHERE a.ip IN ({marks(ips)}) AND i.state = ?",
                                 (*ips, State.SENDING.value)).fetchone()
            if row is None and contacts:
                lowered = [c.lower() for c in contacts]
                row = db.execute(f"SELECT i.id FROM incidents i JOIN recipients r ON r.incident = i.id "
                                 f"WHERE r.address IN ({marks(lowered)}) AND i.state = ?",
                                 (*lowered, State.SENDING.value)).fetchone()
        return self.get(row[0]) if row else None

    def by_message_id(self, message_id: str) -> Incident | None:
        with self.tx() as db:
            row = db.execute("SELECT incident FROM message_ids WHERE message_id = ?",
                             (message_id.strip(),)).fetchone()
        return self.get(row[0]) if row else None

    def by_subject(self, subject: str, *, states: Sequence[State] = REPORTED) -> Incident | None:
        """The latest incident in one of ``states`` whose report had this subject (case and spaces aside)."""
        wanted = " ".join(subject.split()).lower()
        if not wanted:
            return None
        values = [s.value for s in states]
        with self.tx() as db:
            rows = db.execute(f"SELECT id, subject FROM incidents WHERE state IN ({marks(values)}) "
                              f"ORDER BY created DESC, id DESC", values).fetchall()
        for inc_id, subj in rows:
            if " ".join(subj.split()).lower() == wanted:
                return self.get(inc_id)
        return None


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StoreError(f"a stored draft is damaged: {exc}") from exc



def _legacy_draft(inc_id: str, folder: Path) -> StoredDraft:
    """An incident written before drafts were kept whole: its orig_email.txt and XARF files."""
    try:
        to, subject, body = read_orig_email((folder / ORIG_EMAIL).read_text(encoding="utf-8"))
        files = sorted(p.name for p in folder.glob("xarf-*.json"))
    except OSError as exc:
        raise StoreError(f"cannot read incident {inc_id}: {exc.strerror}") from exc
    refs = tuple(AttachmentRef(f, "application/json") for f in files)
    return StoredDraft(inc_id, subject, body, tuple(to), (), refs, (), version=0)
