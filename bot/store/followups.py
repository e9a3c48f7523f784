"""Mail kept with incidents: replies filed beside their report, unmatched mail, rejected mail.

Nothing is ever dropped: a reply no incident claims goes to ``unmatched/``; a mail that cannot be read
at all (nested a thousand deep, larger than the cap, not a mail) goes to ``rejected/`` with a
``.reason`` file beside it. The same mail filed twice (a redelivery, a restart) is recognised by its
bytes and not copied again.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import StoreError
from bot.lifecycle import Action, Actor
from bot.models import State
from bot.store.files import atomic_write, write_new
from bot.store.store import Store, iso

UNMATCHED = "unmatched"
REJECTED = "rejected"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Filed:
    incident: str           # "" for unmatched or rejected mail
    path: Path
    again: bool             # this very mail was filed there before: not copied again


def digest(source: bytes | Path) -> str:
    """A mail's identity for filing: its bytes, whatever line ends a mail client or IMAP gave it."""
    h = hashlib.sha256()
    if isinstance(source, bytes):
        h.update(source.replace(b"\r\n", b"\n"))
        return h.hexdigest()
    with source.open("rb") as fh:
        carry = b""
        while chunk := fh.read(_CHUNK):
            chunk = carry + chunk
            carry = b"\r" if chunk.endswith(b"\r") else b""
            h.update(chunk[:-1].replace(b"\r\n", b"\n") if carry else chunk.replace(b"\r\n", b"\n"))
        h.update(carry)
    return h.hexdigest()


def filed_before(store: Store, source: bytes | Path, mark: str = "") -> Filed | None:
    """Where this very mail was filed before, if it was (and the file is still there). ``mark``: its
    digest, when the caller has it already."""
    with store.tx() as db:
        row = db.execute("SELECT incident, path FROM followup_digests WHERE digest = ?",
                         (mark or digest(source),)).fetchone()
    if row and Path(row[1]).is_file():
        return Filed(row[0], Path(row[1]), True)
    return None


