"""Evidence of the same attacker seen again, added to what an open draft already holds (pure).

A re-forwarded alert or a second paste of the same lines must not count twice: lines already held
are recognised by their text, and only the rest count. When the kept excerpt would pass its cap, its
first half stays (how it started) and the newest lines fill the rest (what it does now).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.models import Candidate, Evidence


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((t for t in (a, b) if t is not None), default=None)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)


def merge(held: Candidate, seen: Candidate, cap: int) -> tuple[Candidate, int]:
    """(``held`` with ``seen``'s evidence added, number of lines that were new)."""
    known = set(held.evidence.lines)
    added = [line for line in dict.fromkeys(seen.evidence.lines) if line not in known]
    repeated = len(seen.evidence.lines) - len(added)
    new_count = max(0, seen.count - repeated)
    lines = list(held.evidence.lines) + added
    if cap > 0 and len(lines) > cap:
        head = cap // 2
        lines = lines[:head] + lines[len(lines) - (cap - head):]
    ev = Evidence(
        lines=tuple(lines),
        total_lines=held.evidence.total_lines + max(0, seen.evidence.total_lines - repeated),
        first_seen=_earliest(held.evidence.first_seen, seen.evidence.first_seen),
        last_seen=_latest(held.evidence.last_seen, seen.evidence.last_seen),
    )
    share = new_count / seen.count if seen.count else 0.0
    merged = replace(held, count=held.count + new_count,
                     source_count=held.source_count + round(seen.source_count * share),
                     destination_count=held.destination_count + round(seen.destination_count * share),
                     evidence=ev)
    return merged, new_count
