"""The incident store: one folder per incident on disk, and a sqlite index of all of them.

Layout (the old tool's, kept)::

    <report.incident_dir>/
        index.sqlite                      the index (ids, states, addresses, contacts, Message-IDs)
        <domain>/<timestamp>/             one incident
            orig_email.txt                the report as written (subject, recipients, body)
            message.eml                   the message as handed to the SMTP server
            findings.json                 what was gathered, for each address
            xarf-<ip>.json                the machine-readable reports
            followup-<timestamp>.eml      replies filed with the incident
        unmatched/                        replies no incident claimed: kept, never dropped

``<domain>`` comes from registry and DNS answers, i.e. from attackers: ``safe_segment`` makes it one
harmless path segment. Every file is written to a temporary name and renamed into place, and every
index change is one sqlite transaction, so a crash leaves the old state or the new one.

Incident ids are ``INC-YYYYMMDD-NNNN``: a per-day counter taken inside an IMMEDIATE transaction, so
concurrent processes never get the same number. Each method opens its own connection: a Store keeps
no per-incident state and can be shared between threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.errors import StoreError
from bot.models import Incident, State
from bot.store.files import SEGMENT_MAX, atomic_write, json_bytes, safe_segment, write_new

__all__ = [
    "FINDINGS_JSON",
    "INDEX_NAME",
    "MESSAGE_EML",
    "ORIG_EMAIL",
    "SEGMENT_MAX",
    "UNMATCHED",
    "AlreadyReported",
    "Store",
    "atomic_write",
    "safe_segment",
]

INDEX_NAME = "index.sqlite"
ORIG_EMAIL = "orig_email.txt"
MESSAGE_EML = "message.eml"
FINDINGS_JSON = "findings.json"
UNMATCHED = "unmatched"
ID_PATTERN = re.compile(r"\bINC-(\d{8})-(\d{4,})\b", re.IGNORECASE)
# States that count as "reported" for suppression: the mail went out, or may have.
REPORTED = (State.SENDING, State.SENT, State.ANSWERED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (day TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, ip TEXT NOT NULL, domain TEXT NOT NULL,
    folder TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '', created TEXT NOT NULL,
    updated TEXT NOT NULL, sent TEXT NOT NULL DEFAULT '', forced INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS addresses (incident TEXT NOT NULL, ip TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS addresses_ip ON addresses (ip);
CREATE TABLE IF NOT EXISTS recipients (
    incident TEXT NOT NULL, address TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'chosen',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS recipients_address ON recipients (address);
CREATE TABLE IF NOT EXISTS message_ids (message_id TEXT PRIMARY KEY, incident TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS followups (incident TEXT NOT NULL, path TEXT NOT NULL, received TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS followup_digests (
    digest TEXT PRIMARY KEY, incident TEXT NOT NULL, path TEXT NOT NULL
);
"""


class AlreadyReported(StoreError):
    """Another incident for the same address was sent (or is being sent) within the guard window."""

    def __init__(self, message: str, other: str) -> None:
        super().__init__(message)
        self.other = other


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(raw: bytes) -> str:
    """A mail's identity for filing: its bytes, whatever line ends a mail client or IMAP gave it."""
    return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


class Store:
    """Incident folders under `root` and the index `root/index.sqlite`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.index_path = self.root / INDEX_NAME
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.index_path, timeout=30.0)
            try:
                db.executescript(_SCHEMA)  # idempotent; runs in its own transaction
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the incident index {self.index_path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot create the incident folder {self.root}: {exc.strerror}") from exc

    # --- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.index_path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the incident index {self.index_path}: {exc}") from exc
        try:
            db.execute("PRAGMA busy_timeout = 30000")
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
            db.close()

    # --- ids and folders ---------------------------------------------------------------------

    def new_id(self, now: datetime | None = None) -> str:
        """The next free INC-YYYYMMDD-NNNN for the day of `now` (UTC)."""
        day = (now or _now()).astimezone(UTC).strftime("%Y%m%d")
        with self._tx(immediate=True) as db:
            db.execute("INSERT INTO counters (day, n) VALUES (?, 1) "
                       "ON CONFLICT(day) DO UPDATE SET n = n + 1", (day,))
            (n,) = db.execute("SELECT n FROM counters WHERE day = ?", (day,)).fetchone()
        return f"INC-{day}-{n:04d}"

    def _make_folder(self, domain: str, now: datetime) -> Path:
        parent = self.root / safe_segment(domain)
        stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            folder = parent / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                folder.mkdir()  # exclusive: two processes never share a folder
            except FileExistsError:
                continue
            return folder
        raise StoreError(f"too many incidents in {parent} at {stamp}")

    # --- writing -----------------------------------------------------------------------------

    def create(
        self,
        incident_id: str,
        *,
        ips: Sequence[str],
        domain: str,
        subject: str,
        recipients: Sequence[str],
        orig_email: str,
        findings: object,
        files: dict[str, bytes] | None = None,
        forced: bool = False,
        now: datetime | None = None,
    ) -> Incident:
        """Write a new incident's folder and index row (state draft)."""
        when = now or _now()
        try:
            folder = self._make_folder(domain, when)
            atomic_write(folder / FINDINGS_JSON, json_bytes(findings))
            for name, data in (files or {}).items():
                atomic_write(folder / safe_segment(name, "file"), data)
            atomic_write(folder / ORIG_EMAIL, orig_email.encode("utf-8"))
        except OSError as exc:
            raise StoreError(f"cannot write incident {incident_id}: {exc.strerror}") from exc
        seg = safe_segment(domain)
        with self._tx(immediate=True) as db:
            db.execute(
                "INSERT INTO incidents (id, state, ip, domain, folder, subject, created, updated, forced) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (incident_id, State.DRAFT.value, ips[0], seg, str(folder), subject, _iso(when), _iso(when),
                 int(forced)),
            )
            db.executemany("INSERT INTO addresses (incident, ip) VALUES (?, ?)",
                           [(incident_id, ip) for ip in ips])
            db.executemany("INSERT INTO recipients (incident, address) VALUES (?, ?)",
                           [(incident_id, r.lower()) for r in recipients])
        return self.get(incident_id)

    def update_report(self, incident_id: str, orig_email: str,
                      recipients: Sequence[str] | None = None) -> None:
        """Replace the written report (after a person edited it) and, if given, the recipients."""
        inc = self.get(incident_id)
        try:
            atomic_write(Path(inc.folder) / ORIG_EMAIL, orig_email.encode("utf-8"))
        except OSError as exc:
            raise StoreError(f"cannot write incident {incident_id}: {exc.strerror}") from exc
        if recipients is not None:
            with self._tx(immediate=True) as db:
                db.execute("DELETE FROM recipients WHERE incident = ?", (incident_id,))
                db.executemany("INSERT INTO recipients (incident, address) VALUES (?, ?)",
                               [(incident_id, r.lower()) for r in recipients])

    def set_state(self, incident_id: str, state: State, now: datetime | None = None) -> None:
        with self._tx(immediate=True) as db:
            cur = db.execute("UPDATE incidents SET state = ?, updated = ? WHERE id = ?",
                             (state.value, _iso(now or _now()), incident_id))
            if cur.rowcount != 1:
                raise StoreError(f"unknown incident {incident_id}")

    def record_sending(self, incident_id: str, message_id: str, eml: bytes, *,
                       guard_days: int = 0, now: datetime | None = None) -> None:
        """Before any SMTP traffic: the message as it will be sent, its Message-ID, state `sending`.

        Refuses when the incident is not a draft (it was sent, or a send was interrupted): sending
        again needs a person to say so (a new incident with --force). With `guard_days`, also raises
        AlreadyReported when another incident for one of its addresses was (or is being) sent within
        that many days: checked in the same transaction, so two processes reporting the same address
        at once cannot both send.
        """
        inc = self.get(incident_id)
        if inc.state not in (State.DRAFT, State.FAILED):
            raise StoreError(f"{incident_id} is {inc.state.value}; not sending it again")
        with self._tx(immediate=True) as db:
            cur = db.execute(
                "UPDATE incidents SET state = ?, updated = ? WHERE id = ? AND state IN (?, ?)",
                (State.SENDING.value, _iso(_now()), incident_id, State.DRAFT.value, State.FAILED.value),
            )
            if cur.rowcount != 1:  # another process got there first
                raise StoreError(f"{incident_id} is already being sent")
            if guard_days > 0:
                since = _iso((now or _now()) - timedelta(days=guard_days))
                marks = ",".join("?" * len(REPORTED))
                other = db.execute(
                    f"SELECT i.id FROM incidents i JOIN addresses a ON a.incident = i.id "
                    f"WHERE a.ip IN (SELECT ip FROM addresses WHERE incident = ?) AND i.id != ? "
                    f"AND i.created >= ? AND i.state IN ({marks}) ORDER BY i.created DESC LIMIT 1",
                    (incident_id, incident_id, since, *(s.value for s in REPORTED)),
                ).fetchone()
                if other is not None:
                    raise AlreadyReported(f"{incident_id}: its address was reported meanwhile as {other[0]}",
                                          other[0])
            db.execute("INSERT OR REPLACE INTO message_ids (message_id, incident) VALUES (?, ?)",
                       (message_id.strip(), incident_id))
            try:  # inside the transaction: written only once this process owns the send, else rolled back
                atomic_write(Path(inc.folder) / MESSAGE_EML, eml)
            except OSError as exc:
                raise StoreError(f"cannot write incident {incident_id}: {exc.strerror}") from exc

    def record_result(self, incident_id: str, accepted: Sequence[str], failed: dict[str, str]) -> State:
        """After the SMTP transaction: per-recipient outcome; `sent` if anyone accepted it."""
        state = State.SENT if accepted else State.FAILED
        now = _iso(_now())
        with self._tx(immediate=True) as db:
            for addr in accepted:
                db.execute("UPDATE recipients SET status = 'accepted', detail = '' WHERE incident = ? "
                           "AND address = ?", (incident_id, addr.lower()))
            for addr, why in failed.items():
                db.execute("UPDATE recipients SET status = 'failed', detail = ? WHERE incident = ? "
                           "AND address = ?", (why, incident_id, addr.lower()))
            db.execute("UPDATE incidents SET state = ?, updated = ?, sent = ? WHERE id = ?",
                       (state.value, now, now if accepted else "", incident_id))
        return state

    # --- reading -----------------------------------------------------------------------------

    def get(self, incident_id: str) -> Incident:
        with self._tx() as db:
            row = db.execute("SELECT id, state, ip, domain, folder, created, subject, sent, forced "
                             "FROM incidents WHERE id = ? COLLATE NOCASE", (incident_id,)).fetchone()
            if row is None:
                raise StoreError(f"unknown incident {incident_id}")
            ips = [r[0] for r in db.execute("SELECT ip FROM addresses WHERE incident = ?", (row[0],))]
            rcpts = db.execute("SELECT address, status, detail FROM recipients WHERE incident = ?",
                               (row[0],)).fetchall()
            mids = [r[0] for r in db.execute("SELECT message_id FROM message_ids WHERE incident = ?",
                                             (row[0],))]
        extra = {"subject": row[6], "sent": row[7], "forced": "yes" if row[8] else "no"}
        extra.update({f"recipient:{a}": f"{s} {d}".strip() for a, s, d in rcpts})
        return Incident(
            id=row[0], ip=row[2], domain=row[3], folder=row[4], state=State(row[1]),
            created=datetime.fromisoformat(row[5]), recipients=tuple(a for a, _, _ in rcpts),
            message_ids=tuple(mids), ips=tuple(ips), extra=extra,
        )

    def recent(
        self, *, ips: Sequence[str] = (), contacts: Sequence[str] = (), days: int,
        now: datetime | None = None,
    ) -> Incident | None:
        """The latest incident reported (or possibly reported) within `days` for any of the ips/contacts."""
        if days <= 0 or not (ips or contacts):
            return None
        since = _iso((now or _now()) - timedelta(days=days))
        states = tuple(s.value for s in REPORTED)
        marks = ",".join("?" * len(states))
        hits: list[tuple[str, str]] = []
        with self._tx() as db:
            for ip in ips:
                hits += db.execute(
                    f"SELECT i.id, i.created FROM incidents i JOIN addresses a ON a.incident = i.id "
                    f"WHERE a.ip = ? AND i.created >= ? AND i.state IN ({marks})", (ip, since, *states),
                ).fetchall()
            for addr in contacts:
                hits += db.execute(
                    f"SELECT i.id, i.created FROM incidents i JOIN recipients r ON r.incident = i.id "
                    f"WHERE r.address = ? AND i.created >= ? AND i.state IN ({marks})",
                    (addr.lower(), since, *states),
                ).fetchall()
        if not hits:
            return None
        return self.get(max(hits, key=lambda h: (h[1], h[0]))[0])

    def unfinished(self, *, ips: Sequence[str] = (), contacts: Sequence[str] = ()) -> Incident | None:
        """An incident for these ips/contacts whose send was interrupted (state `sending`), at any age."""
        with self._tx() as db:
            for ip in ips:
                row = db.execute("SELECT i.id FROM incidents i JOIN addresses a ON a.incident = i.id "
                                 "WHERE a.ip = ? AND i.state = ?", (ip, State.SENDING.value)).fetchone()
                if row:
                    return self.get(row[0])
            for addr in contacts:
                row = db.execute("SELECT i.id FROM incidents i JOIN recipients r ON r.incident = i.id "
                                 "WHERE r.address = ? AND i.state = ?", (addr.lower(), State.SENDING.value)
                                 ).fetchone()
                if row:
                    return self.get(row[0])
        return None

    def by_message_id(self, message_id: str) -> Incident | None:
        with self._tx() as db:
            row = db.execute("SELECT incident FROM message_ids WHERE message_id = ?",
                             (message_id.strip(),)).fetchone()
        return self.get(row[0]) if row else None

    def by_subject(self, subject: str) -> Incident | None:
        """The latest incident whose report had exactly this subject (case and spaces aside)."""
        wanted = " ".join(subject.split()).lower()
        if not wanted:
            return None
        with self._tx() as db:
            rows = db.execute("SELECT id, subject FROM incidents ORDER BY created DESC, id DESC").fetchall()
        for inc_id, subj in rows:
            if " ".join(subj.split()).lower() == wanted:
                return self.get(inc_id)
        return None

    def exists(self, incident_id: str) -> bool:
        with self._tx() as db:
            return db.execute("SELECT 1 FROM incidents WHERE id = ? COLLATE NOCASE",
                              (incident_id,)).fetchone() is not None

    def in_state(self, state: State) -> list[str]:
        with self._tx() as db:
            return [r[0] for r in db.execute("SELECT id FROM incidents WHERE state = ? ORDER BY id",
                                             (state.value,))]

    # --- follow-ups --------------------------------------------------------------------------

    def followup_filed(self, raw: bytes) -> tuple[str, Path] | None:
        """(incident id, or "" for unmatched/; path) where this very mail was filed before, if it was."""
        with self._tx() as db:
            row = db.execute("SELECT incident, path FROM followup_digests WHERE digest = ?",
                             (_digest(raw),)).fetchone()
        return (row[0], Path(row[1])) if row and Path(row[1]).is_file() else None

    def file_followup(self, incident_id: str | None, raw: bytes, now: datetime | None = None) -> Path:
        """Keep a reply beside its incident (or in unmatched/); a sent incident becomes answered.
        The same mail filed again for the same incident is not copied twice: its first path is returned."""
        prior = self.followup_filed(raw)
        if prior is not None and prior[0].lower() == (incident_id or "").lower():
            return prior[1]
        when = now or _now()
        stamp = when.astimezone(UTC).strftime("%Y%m%d%H%M%S")
        folder = Path(self.get(incident_id).folder) if incident_id else self.root / UNMATCHED
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = write_new(folder, f"followup-{stamp}", ".eml", raw)
        except OSError as exc:
            raise StoreError(f"cannot file the follow-up in {folder}: {exc.strerror}") from exc
        with self._tx(immediate=True) as db:
            db.execute("INSERT OR REPLACE INTO followup_digests (digest, incident, path) VALUES (?, ?, ?)",
                       (_digest(raw), incident_id or "", str(path)))
            if incident_id:
                db.execute("INSERT INTO followups (incident, path, received) VALUES (?, ?, ?)",
                           (incident_id, str(path), _iso(when)))
                db.execute("UPDATE incidents SET state = ?, updated = ? WHERE id = ? AND state = ?",
                           (State.ANSWERED.value, _iso(when), incident_id, State.SENT.value))
        return path
