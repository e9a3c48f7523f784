"""One folder of the mailbox, read until told to stop: every message in it processed once, in order.

For each message (by UID, oldest first):
- finished before (this mailbox, UIDVALIDITY and UID in the ledger): moved where it belongs (a
  restart after the draft was committed but before the move);
- failed ``mailbox.max_tries`` times: moved to quarantine with the last reason; never fetched again;
- the same mail as one finished before (its Message-ID, or its bytes when it has none: a UIDVALIDITY
  change, a second delivery): moved where the first went, nothing done again;
- larger than ``mailbox.max_message_mb`` (RFC822.SIZE, before any byte of it is read): quarantine;
- otherwise fetched (capped, within the fetch deadline) and handed to the intake; the outcome is
  written to the ledger, and only then is the message flagged and moved. A crash anywhere leaves
  either the message in place (done again: the core adds nothing twice) or the ledger row (moved
  on the next pass).

A dropped connection (also one cut by the fetch deadline) counts as a failed try of the message
being fetched, then the watcher reconnects with doubling backoff. An error processing one message
counts as its failed try and the next message is processed: one poison mail never blocks the mail
behind it. The incident store failing (disk full, locked) is not the message's fault: the pass stops
and is tried again after the backoff, nothing counted.

Between passes it waits with IDLE (re-issued every ``idle_renew_seconds``, at most ten minutes),
or sleeps ``poll_seconds`` on a server without IDLE. Log lines name the folder and UID, and the
incident ids a message made or fed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bot.config import MailboxConfig
from bot.errors import StoreError
from bot.store import followups
from bot.text import single_line
from handlers.mailbox.imap import Connection, Dropped, LoginRefused, MailboxError, Refused
from handlers.mailbox.intake import MailIntake
from handlers.mailbox.ledger import QUARANTINED, Key, Ledger
from handlers.mailbox.results import DONE, LEAVES, QUARANTINE, Source

log = logging.getLogger("incident.mailbox")
ONCE_ATTEMPTS = 3       # --once gives up after this many failed passes in a row that made no progress


class FetchDropped(Dropped):
    """The connection broke while a message was fetched: counted against that message (so the next
    pass makes progress: after max_tries it is quarantined)."""


class Watcher:
    def __init__(self, cfg: MailboxConfig, folder: str, intake: MailIntake, ledger: Ledger, *,
                 replies_only: bool = False,
                 connect: Callable[[MailboxConfig], Connection] = Connection.open) -> None:
        self.cfg = cfg
        self.folder = folder
        self.intake = intake
        self.ledger = ledger
        self.replies_only = replies_only
        self.connect = connect
        self.mailbox = f"{cfg.username}@{cfg.host}/{folder}"
        self.cap = int(cfg.max_message_mb * 1024 * 1024)
        self.errors = 0         # passes that ended in an error, since the last good one

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, once: bool = False) -> None:
        """Read the folder until ``stop`` is set; with ``once``, until it is empty (MailboxError when
        it cannot be read ``max_tries`` times in a row, or the login is refused)."""
        delay = self.cfg.backoff
        while not stop.is_set():
            try:
                with self.connect(self.cfg) as conn:
                    wanted = [self.folder] if self.replies_only else []  # a reply folder a filter fills
                    made = conn.ensure([*wanted, *(conn.folder(leaf) for leaf in LEAVES)])
                    if made:
                        log.info("%s: created %s", self.folder, ", ".join(made))
                    validity = conn.select(self.folder)
                    if not conn.keywords:
                        log.warning("%s: the server keeps no keywords here; processed mail is moved "
                                    "without the %s flag", self.folder, self.cfg.flag)
                    before = self.ledger.uidvalidity(self.mailbox, validity)
                    if before is not None:
                        log.warning("%s: UIDVALIDITY changed from %d to %d: every UID is new; mail "
                                    "already processed is recognised by its Message-ID", self.folder, before,
                                    validity)
                    while not stop.is_set():
                        left = self.drain(conn, validity, stop)
                        self.errors, delay = 0, self.cfg.backoff
                        if once and not left:
                            return
                        idle = self.cfg.idle and not left  # a mail to try again: come back soon
                        conn.wait(stop, self.cfg.idle_renew_seconds if idle else self.cfg.poll_seconds)
            except LoginRefused as exc:
                log.error("%s: %s; check mailbox.username and the password", self.folder, exc)
                if once:
                    raise
            except FetchDropped as exc:
                log.warning("%s: %s; reconnecting in %.3g s", self.folder, exc, delay)
                self.errors -= 1  # counted against the message instead
            except MailboxError as exc:
                log.warning("%s: %s; reconnecting in %.3g s", self.folder, exc, delay)
            except StoreError as exc:
                log.error("%s: incident store: %s; trying again in %.3g s", self.folder, exc, delay)
            self.errors += 1
            if once and self.errors >= ONCE_ATTEMPTS:
                raise MailboxError(f"{self.folder}: gave up after {self.errors} attempts in a row")
            stop.wait(delay)
            delay = min(max(delay, 0.01) * 2, self.cfg.backoff_max)

    def drain(self, conn: Connection, validity: int, stop: threading.Event) -> bool:
        """Process every message waiting, and what arrived meanwhile; whether some are left to be
        tried again."""
        tried: set[int] = set()
        left = False
        while not stop.is_set():
            new = [uid for uid in conn.uids() if uid not in tried]
            if not new:
                return left
            for uid in new:
                if stop.is_set():
                    return True
                tried.add(uid)
                left = self._one(conn, Key(self.mailbox, validity, uid)) or left
        return True

    # --- one message -------------------------------------------------------------------------

    def _one(self, conn: Connection, key: Key) -> bool:
        """Process one message; True when it failed and stays to be tried again."""
        done = self.ledger.done(key)
        if done is not None:
            self._move(conn, key, done.folder or conn.folder(DONE), f"finished before ({done.outcome})")
            return False
        tries, reason = self.ledger.tries(key)
        if tries >= self.cfg.max_tries:
            self._quarantine(conn, key, f"failed {tries} times; last: {reason}")
            return False
        meta = conn.meta(key.uid)
        if meta is None:
            return False  # gone meanwhile (a person moved it)
        if self._same(conn, key, message_id=meta.message_id):
            return False
        if meta.size > self.cap:
            self._quarantine(conn, key, f"{meta.size} bytes, more than mailbox.max_message_mb "
                                        f"({self.cfg.max_message_mb:g} MB): not read", meta.message_id)
            return False
        try:
            raw = conn.fetch(key.uid, self.cap)
        except Dropped as exc:
            count = self.ledger.failed(key, f"fetch: {exc}")
            log.warning("%s uid=%d: fetch failed (try %d of %d)", self.folder, key.uid, count,
                        self.cfg.max_tries)
            raise FetchDropped(str(exc)) from exc
        if raw is None:
            if conn.meta(key.uid) is not None:
                self._quarantine(conn, key, f"more than {self.cap} bytes when fetched", meta.message_id)
            return False
        digest = followups.digest(raw)
        if not meta.message_id and self._same(conn, key, digest=digest):
            return False
        try:
            handled = self.intake.handle(raw, Source(self.folder, key.uid, self.replies_only))
        except StoreError:
            raise
        except Exception as exc:  # one mail's failure, whatever it is, costs that mail only
            why = single_line(f"{exc.__class__.__name__}: {exc}", 300)
            count = self.ledger.failed(key, why)
            log.exception("%s uid=%d: failed (try %d of %d): %s", self.folder, key.uid, count,
                          self.cfg.max_tries, why)
            if count >= self.cfg.max_tries:
                self._quarantine(conn, key, f"failed {count} times; last: {why}", meta.message_id, raw)
                return False
            return True
        target = conn.folder(handled.leaf)
        outcome = QUARANTINED if handled.leaf == QUARANTINE else handled.outcome  # moved back: tried again
        self.ledger.finish(key, outcome=outcome, folder=target, detail=f"{handled.outcome}: {handled.detail}",
                           message_id=meta.message_id or handled.message_id, digest=digest)
        incidents = f" {' '.join(handled.incidents)}" if handled.incidents else ""
        log.info("%s uid=%d %s%s: %s", self.folder, key.uid, handled.outcome, incidents,
                 single_line(handled.detail, 400))
        self._move(conn, key, target, handled.outcome)
        return False

    def _same(self, conn: Connection, key: Key, *, message_id: str = "", digest: str = "") -> bool:
        same = self.ledger.same_mail(message_id=message_id, digest=digest)
        if same is None or same.key == key:
            return False
        detail = f"the same mail as {same.key} ({same.outcome})"
        self.ledger.finish(key, outcome="duplicate", folder=same.folder, detail=detail, message_id=message_id,
                           digest=digest)
        log.info("%s uid=%d duplicate: %s", self.folder, key.uid, detail)
        self._move(conn, key, same.folder or conn.folder(DONE), "duplicate")
        return True

    def _quarantine(self, conn: Connection, key: Key, reason: str, message_id: str = "",
                    raw: bytes | None = None) -> None:
        target = conn.folder(QUARANTINE)
        if raw is not None:  # the bytes are in hand: keep them in the store too, with the reason
            reason += f"; kept in {followups.reject(self.intake.app.store(), raw, reason).path}"
        self.ledger.finish(key, outcome=QUARANTINED, folder=target, detail=reason, message_id=message_id)
        log.error("%s uid=%d quarantined: %s", self.folder, key.uid, single_line(reason, 400))
        self._move(conn, key, target, QUARANTINED)

    def _move(self, conn: Connection, key: Key, folder: str, why: str) -> None:
        try:
            how = conn.mark_and_move(key.uid, folder)
        except Refused as exc:  # the message stays; the ledger moves it on the next pass
            log.warning("%s uid=%d: not moved to %s (%s); tried again on the next pass", self.folder, key.uid,
                        folder, exc)
            return
        log.debug("%s uid=%d %s to %s (%s)", self.folder, key.uid, how, folder, why)
