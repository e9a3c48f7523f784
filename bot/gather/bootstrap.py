"""IANA's RDAP bootstrap files: which registry serves an address block (ipv4, ipv6) or a TLD (dns).

Each file is fetched when first needed (through the fetcher: checked, capped, bounded in time), kept in
memory and in the lookup cache, and fetched again once older than ``gather.bootstrap_max_age_hours``,
so a process running for months follows IANA's changes. When a refresh fails, the copy in hand is kept:
the log says so (WARNING) and so does the lookup's progress, and the next attempt waits RETRY_AFTER
seconds (IANA down must not cost every lookup a request). Without any copy, the failure is the caller's.
Shared by the threads of one Gatherer; holds IANA's data only.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.errors import LookupFailed
from bot.gather.cache import LookupCache
from bot.gather.trail import Trail

log = logging.getLogger(__name__)

IANA_URL = "https://data.iana.org/rdap/{}.json"
FILES = ("ipv4", "ipv6", "dns")
RETRY_AFTER = 600.0


@dataclass
class _Copy:
    data: dict[str, Any]
    fetched: float           # wall-clock time it was fetched (time.time())
    retry_at: float = 0.0    # after a failed refresh: no new attempt before this (time.time())
    index: Any = field(default=None, repr=False)   # built from data once: see ip_index, tld_index


def ip_index(data: dict[str, Any]) -> list[tuple[int, int, int, int, str]]:
    """(version, first, last, prefix length, https URL) of each block, most specific first."""
    out = []
    for service in data.get("services", []):
        if not (isinstance(service, list) and len(service) == 2 and isinstance(service[1], list)):
            continue
        prefixes, urls = service
        https = [u for u in urls if isinstance(u, str) and u.startswith("https://")]
        for prefix in prefixes if https and isinstance(prefixes, list) else []:
            try:
                net = ipaddress.ip_network(prefix, strict=False)
            except (ValueError, TypeError):
                continue
            out.append((net.version, int(net.network_address), int(net.broadcast_address), net.prefixlen,
                        https[0]))
    return sorted(out, key=lambda item: -item[3])


def tld_index(data: dict[str, Any]) -> dict[str, str]:
    """TLD -> the RDAP base URL serving it (https first)."""
    out: dict[str, str] = {}
    for service in data.get("services", []):
        if not (isinstance(service, list) and len(service) == 2 and isinstance(service[0], list)
                and isinstance(service[1], list)):
            continue
        urls = [u for u in service[1] if isinstance(u, str) and u.startswith(("https://", "http://"))]
        urls.sort(key=lambda u: not u.startswith("https://"))
        for tld in service[0]:
            if isinstance(tld, str) and urls:
                out.setdefault(tld.lower().strip("."), urls[0])
    return out


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when))


class Bootstraps:
    """IANA's bootstrap files, fresh enough. ``fetch(url)`` returns the parsed JSON or raises
    LookupFailed; ``count()`` is called once per request made."""

    def __init__(self, fetch: Callable[[str], Any], cache: LookupCache, max_age_hours: float,
                 count: Callable[[], None] = lambda: None, clock: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self._cache = cache
        self.max_age = max_age_hours * 3600.0
        self._count = count
        self._clock = clock
        self._copies: dict[str, _Copy] = {}
        self._locks = {name: threading.Lock() for name in FILES}

    def ip_base(self, ip: str, trail: Trail) -> str | None:
        """The RDAP base URL IANA names for ``ip`` (most specific block, https), None if none does."""
        addr = ipaddress.ip_address(ip)
        index = self._copy(f"ipv{addr.version}", trail, ip_index).index
        value = int(addr)
        return next((url for version, first, last, _, url in index
                     if version == addr.version and first <= value <= last), None)

    def tld_base(self, name: str, trail: Trail) -> str | None:
        """The RDAP base URL IANA names for ``name``'s TLD, None if none does."""
        index = self._copy("dns", trail, tld_index).index
        found: str | None = index.get(name.rstrip(".").rsplit(".", 1)[-1].lower())
        return found

    def get(self, name: str, trail: Trail) -> dict[str, Any]:
        """The bootstrap file ``name`` (ipv4, ipv6, dns). Raises LookupFailed when there is no copy at all
        and fetching it failed."""
        return self._copy(name, trail).data

    def _copy(self, name: str, trail: Trail,
              indexer: Callable[[dict[str, Any]], Any] | None = None) -> _Copy:
        with self._locks[name]:
            copy = self._current(name, trail)
            if indexer is not None and copy.index is None:
                copy.index = indexer(copy.data)
            return copy

    def _current(self, name: str, trail: Trail) -> _Copy:
        """The copy to use now: fresh, or refreshed, or (the refresh failing) the one in hand."""
        copy = self._copies.get(name)
        if copy is None:
            stored = self._cache.get_entry(f"iana-bootstrap:{name}")
            if stored is not None and _usable(stored[0]):
                copy = self._copies[name] = _Copy(stored[0], stored[1])
        now = self._clock()
        if copy is not None and (now - copy.fetched < self.max_age or now < copy.retry_at):
            return copy
        try:
            self._count()
            data = self._fetch(IANA_URL.format(name))
            if not _usable(data):
                raise LookupFailed(f"IANA bootstrap file {name}.json has no services", source="rdap",
                                   temporary=True)
        except LookupFailed as exc:
            if copy is None:
                raise
            copy.retry_at = now + RETRY_AFTER
            log.warning("IANA bootstrap %s.json could not be refreshed (%s); keeping the copy fetched %s",
                        name, exc, _stamp(copy.fetched))
            trail.line(f"IANA bootstrap {name}.json: refresh failed ({exc}); using the copy fetched "
                       f"{_stamp(copy.fetched)}")
            return copy
        if copy is not None:
            log.info("IANA bootstrap %s.json refreshed (the copy in hand was fetched %s)", name,
                     _stamp(copy.fetched))
        copy = self._copies[name] = _Copy(data, now)
        self._cache.put(f"iana-bootstrap:{name}", data)
        return copy


def _usable(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("services"), list)
