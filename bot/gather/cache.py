"""The lookup cache: sqlite on disk, shared by threads, entries expire after a TTL.

Two tables: ``networks`` holds RDAP/whois network answers by address range, so one answer serves
every later address inside it (1,000 IPs in 100 networks cost about 100 queries), and ``items``
holds other answers by key (the IANA bootstrap files, domain registration data, DNS answers shared by a
network or a domain, which also keep their own TTL). Only successful answers are ever stored: a failure
is never cached, so a registry hiccup cannot poison it. The database runs in WAL mode without a sync
per write (it is a cache: a crash loses at most the last answers, never the file).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.models import Network, RegistryEntity

# 2: rows keep the time they were stored, so the configured TTL applies when reading;
# 3: items may carry their own expiry (a DNS answer's TTL)
_VERSION = 3
_SCHEMA = f"""
DROP TABLE IF EXISTS networks;
DROP TABLE IF EXISTS items;
CREATE TABLE networks (
    version INTEGER NOT NULL, first TEXT NOT NULL, last TEXT NOT NULL,
    stored REAL NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (version, first, last));
CREATE TABLE items (key TEXT PRIMARY KEY, stored REAL NOT NULL, expires REAL, data TEXT NOT NULL);
PRAGMA user_version = {_VERSION};
"""
log = logging.getLogger(__name__)
# Widest range cached: IANA hands the registries /8 (IPv4) and /12 (IPv6) blocks; no network is wider.
_LARGEST = {4: 1 << 24, 6: 1 << 116}


def default_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "incident-bot" / "lookups.sqlite"


def _key(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"{int(addr):032x}"  # fixed width: text order == numeric order, IPv6 included


def network_to_json(net: Network) -> str:
    return json.dumps(asdict(net))


def network_from_json(text: str) -> Network:
    d = json.loads(text)
    d["entities"] = tuple(RegistryEntity(**{**e, "roles": tuple(e["roles"]), "emails": tuple(e["emails"])})
                          for e in d["entities"])
    d["cidrs"] = tuple(d["cidrs"])
    return Network(**d)


def servable(net: Network) -> bool:
    """Whether a network answer may serve other addresses of its range: a usable range, no wider than
    a registry's block (a catch-all answer must not describe other addresses)."""
    try:
        first, last = ipaddress.ip_address(net.start), ipaddress.ip_address(net.end)
    except ValueError:
        return False
    return first.version == last.version and 0 <= int(last) - int(first) < _LARGEST[first.version]


_Item = tuple[float, float | None, str]        # stored, expires (or None), JSON text
_NetKey = tuple[int, str, str]                 # IP version, first and last address (fixed-width hex)


