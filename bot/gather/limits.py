"""Politeness towards registries: per-registry concurrency, request rate and backoff.

A :class:`RegistryGate` is shared by the threads of one Gatherer. ``with gate.slot():`` waits
for a free slot (``concurrency``) and for the next start time allowed by ``per_minute``; the
first requests of a burst start at once (a bucket of ``min(concurrency, per_minute)``), later
ones are spaced evenly. ``backoff(attempt, retry_after)`` gives the pause before a retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bot.config import RegistryLimit


class RegistryGate:
    """Concurrency and rate limit for one registry."""

    def __init__(self, name: str, limit: RegistryLimit, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit.concurrency)
        self._lock = threading.Lock()
        self._interval = 60.0 / limit.per_minute
        self._burst = max(1, min(limit.concurrency, limit.per_minute))
        self._tokens = float(self._burst)
        self._stamp = clock()
        self._clock = clock
        self._sleep = sleep
        self._paused_until = 0.0

    def _take(self) -> float:
        """Reserve a start; return how long to wait before it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self._burst), self._tokens + (now - self._stamp) / self._interval)
            self._stamp = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens * self._interval
            return max(wait, self._paused_until - now)

    def pause(self, seconds: float) -> None:
        """Hold every new request to this registry for a while (after a 429)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._slots:
            wait = self._take()
            if wait > 0:
                self._sleep(wait)
            yield


def backoff(attempt: int, base: float, retry_after: float | None = None, cap: float = 60.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): Retry-After, else exponential."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cap)
    return min(base * (2 ** (attempt - 1)), cap)


class Gates:
    """One gate per registry, built from config; unknown registries share a default limit."""

    def __init__(self, limits: dict[str, RegistryLimit],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._limits = dict(limits)
        self._sleep = sleep
        self._gates: dict[str, RegistryGate] = {}
        self._lock = threading.Lock()

    def get(self, registry: str) -> RegistryGate:
        with self._lock:
            gate = self._gates.get(registry)
            if gate is None:
                gate = RegistryGate(registry, self._limits.get(registry, RegistryLimit()), sleep=self._sleep)
                self._gates[registry] = gate
            return gate
