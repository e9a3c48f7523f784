"""What goes into a draft run and what comes out: the values every front end hands the core and reads back.

    Intake        log text or files, and where they came from (an Origin kept with the incident)
    DraftOptions  which addresses, a description, -r, probing, grouping, force, dry run
    Outcome       what became of one address or group (drafted, merged, suppressed, sent, ...)
    DraftRun      the outcomes and the scan they came from
    Timings       seconds per step, for --timings and the benchmarks
    Gatherer      the part of bot.gather the drafting needs (a protocol: tests give a fake)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from bot.models import Findings, Origin, ScanResult, StoredDraft

STEPS = ("scan", "gather", "contacts", "compose", "store", "send")
Progress = Callable[[str], None]


class Gatherer(Protocol):
    def gather(self, ip: str, *, probe: bool | None = None, progress: Progress | None = None) -> Findings: ...

    def gather_many(self, ips: Sequence[str], *, probe: bool | None = None,
                    progress: Progress | None = None) -> Iterator[tuple[str, Findings]]: ...


@dataclass(frozen=True)
class Intake:
    """What to look at: log text (a paste, a mail body) or files, and where it came from."""

    origin: Origin
    text: str | None = None
    paths: tuple[str, ...] = ()

    @classmethod
    def from_text(cls, text: str, origin: Origin) -> Intake:
        return cls(origin=origin, text=text)

    @classmethod
    def from_files(cls, paths: Sequence[str], origin: Origin | None = None) -> Intake:
        return cls(origin=origin or Origin("file", ", ".join(paths)[:300]), paths=tuple(paths))


@dataclass(frozen=True)
class DraftOptions:
    select: str | None = None          # the old second argument: an IP or an isolating string
    every: bool = False                # every reportable address by count (-a/-A), not only the top one
    only: tuple[str, ...] | None = None  # exactly these addresses (a person chose them one by one)
    description: str = ""
    keep_received: bool | None = None  # -r
    probe: bool | None = None
    group: bool = False                # one draft per contact (with -A/-b and report.group_by_contact)
    force: bool = False                # report even when suppressed, interrupted or already open
    dry_run: bool = False              # compose only: nothing written


@dataclass(frozen=True)
class Outcome:
    """What became of one address or group: ``drafted``, ``merged``, ``suppressed``, ``dry-run``,
    then (after bot/sending.py) ``sent``, ``failed``, ``skipped``, ``kept``."""

    status: str
    ips: tuple[str, ...]
    incident_id: str = ""
    detail: str = ""
    folder: str = ""
    recipients: tuple[str, ...] = ()
    draft: StoredDraft | None = None


@dataclass
class Timings:
    """Seconds spent in each step, added up; a step on several threads at once (a batch's sends, beside
    drafting) adds up to more than the run's wall time."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            with self._lock:
                self.seconds[name] = self.seconds.get(name, 0.0) + spent


@dataclass(frozen=True)
class DraftRun:
    outcomes: tuple[Outcome, ...]
    scan: ScanResult
