"""Counting what each address did, in bounded memory whatever the input.

Exact counters are kept for at most ``capacity`` addresses. When a new address arrives and the table
is full, the lower half of it (by the candidate order: attacker-side lines, then lines) is folded
into a count-min sketch, a fixed-size table of counters that never under-counts. An address that
comes back after being folded starts again from its sketch estimate, and its counts are then marked
approximate, as is the whole result: the top candidates, the ones that matter, stay exact unless
they once fell into the lower half. An attacker who writes millions of distinct addresses (rotating
through an IPv6 prefix) costs the table's and the sketch's size, never more.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable
from datetime import datetime

DEFAULT_CAPACITY = 100_000
SKETCH_WIDTH = 1 << 19       # counters per row (4 rows, 2 counts: 16 MB)
SKETCH_ROWS = 4
_SEEDS = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F)   # one per row


class Tally:
    """What one address did: lines mentioning it, on which side, when, and some of those lines."""

    __slots__ = ("approx", "count", "dest_count", "first", "first_pos", "last", "lines", "source_count")

    def __init__(self, pos: int) -> None:
        self.count = 0
        self.source_count = 0
        self.dest_count = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.lines: list[str] | None = None
        self.first_pos = pos
        self.approx = False

    def seen(self, when: datetime | None) -> None:
        if when is not None:
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when


class Sketch:
    """Count-min sketch of (lines, attacker-side lines) per address, with conservative updates (a
    counter only grows as far as the address's own estimate needs): estimates never under-count."""

    def __init__(self) -> None:
        self.rows = [array("I", bytes(4 * SKETCH_WIDTH)) for _ in range(SKETCH_ROWS * 2)]
        self.used = False

    def _slots(self, ip: str) -> list[int]:
        # crc32, not hash(): the same in every process (worker processes' sketches are merged)
        data = ip.encode("ascii", "replace")
        return [zlib.crc32(data, s) % SKETCH_WIDTH for s in _SEEDS]

    def add(self, ip: str, count: int, src: int) -> None:
        self.used = True
        slots = self._slots(ip)
        for k, n in ((0, count), (1, src)):
            if not n:
                continue
            rows = self.rows[k * SKETCH_ROWS:(k + 1) * SKETCH_ROWS]
            target = min(row[slot] for row, slot in zip(rows, slots, strict=True)) + n
            for row, slot in zip(rows, slots, strict=True):
                if row[slot] < target:
                    row[slot] = min(target, 0xFFFFFFFF)

    def estimate(self, ip: str) -> tuple[int, int]:
        if not self.used:
            return 0, 0
        rows = self.rows
        slots = self._slots(ip)
        count = min(rows[r][s] for r, s in enumerate(slots))
        src = min(rows[SKETCH_ROWS + r][s] for r, s in enumerate(slots)) if count else 0
        return count, min(src, count)

    def merge(self, other: Sketch) -> None:
        """Add ``other``'s counters (an upper bound of the addresses' sums, as count-min's)."""
        if not other.used:
            return
        self.used = True
        for mine, theirs in zip(self.rows, other.rows, strict=True):
            for i, v in enumerate(theirs):
                if v:
                    mine[i] = min(mine[i] + v, 0xFFFFFFFF)


class Counts:
    """The per-address tallies of one scan (or one part of it), bounded."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = max(16, DEFAULT_CAPACITY if capacity is None else capacity)
        self.tallies: dict[str, Tally] = {}
        self.sketch: Sketch | None = None
        self.folded = 0             # addresses moved into the sketch (an address may count twice)

    @property
    def approximate(self) -> bool:
        return self.folded > 0

    def get(self, ip: str, pos: int) -> Tally:
        """The tally of ``ip``, created (at input position ``pos``) if needed."""
        t = self.tallies.get(ip)
        if t is None:
            if len(self.tallies) >= self.capacity:
                self._fold()
            t = self.tallies[ip] = Tally(pos)
            if self.sketch is not None:
                count, src = self.sketch.estimate(ip)
                if count:
                    t.count, t.source_count, t.approx = count, src, True
        return t

    def _fold(self) -> None:
        """Move the lower half of the table into the sketch."""
        if self.sketch is None:
            self.sketch = Sketch()
        order = sorted(self.tallies.items(),
                       key=lambda kv: (kv[1].source_count, kv[1].count, -kv[1].first_pos))
        for ip, t in order[:len(order) // 2]:
            self.sketch.add(ip, t.count, t.source_count)
            del self.tallies[ip]
            self.folded += 1

    def merge(self, other: Counts, keep: int) -> None:
        """Add ``other`` (the counts of the input that follows) into this one; at most ``keep``
        evidence lines per address are kept."""
        if other.sketch is not None:
            if self.sketch is None:
                self.sketch = Sketch()
            self.sketch.merge(other.sketch)
        self.folded += other.folded
        for ip, t in other.tallies.items():
            mine = self.tallies.get(ip)
            if mine is None:
                if len(self.tallies) >= self.capacity:
                    self._fold()
                self.tallies[ip] = t
                continue
            mine.count += t.count
            mine.source_count += t.source_count
            mine.dest_count += t.dest_count
            mine.approx = mine.approx or t.approx
            mine.seen(t.first)
            mine.seen(t.last)
            if t.lines:
                if mine.lines is None:
                    mine.lines = []
                mine.lines.extend(t.lines[:max(0, keep - len(mine.lines))])

    def items(self) -> Iterable[tuple[str, Tally]]:
        return self.tallies.items()
