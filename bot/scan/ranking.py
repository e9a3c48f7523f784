"""Counting what each address did over the whole input, and ordering the candidates.

Memory stays bounded by the number of distinct addresses: per address a few counters and at most
``excerpt_lines`` evidence lines are kept, never the input itself.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from functools import lru_cache

from bot.errors import ConfigError
from bot.models import Candidate, Evidence, Role

MAX_EVIDENCE_CHARS = 2000   # one evidence line is cut to this many characters


def clip(line: str) -> str:
    """An evidence line, cut to MAX_EVIDENCE_CHARS."""
    return line if len(line) <= MAX_EVIDENCE_CHARS else line[:MAX_EVIDENCE_CHARS] + " [...]"


class Tally:
    """What one address did: lines mentioning it, on which side, when, and some of those lines."""

    __slots__ = ("count", "dest_count", "first", "first_pos", "last", "lines", "source_count")

    def __init__(self, pos: int) -> None:
        self.count = 0
        self.source_count = 0
        self.dest_count = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.lines: list[str] = []
        self.first_pos = pos

    def add(self, line: str, when: datetime | None, keep: int) -> None:
        self.count += 1
        if when is not None:
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when
        if len(self.lines) < keep:
            self.lines.append(clip(line))


@lru_cache(maxsize=65536)
def is_global(ip: str) -> bool:
    """A public unicast address: not private, loopback, documentation, link-local, CGNAT, multicast..."""
    addr = ipaddress.ip_address(ip)
    return bool(addr.is_global) and not addr.is_multicast


class OwnNetworks:
    """config.scan.own_networks (CIDRs) and the literal addresses among own_hostnames."""

    def __init__(self, cidrs: tuple[str, ...], hostnames: tuple[str, ...]) -> None:
        nets = []
        for c in cidrs:
            try:
                nets.append(ipaddress.ip_network(c, strict=False))
            except ValueError as exc:
                raise ConfigError(f"scan.own_networks: {c!r} is not a network (CIDR)") from exc
        for h in hostnames:
            try:
                nets.append(ipaddress.ip_network(h, strict=False))
            except ValueError:
                continue
        self._nets = tuple(nets)
        self._cache: dict[str, bool] = {}

    def __contains__(self, ip: object) -> bool:
        if not self._nets or not isinstance(ip, str):
            return False
        hit = self._cache.get(ip)
        if hit is None:
            addr = ipaddress.ip_address(ip)
            hit = any(addr.version == n.version and addr in n for n in self._nets)
            if len(self._cache) < 100_000:
                self._cache[ip] = hit
        return hit


def _dominant(t: Tally) -> Role:
    if t.source_count and t.source_count >= t.dest_count:
        return Role.SOURCE
    if t.dest_count:
        return Role.DESTINATION
    return Role.UNKNOWN


def rank(tallies: dict[str, Tally], *, allow_non_global: bool, first: str | None = None) -> list[Candidate]:
    """Candidates, attacker first: global before non-global (unless allowed), then attacker-side
    lines, then all lines mentioning it, then first appearance. ``first`` (a named IP) leads."""
    def key(item: tuple[str, Tally]) -> tuple[int, int, int, int, int]:
        ip, t = item
        glob = is_global(ip)
        return (0 if ip == first else 1, 0 if (allow_non_global or glob) else 1,
                -t.source_count, -t.count, t.first_pos)

    out = []
    for ip, t in sorted(tallies.items(), key=key):
        out.append(Candidate(
            ip=ip, count=t.count, source_count=t.source_count, role=_dominant(t),
            reportable=is_global(ip),
            evidence=Evidence(lines=tuple(t.lines), total_lines=t.count, first_seen=t.first,
                              last_seen=t.last),
            destination_count=t.dest_count,
        ))
    return out
