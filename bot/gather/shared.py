"""Answers that hold for a whole network, prefix or domain, asked once and reused by every address.

Within one ``gather_many`` the answer (with its progress lines, problems and notes) is kept in the run's
:class:`BatchMemo`; a successful one also goes to the lookup cache for its DNS TTL (and the cache's own
TTL), so later runs and later single lookups reuse it. While one thread asks, the others wanting the same
answer wait for it (single flight), so a network costs one question however many of its addresses are
looked up at once. Failures are kept for the run only, never in the cache.

Which answers are shared, and why that is correct, is in docs/gathering.md ("Shared answers").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bot.gather.cache import LookupCache
from bot.gather.trail import Trail

_WAIT = 60.0   # longest wait for another thread's answer before asking ourselves


class SharedAnswers:
    """Shared by the threads of one Gatherer; holds only the in-flight table (and the cache it uses)."""

    def __init__(self, cache: LookupCache) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Event] = {}

    def get(self, trail: Trail, key: str, compute: Callable[[Trail], tuple[Any, float | None]]) -> Any:
        """The answer for ``key``: from the run's memo, the cache, or ``compute(trail) -> (value, ttl)``.

        ``value`` must survive JSON (lists, strings, numbers, None); it comes back as JSON gives it.
        ``ttl``: seconds the answer may be reused (a DNS TTL); None: as long as the cache keeps answers.
        Its progress lines, problems, notes and reasons for incompleteness are replayed into ``trail``.
        """
        while True:
            hit = self._known(trail, key)
            if hit is not None:
                return _replay(trail, hit)
            with self._lock:
                event = self._inflight.get(key)
                if event is None:
                    mine = self._inflight[key] = threading.Event()
                    break
            event.wait(_WAIT)  # then look again; if the other thread failed outside a run, ask ourselves
        try:
            sub = Trail(shared=trail.shared)
            value, ttl = compute(sub)
            hit = {"value": value, "lines": list(sub.lines), "problems": list(sub.problems),
                   "notes": list(sub.notes), "incomplete": list(sub.incomplete)}
            if trail.shared is not None:
                trail.shared.memo.setdefault(key, hit)
            if not sub.problems and not sub.incomplete:
                self.cache.put(f"shared:{key}", {k: hit[k] for k in ("value", "lines", "notes")}, ttl=ttl)
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            mine.set()
        return _replay(trail, hit)

    def known(self, trail: Trail, key: str) -> bool:
        """Whether the answer for ``key`` is in hand (this run's, or the cache's): no question to ask."""
        return self._known(trail, key) is not None

    def _known(self, trail: Trail, key: str) -> dict[str, Any] | None:
        if trail.shared is not None:
            hit = trail.shared.memo.get(key)
            if hit is not None:
                return hit
        stored = self.cache.get(f"shared:{key}")
        if not isinstance(stored, dict) or "value" not in stored:
            return None
        hit = {"value": stored["value"], "lines": list(stored.get("lines", [])), "problems": [],
               "notes": list(stored.get("notes", [])), "incomplete": []}
        if trail.shared is not None:
            trail.shared.memo.setdefault(key, hit)
        return hit


def _replay(trail: Trail, hit: dict[str, Any]) -> Any:
    for line in hit["lines"]:
        trail.line(line)
    trail.problems.extend(hit["problems"])
    trail.notes.extend(hit["notes"])
    trail.incomplete.extend(hit["incomplete"])
    return hit["value"]
