"""What one lookup accumulates as it goes (progress lines, problems, notes, reasons it is incomplete),
and what the workers of one ``gather_many`` share (registries found down, shared answers).

Both are made per call and passed down: nothing here lives on a long-lived object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Trail:
    """What one gather (or one gather_many) accumulates; never stored on a long-lived object."""

    emit: Callable[[str], None] | None = None
    prefix: str = ""
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)   # unexpected failures (bugs): see Findings
    shared: BatchMemo | None = None

    def line(self, text: str) -> None:
        self.lines.append(text)
        if self.emit is not None:
            self.emit(self.prefix + text)

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def merge(self, other: Trail) -> None:
        """Take what a sub-lookup run on another thread found, in order (its lines are emitted now)."""
        for text in other.lines:
            self.line(text)
        self.problems.extend(other.problems)
        self.notes.extend(other.notes)
        self.incomplete.extend(other.incomplete)


@dataclass
class BatchMemo:
    """State of one gather_many call shared by its workers (registries found down, shared answers).

    ``memo`` is read and written one key at a time (``get``, ``setdefault``, ``[key] = value``: each
    atomic in CPython), without the lock, which guards the updates that read before they write.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    down: dict[str, str] = field(default_factory=dict)
    domains: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)
