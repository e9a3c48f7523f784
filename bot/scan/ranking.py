"""Ordering the candidates: which addresses are global, which are ours, who ranks first."""

from __future__ import annotations

import bisect
import heapq
import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache

from bot.errors import ConfigError
from bot.models import Candidate, Evidence, Role
from bot.public_address import is_public
from bot.scan.tally import Tally

MAX_EVIDENCE_CHARS = 2000   # one evidence line is cut to this many characters


def clip(line: str) -> str:
    """An evidence line, cut to MAX_EVIDENCE_CHARS."""
    return line if len(line) <= MAX_EVIDENCE_CHARS else line[:MAX_EVIDENCE_CHARS] + " [...]"


def is_global(ip: str) -> bool:
    """A public unicast address: not private, loopback, documentation, link-local, CGNAT, multicast..."""
    if ":" not in ip:
        # IPv4 by integer ranges: the same answer as ipaddress (checked by the tests), much faster.
        a, b, c, d = ip.split(".")
        n = (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d)
        i = bisect.bisect_right(_V4_STARTS, n) - 1
        return not (i >= 0 and n <= _V4_NON_GLOBAL[i][1])
    return _is_global(ip)


def _v4_ranges(cidrs: tuple[str, ...]) -> list[tuple[int, int]]:
    nets = sorted(ipaddress.IPv4Network(c) for c in cidrs)
    return [(int(n.network_address), int(n.broadcast_address)) for n in nets]


# Not global for ipaddress (is_private, 100.64/10) and multicast, which we never report either.
_V4_NON_GLOBAL = _v4_ranges((
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/29", "192.0.0.170/31", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
))
_V4_STARTS = [start for start, _ in _V4_NON_GLOBAL]


@lru_cache(maxsize=65536)
def _is_global(ip: str) -> bool:
    return is_public(ip)  # the one definition the gatherer uses too: reportable == may be looked up


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


# No host sends from these: a wildcard a daemon listens on ("IP=0.0.0.0:389", Juniper's
# peer-source-address="0.0.0.0"), the broadcast address. Never a line's attacker side (roles), and
# even where non-global addresses may be the attacker, they rank after every other.
NO_HOST = frozenset({"0.0.0.0", "::", "255.255.255.255"})


def _key(allow_non_global: bool, first: str | None) -> Callable[[tuple[str, Tally]], tuple[int, ...]]:
    def key(item: tuple[str, Tally]) -> tuple[int, ...]:
        ip, t = item
        eligible = (allow_non_global and ip not in NO_HOST) or is_global(ip)
        return (0 if ip == first else 1, 0 if eligible else 1, -t.source_count, -t.count, t.dest_count,
                t.first_pos)
    return key


def top_ips(tallies: dict[str, Tally], n: int, *, allow_non_global: bool) -> list[str]:
    """The ``n`` first addresses of rank(), without building every candidate."""
    return [ip for ip, _ in heapq.nsmallest(n, tallies.items(), key=_key(allow_non_global, None))]


# A number standing alone (a time, a port, a pid, an address's octets), not one glued to a word
# (the 7 of john.doe7): what changes between two tries of the same thing.
# Numbers, and first the ISO 8601 date-times whose letters ("03T10", "007Z") would hide theirs
_NUMBER = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d[\d:.,]*(?:Z|[+-]\d\d:?\d\d)?|\b\d+\b")
TIE_WINDOW = 10   # the first candidates of equal counts are ordered by variety, the rest by appearance


def variety(lines: list[str] | None) -> int:
    """How many different things an address's evidence lines show, numbers aside: eleven accounts
    tried once each is eleven, one account tried eleven times is one."""
    return len({_NUMBER.sub("0", line) for line in lines or ()})


def rank(tallies: dict[str, Tally], *, allow_non_global: bool, first: str | None = None) -> list[Candidate]:
    """Candidates, attacker first: global before non-global (unless allowed), then attacker-side
    lines, then all lines mentioning it, then fewer lines naming it the hit side; among the first
    TIE_WINDOW, equal counts go to the one whose evidence lines vary most, then to first appearance.
    ``first`` (a named IP) leads."""
    key = _key(allow_non_global, first)
    order = sorted(tallies.items(), key=key)
    head = order[:TIE_WINDOW]
    head.sort(key=lambda item: (*key(item)[:-1], -variety(item[1].lines), item[1].first_pos))
    order[:TIE_WINDOW] = head
    out = []
    for ip, t in order:
        out.append(Candidate(
            ip=ip, count=t.count, source_count=t.source_count, role=_dominant(t),
            reportable=is_global(ip),
            evidence=Evidence(lines=tuple(t.lines or ()), total_lines=t.count, first_seen=t.first,
                              last_seen=t.last),
            destination_count=t.dest_count, approximate=t.approx,
        ))
    return out
