"""What the mailbox watcher remembers, in the incident index (tables of schema migration 3).

- ``mailbox_seen``: every message it finished, by (mailbox, UIDVALIDITY, UID) and by Message-ID and
  digest, with what became of it and the folder it was moved to. A restart finds a message it had
  finished but not yet moved, and moves it; a UIDVALIDITY change (every UID new) or the same mail
  delivered twice finds it by Message-ID (or, without one, by its bytes) and processes nothing again.
  A message kept in quarantine does not count: moved back to the inbox by a person, it is tried again.
- ``mailbox_tries``: the failed attempts at a message, so that one that fails every time is put aside
  after ``mailbox.max_tries``, across restarts, and never blocks the mail behind it.
- ``mailbox_folders``: each folder's last UIDVALIDITY, to say in the log when it changed.
- ``notices``: the Message-IDs of the notices the bot mailed (to operators who may be this very
  mailbox): never read back as alerts.

``mailbox`` is ``<user>@<host>/<folder>``. Rows are only added or updated, never needed for anything
but this; a person may delete the tables' rows to make the bot read a folder again from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.store import Store
from bot.store.index import iso

QUARANTINED = "quarantined"


@dataclass(frozen=True)
class Key:
    mailbox: str
    uidvalidity: int
    uid: int

    def __str__(self) -> str:
        return f"{self.mailbox} uid {self.uid}"


@dataclass(frozen=True)
class Seen:
    key: Key
    outcome: str
    folder: str
    detail: str


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _row(row: tuple[str, int, int, str, str, str]) -> Seen:
        return Seen(Key(row[0], int(row[1]), int(row[2])), row[3], row[4], row[5])

    def done(self, key: Key) -> Seen | None:
        """What became of this very message (this mailbox, UIDVALIDITY and UID), if it was finished."""
        with self.store.tx() as db:
            row = db.execute("SELECT mailbox, uidvalidity, uid, outcome, folder, detail FROM mailbox_seen "
                             "WHERE mailbox = ? AND uidvalidity = ? AND uid = ?",
                             (key.mailbox, key.uidvalidity, key.uid)).fetchone()
        return self._row(row) if row else None

    def same_mail(self, *, message_id: str = "", digest: str = "") -> Seen | None:
        """A message finished earlier (anywhere, not quarantined) with this Message-ID or these bytes."""
        clauses, args = [], []
        if message_id:
            clauses.append("message_id = ?")
            args.append(message_id)
        if digest:
            clauses.append("digest = ?")
            args.append(digest)
        if not clauses:
            return None
        with self.store.tx() as db:
            row = db.execute(f"SELECT mailbox, uidvalidity, uid, outcome, folder, detail FROM mailbox_seen "
                             f"WHERE ({' OR '.join(clauses)}) AND outcome != ? ORDER BY rowid LIMIT 1",
                             (*args, QUARANTINED)).fetchone()
        return self._row(row) if row else None

    def finish(self, key: Key, *, outcome: str, folder: str, detail: str = "", message_id: str = "",
               digest: str = "", now: datetime | None = None) -> None:
        """Remember that the message is done (its draft or reply committed), before it is moved."""
        with self.store.tx(immediate=True) as db:
            db.execute("INSERT OR REPLACE INTO mailbox_seen (mailbox, uidvalidity, uid, message_id, digest, "
                       "outcome, folder, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (key.mailbox, key.uidvalidity, key.uid, message_id, digest, outcome, folder,
                        detail[:500], iso(now or datetime.now(UTC))))
            db.execute("DELETE FROM mailbox_tries WHERE mailbox = ? AND uidvalidity = ? AND uid = ?",
                       (key.mailbox, key.uidvalidity, key.uid))

    def tries(self, key: Key) -> tuple[int, str]:
        """How often the message failed, and the last reason."""
        with self.store.tx() as db:
            row = db.execute("SELECT tries, reason FROM mailbox_tries WHERE mailbox = ? AND uidvalidity = ? "
                             "AND uid = ?", (key.mailbox, key.uidvalidity, key.uid)).fetchone()
        return (int(row[0]), row[1]) if row else (0, "")

    def failed(self, key: Key, reason: str, now: datetime | None = None) -> int:
        """Count one more failed attempt; the count."""
        with self.store.tx(immediate=True) as db:
            db.execute("INSERT INTO mailbox_tries (mailbox, uidvalidity, uid, tries, reason, at) "
                       "VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (mailbox, uidvalidity, uid) DO UPDATE SET "
                       "tries = tries + 1, reason = excluded.reason, at = excluded.at",
                       (key.mailbox, key.uidvalidity, key.uid, reason[:500], iso(now or datetime.now(UTC))))
            (count,) = db.execute("SELECT tries FROM mailbox_tries WHERE mailbox = ? AND uidvalidity = ? "
                                  "AND uid = ?", (key.mailbox, key.uidvalidity, key.uid)).fetchone()
        return int(count)

    def uidvalidity(self, mailbox: str, value: int, now: datetime | None = None) -> int | None:
        """Record the folder's UIDVALIDITY; the previous one when it changed (None otherwise)."""
        with self.store.tx(immediate=True) as db:
            row = db.execute("SELECT uidvalidity FROM mailbox_folders WHERE mailbox = ?",
                             (mailbox,)).fetchone()
            if row is not None and int(row[0]) == value:
                return None
            db.execute("INSERT OR REPLACE INTO mailbox_folders (mailbox, uidvalidity, at) VALUES (?, ?, ?)",
                       (mailbox, value, iso(now or datetime.now(UTC))))
        return int(row[0]) if row is not None else None

    def quarantined(self) -> list[Seen]:
        with self.store.tx() as db:
            rows = db.execute("SELECT mailbox, uidvalidity, uid, outcome, folder, detail FROM mailbox_seen "
                              "WHERE outcome = ? ORDER BY rowid", (QUARANTINED,)).fetchall()
        return [self._row(r) for r in rows]

    # --- the bot's own notices ---------------------------------------------------------------

    def notice_sent(self, message_id: str, kind: str, incident: str = "",
                    now: datetime | None = None) -> None:
        with self.store.tx(immediate=True) as db:
            db.execute("INSERT OR IGNORE INTO notices (message_id, incident, kind, at) VALUES (?, ?, ?, ?)",
                       (message_id, incident, kind, iso(now or datetime.now(UTC))))

    def is_notice(self, message_id: str) -> bool:
        if not message_id:
            return False
        with self.store.tx() as db:
            row = db.execute("SELECT 1 FROM notices WHERE message_id = ?", (message_id,)).fetchone()
        return row is not None
