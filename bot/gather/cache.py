"""The lookup cache: sqlite on disk, shared by threads, entries expire after a TTL.

Two tables: ``networks`` holds RDAP/whois network answers by address range, so one answer serves
every later address inside it (1,000 IPs in 100 networks cost about 100 queries), and ``items``
holds other answers by key (the IANA bootstrap files, domain registration data, DNS answers shared by a
network or a domain, which also keep their own TTL). Only successful answers are ever stored: a failure
is never cached, so a registry hiccup cannot poison it. The database runs in WAL mode without a sync
per write (it is a cache: a crash loses at most the last answers, never the file).
"""

from __future__ import annotations

import ipaddress
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
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


class LookupCache:
    """Thread-safe sqlite cache. An entry serves while younger than ``ttl_hours`` as configured now
    (not as configured when it was stored); ``ttl_hours <= 0`` turns the cache off."""

    def __init__(self, path: str | os.PathLike[str], ttl_hours: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.ttl = ttl_hours * 3600.0
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10)
            with self._lock:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"gather.cache_path: cannot use {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        """Create the tables, or replace an older layout (it is only a cache), in one transaction."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] == _VERSION:
            return
        self._db.commit()
        self._db.execute("BEGIN IMMEDIATE")  # another process may be doing the same
        try:
            if self._db.execute("PRAGMA user_version").fetchone()[0] != _VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def network_for(self, ip: str) -> Network | None:
        """The most specific unexpired cached network holding ``ip``."""
        if self.ttl <= 0:
            return None
        addr = ipaddress.ip_address(ip)
        k = _key(addr)
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM networks WHERE version=? AND first<=? AND last>=? AND stored>? "
                "ORDER BY first DESC, last ASC LIMIT 1", (addr.version, k, k, self._oldest())).fetchone()
        return network_from_json(row[0]) if row else None

    def put_network(self, net: Network) -> None:
        if self.ttl <= 0 or not servable(net):
            return
        first, last = ipaddress.ip_address(net.start), ipaddress.ip_address(net.end)
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO networks VALUES (?,?,?,?,?)",
                             (first.version, _key(first), _key(last), self._clock(),
                              network_to_json(net)))

    def _oldest(self) -> float:
        """Entries stored before this moment are expired."""
        return self._clock() - self.ttl

    def get(self, key: str) -> Any:
        """The value stored under ``key`` if younger than the TTL (and its own expiry); else None."""
        if self.ttl <= 0:
            return None
        with self._lock:
            row = self._db.execute("SELECT data FROM items WHERE key=? AND stored>? AND (expires IS NULL "
                                   "OR expires>?)", (key, self._oldest(), self._clock())).fetchone()
        return json.loads(row[0]) if row else None

    def get_entry(self, key: str) -> tuple[Any, float] | None:
        """(value, time stored) whatever its age (the caller judges it: IANA's bootstrap files)."""
        if self.ttl <= 0:
            return None
        with self._lock:
            row = self._db.execute("SELECT data, stored FROM items WHERE key=?", (key,)).fetchone()
        return (json.loads(row[0]), float(row[1])) if row else None

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value``; ``ttl``: seconds it may serve at most (a DNS answer's TTL), besides the
        cache's own TTL. A ttl of 0 or less stores nothing."""
        if self.ttl <= 0 or (ttl is not None and ttl <= 0):
            return
        now = self._clock()
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO items VALUES (?,?,?,?)",
                             (key, now, None if ttl is None else now + ttl, json.dumps(value)))
