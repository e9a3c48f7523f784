"""The incident index's tables, and the migrations that bring an older index up to date.

``PRAGMA user_version`` says which migrations ran. Version 0 is an index written before versions
were kept (its tables exist or not); each migration only adds, so an index is never rewritten and a
newer index opened by an older program keeps working for what it knew.
"""

from __future__ import annotations

import sqlite3
import time

_V1 = """
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

# Drafts kept whole (sendable later from any process), the history, the origins of each incident.
_V2 = """
CREATE TABLE drafts (
    incident TEXT PRIMARY KEY, subject TEXT NOT NULL, body TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', edited INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1, contacts TEXT NOT NULL, attachments TEXT NOT NULL,
    targets TEXT NOT NULL
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, incident TEXT NOT NULL, at TEXT NOT NULL,
    actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_incident ON events (incident);
CREATE TABLE origins (
    incident TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE INDEX origins_ref ON origins (kind, ref);
CREATE INDEX incidents_state ON incidents (state, created);
ALTER TABLE followups ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE followups ADD COLUMN ticket TEXT NOT NULL DEFAULT '';
ALTER TABLE followups ADD COLUMN sender TEXT NOT NULL DEFAULT '';
ALTER TABLE followups ADD COLUMN preview TEXT NOT NULL DEFAULT '';
CREATE TABLE tickets (incident TEXT NOT NULL, ticket TEXT NOT NULL, UNIQUE (incident, ticket));
CREATE INDEX tickets_ticket ON tickets (ticket);
CREATE TABLE links (
    incident TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL, at TEXT NOT NULL,
    UNIQUE (incident, kind, ref)
);
CREATE INDEX links_ref ON links (kind, ref);
"""

# The mailbox watcher's memory (handlers/mailbox): each message it finished, by (mailbox, UIDVALIDITY,
# UID) and by Message-ID, so that a restart or a UIDVALIDITY change reads nothing twice; the failed
# tries of a message (quarantined after N); each folder's last UIDVALIDITY; the notices the bot mailed
# itself (never read back as alerts).
_V3 = """
CREATE TABLE mailbox_seen (
    mailbox TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL,
    message_id TEXT NOT NULL DEFAULT '', digest TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL,
    folder TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '', at TEXT NOT NULL,
    PRIMARY KEY (mailbox, uidvalidity, uid)
);
CREATE INDEX mailbox_seen_message_id ON mailbox_seen (message_id);
CREATE INDEX mailbox_seen_digest ON mailbox_seen (digest);
CREATE TABLE mailbox_tries (
    mailbox TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL, tries INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '', at TEXT NOT NULL,
    PRIMARY KEY (mailbox, uidvalidity, uid)
);
CREATE TABLE mailbox_folders (mailbox TEXT PRIMARY KEY, uidvalidity INTEGER NOT NULL, at TEXT NOT NULL);
CREATE TABLE notices (
    message_id TEXT PRIMARY KEY, incident TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL, at TEXT NOT NULL
);
"""

# A draft's attachments kept in the index with it: a send reads the index only, and the folder's
# copies need no fsync of their own. Why its findings are incomplete, kept beside them: a send checks
# it without decoding every address's findings.
_V4 = """
CREATE TABLE attachments (
    incident TEXT NOT NULL, filename TEXT NOT NULL, content_type TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (incident, filename)
);
ALTER TABLE drafts ADD COLUMN incomplete TEXT NOT NULL DEFAULT '[]';
"""

MIGRATIONS = (_V1, _V2, _V3, _V4)
VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection) -> None:
    """Run the migrations this index has not had, each in one IMMEDIATE transaction (another
    process may be opening the same index: the version is read again under the lock)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        current = db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS, 1):
            if number > current:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
        db.execute(f"PRAGMA user_version = {max(current, VERSION)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def write_ahead_log(db: sqlite3.Connection) -> None:
    """Switch the index to write-ahead logging: one fsync per commit instead of several, and readers
    never wait for a writer (the bot's front ends read while a batch writes). The mode is kept in the
    file; switching needs the index to itself for a moment, which sqlite's busy timeout does not wait
    for, so another process opening it at the same time is waited out here."""
    deadline = time.monotonic() + 30.0
    while db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