def _write(folder: Path, stem: str, source: bytes | Path, key: str) -> Path:
    """Write the mail as ``<stem>-<key>.eml`` (key: the start of its digest), or return the file a run
    killed before its index row was committed left with that key: a retry never makes a second copy."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = stem.split("-", 1)[0]
    left = sorted(folder.glob(f"{prefix}-*-{key}.eml"), key=lambda p: (p.stat().st_size == 0, p.name))
    if left and left[0].stat().st_size > 0:
        return left[0]
    if left:  # killed between taking the name and filling it: fill it now
        path = left[0]
    elif isinstance(source, bytes):
        return write_new(folder, f"{stem}-{key}", ".eml", source)
    else:
        path = write_new(folder, f"{stem}-{key}", ".eml", b"")
    if isinstance(source, bytes):
        atomic_write(path, source)
        return path
    tmp = path.with_name(f".tmp-{path.name}")
    shutil.copyfile(source, tmp)  # a large mail is copied in chunks, never held in memory
    tmp.replace(path)
    return path


def file_reply(store: Store, incident_id: str | None, source: bytes | Path, *, actor: Actor,
               kind: str = "human", ticket: str = "", sender: str = "", preview: str = "", note: str = "",
               now: datetime | None = None) -> Filed:
    """Keep a mail beside its incident (or in unmatched/ when ``incident_id`` is None).

    ``kind`` is the reply's class (human, auto_ack, bounce): a human answer makes a sent incident
    ``answered``; the others are noted in the history and change no state. ``ticket`` is the desk's
    own ticket number, remembered so that later mail naming only it finds the incident."""
    mark = digest(source)
    prior = filed_before(store, source, mark)
    if prior is not None and prior.incident.lower() == (incident_id or "").lower():
        return prior
    when = now or datetime.now(UTC)
    stamp = when.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    folder = Path(store.get(incident_id).folder) if incident_id else store.root / UNMATCHED
    try:
        path = _write(folder, f"followup-{stamp}", source, mark[:12])
    except OSError as exc:
        raise StoreError(f"cannot file the mail in {folder}: {exc.strerror}") from exc
    with store.tx(immediate=True) as db:
        db.execute("INSERT OR REPLACE INTO followup_digests (digest, incident, path) VALUES (?, ?, ?)",
                   (mark, incident_id or "", str(path)))
        if incident_id:
            db.execute("INSERT INTO followups (incident, path, received, kind, ticket, sender, preview) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (incident_id, str(path), iso(when), kind, ticket, sender, preview))
            if ticket:
                db.execute("INSERT OR IGNORE INTO tickets (incident, ticket) VALUES (?, ?)",
                           (incident_id, ticket_key(ticket, sender)))
            (state_text,) = db.execute("SELECT state FROM incidents WHERE id = ?", (incident_id,)).fetchone()
            state = State(state_text)
            answered = kind == "human" and state in (State.SENT, State.ANSWERED)
            action = Action.ANSWER if answered else Action.NOTE
            if answered:
                db.execute("UPDATE incidents SET state = ?, updated = ? WHERE id = ?",
                           (State.ANSWERED.value, iso(when), incident_id))
            what = {"human": "reply", "auto_ack": "auto-acknowledgement", "bounce": "bounce"}.get(kind, kind)
            detail = (f"{what}{f' from {sender}' if sender else ''}"
                      f"{f' (ticket {ticket})' if ticket else ''}: {path.name}{f'; {note}' if note else ''}")
            db.execute("INSERT INTO events (incident, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
                       (incident_id, iso(when), str(actor), action.value, detail))
    return Filed(incident_id or "", path, False)


def reject(store: Store, source: bytes | Path, reason: str, now: datetime | None = None) -> Filed:
    """Keep a mail that cannot be read, with the reason in ``<name>.reason`` beside it."""
    mark = digest(source)
    prior = filed_before(store, source, mark)
    if prior is not None and prior.incident == "" and prior.path.parent.name == REJECTED:
        return prior
    when = now or datetime.now(UTC)
    folder = store.root / REJECTED
    try:
        path = _write(folder, f"mail-{when.astimezone(UTC):%Y%m%d%H%M%S}", source, mark[:12])
        atomic_write(path.with_suffix(".reason"), (reason.strip() + "\n").encode("utf-8", "replace"))
    except OSError as exc:
        raise StoreError(f"cannot keep the rejected mail in {folder}: {exc.strerror}") from exc
    with store.tx(immediate=True) as db:
        db.execute("INSERT OR REPLACE INTO followup_digests (digest, incident, path) VALUES (?, ?, ?)",
                   (mark, "", str(path)))
    return Filed("", path, False)


@dataclass(frozen=True)
class FiledReply:
    path: str
    received: datetime
    kind: str
    ticket: str
    sender: str
    preview: str


def replies(store: Store, incident_id: str) -> list[FiledReply]:
    with store.tx() as db:
        return [FiledReply(p, datetime.fromisoformat(r), k, t, s, v) for p, r, k, t, s, v in db.execute(
            "SELECT path, received, kind, ticket, sender, preview FROM followups WHERE incident = ? "
            "ORDER BY rowid",
            (incident_id,))]


def ticket_key(ticket: str, sender: str) -> str:
    """A desk's ticket number as remembered: with the mail domain of the desk that gave it, since
    "#123456" means something else at every desk (and anyone can write one)."""
    domain = sender.rpartition("@")[2].strip(" <>").lower()
    return f"{domain} {ticket.lower()}"


def by_ticket(store: Store, ticket: str, sender: str) -> str | None:
    """The incident a desk's ticket number was learnt for (from its acknowledgement), if any: only
    when this mail comes from the same mail domain as the one that gave the number."""
    with store.tx() as db:
        row = db.execute("SELECT incident FROM tickets WHERE ticket = ? ORDER BY rowid DESC LIMIT 1",
                         (ticket_key(ticket, sender),)).fetchone()
    return row[0] if row else None


def unmatched(store: Store) -> list[Path]:
    folder = store.root / UNMATCHED
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []

