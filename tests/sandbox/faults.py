"""Fault plans: "the next N requests matching X get fault K", shared by the sandbox servers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Fault:
    matches: Callable[[str], bool]
    kind: str
    remaining: int | None       # None: every matching request until cleared
    data: str = ""              # what the fault needs besides its kind (a redirect's Location)


class FaultPlan:
    """Thread-safe list of pending faults; the first one that matches a request is used up."""

    def __init__(self, kinds: frozenset[str]) -> None:
        self.kinds = kinds
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(self, matches: Callable[[str], bool], kind: str, times: int | None, data: str = "") -> None:
        if kind not in self.kinds:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(self.kinds)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        with self._lock:
            self._faults.append(_Fault(matches, kind, times, data))

    def take(self, key: str) -> str | None:
        """The fault kind for a request identified by `key`, or None to answer normally."""
        found = self.take_with_data(key)
        return found[0] if found else None

    def take_with_data(self, key: str) -> tuple[str, str] | None:
        """(kind, data) of the fault for a request identified by `key`, or None to answer normally."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(key):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault.kind, fault.data
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> int:
        with self._lock:
            return len(self._faults)