class LookupCache:
    """Thread-safe sqlite cache. An entry serves while younger than ``ttl_hours`` as configured now
    (not as configured when it was stored); ``ttl_hours <= 0`` turns the cache off.

    Written behind: a new answer is kept in memory (where every thread reads it at once) and written
    with others in one transaction when ``FLUSH_COUNT`` are waiting, when the oldest has waited
    ``FLUSH_AGE`` seconds, and at ``close``. Reads take a connection from a small pool, no lock: with
    one connection behind one lock, a bulk lookup's 32 threads queued for it (each holder gives up
    the interpreter's lock while sqlite works and waits to get it back), most of a 10,000-address run.
    """

    FLUSH_COUNT = 256
    FLUSH_AGE = 2.0

    def __init__(self, path: str | os.PathLike[str], ttl_hours: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.ttl = ttl_hours * 3600.0
        self._clock = clock
        self._idle: list[sqlite3.Connection] = []       # connections not in use (list ops are atomic)
        self._all: list[sqlite3.Connection] = []
        self._pending: dict[str, _Item] = {}           # written by nobody yet
        self._pending_nets: dict[_NetKey, tuple[float, str]] = {}
        self._flushing: dict[str, _Item] = {}          # being written now: still served from memory
        self._flushing_nets: dict[_NetKey, tuple[float, str]] = {}
        self._since = 0.0                              # when the oldest pending answer came
        self._memory = threading.Lock()                # the dicts above; held for Python work only
        self._writing = threading.Lock()               # one flush at a time
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
            db.execute("PRAGMA journal_mode=WAL")
            self._migrate(db)
            self._idle.append(db)
        except (OSError, sqlite3.Error) as exc:
            self._close_all()
            raise ConfigError(f"gather.cache_path: cannot use {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10)
        db.execute("PRAGMA synchronous=NORMAL")
        self._all.append(db)
        return db

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection for this thread's moment; returned to the pool after."""
        try:
            db = self._idle.pop()
        except IndexError:
            db = self._connect()
        try:
            yield db
        finally:
            self._idle.append(db)

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Create the tables, or replace an older layout (it is only a cache), in one transaction."""
        if db.execute("PRAGMA user_version").fetchone()[0] == _VERSION:
            return
        db.commit()
        db.execute("BEGIN IMMEDIATE")  # another process may be doing the same
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != _VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.commit()
        except BaseException:
            db.rollback()
            raise

    def close(self) -> None:
        """Write what is waiting, then close every connection."""
        self.flush()
        self._close_all()

    def _close_all(self) -> None:
        for db in self._all:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        self._all.clear()
        self._idle.clear()

    # --- reading -----------------------------------------------------------------------------

    def network_for(self, ip: str) -> Network | None:
        """The most specific unexpired cached network holding ``ip``."""
        if self.ttl <= 0:
            return None
        addr = ipaddress.ip_address(ip)
        k = _key(addr)
        oldest = self._oldest()
        best: tuple[str, str, str] | None = None   # first, last, data
        with self._memory:
            for table in (self._pending_nets, self._flushing_nets):
                for (version, first, last), (stored, data) in table.items():
                    if version == addr.version and first <= k <= last and stored > oldest \
                            and (best is None or _narrower(first, last, best)):
                        best = (first, last, data)
        with self._db() as db:
            row = db.execute(
                "SELECT first, last, data FROM networks WHERE version=? AND first<=? AND last>=? AND "
                "stored>? ORDER BY first DESC, last ASC LIMIT 1", (addr.version, k, k, oldest)).fetchone()
        if row is not None and (best is None or _narrower(row[0], row[1], best)):
            best = (row[0], row[1], row[2])
        return network_from_json(best[2]) if best else None

    def _oldest(self) -> float:
        """Entries stored before this moment are expired."""
        return self._clock() - self.ttl

    def get(self, key: str) -> Any:
        """The value stored under ``key`` if younger than the TTL (and its own expiry); else None."""
        if self.ttl <= 0:
            return None
        now = self._clock()
        item = self._item(key)
        if item is None or item[0] <= now - self.ttl or (item[1] is not None and item[1] <= now):
            return None
        return json.loads(item[2])

    def get_entry(self, key: str) -> tuple[Any, float] | None:
        """(value, time stored) whatever its age (the caller judges it: IANA's bootstrap files)."""
        if self.ttl <= 0:
            return None
        item = self._item(key)
        return (json.loads(item[2]), item[0]) if item else None

    def _item(self, key: str) -> _Item | None:
        """(stored, expires, JSON) of ``key``: waiting to be written, or from the file."""
        with self._memory:
            item = self._pending.get(key) or self._flushing.get(key)
        if item is None:
            with self._db() as db:
                row = db.execute("SELECT stored, expires, data FROM items WHERE key=?", (key,)).fetchone()
            item = (float(row[0]), row[1], row[2]) if row else None
        return item

    # --- writing -----------------------------------------------------------------------------

    def put_network(self, net: Network) -> None:
        if self.ttl <= 0 or not servable(net):
            return
        first, last = ipaddress.ip_address(net.start), ipaddress.ip_address(net.end)
        now = self._clock()
        with self._memory:
            self._pending_nets[(first.version, _key(first), _key(last))] = (now, network_to_json(net))
            due = self._take_due(now)
        if due:
            self._write(*due)

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value``; ``ttl``: seconds it may serve at most (a DNS answer's TTL), besides the
        cache's own TTL. A ttl of 0 or less stores nothing."""
        if self.ttl <= 0 or (ttl is not None and ttl <= 0):
            return
        now = self._clock()
        text = json.dumps(value)
        with self._memory:
            self._pending[key] = (now, None if ttl is None else now + ttl, text)
            due = self._take_due(now)
        if due:
            self._write(*due)

    def _take_due(self, now: float) -> tuple[dict[str, _Item], dict[_NetKey, tuple[float, str]]] | None:
        """(Under the memory lock.) What waits, moved to the flushing tables, if it is time to write
        it and no other thread is writing."""
        waiting = len(self._pending) + len(self._pending_nets)
        if waiting == 1:
            self._since = now
        if self._flushing or self._flushing_nets or not waiting:
            return None
        if waiting < self.FLUSH_COUNT and now - self._since < self.FLUSH_AGE:
            return None
        return self._swap()

    def _swap(self) -> tuple[dict[str, _Item], dict[_NetKey, tuple[float, str]]]:
        items, nets = self._pending, self._pending_nets
        self._flushing, self._flushing_nets = items, nets
        self._pending, self._pending_nets = {}, {}
        return items, nets

    def flush(self) -> None:
        """Write whatever waits now (``close`` does; so may a caller that wants it on disk)."""
        with self._writing:  # after a flush another thread is making
            with self._memory:
                due = self._swap() if (self._pending or self._pending_nets) else None
            if due:
                self._store(*due)

    def _write(self, items: dict[str, _Item], nets: dict[_NetKey, tuple[float, str]]) -> None:
        with self._writing:
            self._store(items, nets)

    def _store(self, items: dict[str, _Item], nets: dict[_NetKey, tuple[float, str]]) -> None:
        """One transaction for a batch. A failure loses the batch (it is a cache), never a lookup."""
        try:
            with self._db() as db, db:
                db.executemany("INSERT OR REPLACE INTO items VALUES (?,?,?,?)",
                               [(key, *item) for key, item in items.items()])
                db.executemany("INSERT OR REPLACE INTO networks VALUES (?,?,?,?,?)",
                               [(*net, stored, text) for net, (stored, text) in nets.items()])
        except sqlite3.Error as exc:
            log.warning("lookup cache %s: %d answers not kept: %s", self.path, len(items) + len(nets), exc)
        finally:
            with self._memory:
                self._flushing, self._flushing_nets = {}, {}

    def purge(self) -> int:
        """Remove the expired entries (older than the TTL, or past their own expiry); how many."""
        if self.ttl <= 0:
            return 0
        self.flush()
        now = self._clock()
        with self._writing, self._db() as db, db:
            items = db.execute("DELETE FROM items WHERE stored <= ? OR (expires IS NOT NULL AND "
                               "expires <= ?)", (now - self.ttl, now)).rowcount
            nets = db.execute("DELETE FROM networks WHERE stored <= ?", (now - self.ttl,)).rowcount
        return int(items) + int(nets)


def _narrower(first: str, last: str, than: tuple[str, str, str]) -> bool:
    """Whether the range first..last is more specific than ``than``'s (both hold the address)."""
    return (first, than[1]) > (than[0], last)
