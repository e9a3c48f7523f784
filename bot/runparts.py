"""The values and callbacks of a report run (split from bot/pipeline.py, which uses them).

Options in, Outcomes out; ``UI`` is what the run asks a person (the CLI prompts, batch mode says
yes, Slack later); ``Gatherer`` is the part of bot.gather the run needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bot.models import Candidate, Contact, Draft, Findings

STEPS = ("scan", "gather", "contacts", "compose", "store", "send")


class Gatherer(Protocol):
    def gather(self, ip: str, *, probe: bool | None = None,
               progress: Callable[[str], None] | None = None) -> Findings: ...

    def gather_many(self, ips: Iterable[str], *, probe: bool | None = None,
                    progress: Callable[[str], None] | None = None) -> Iterator[tuple[str, Findings]]: ...


class UI(Protocol):
    """What the pipeline asks a person (or batch mode) and tells them."""

    def progress(self, line: str) -> None: ...
    def bulk_progress(self, done: int, total: int, step: str) -> None: ...
    def choose_ip(self, candidate: Candidate) -> bool: ...
    def description(self) -> str: ...
    def review(self, draft: Draft, path: Path) -> Draft: ...
    def approve(self, draft: Draft, contacts: Sequence[Contact],
                chosen: Sequence[Contact]) -> tuple[str, ...] | None:
        """The addresses to send to; empty: do not send (skipped); None: decide later (kept as a draft,
        sent afterwards with ``Pipeline.send_draft``, e.g. from a Slack button)."""
        ...


@dataclass(frozen=True)
class Options:
    select: str | None = None          # the old second argument: an IP or an isolating string
    all_ips: bool = False              # -a / -A: every reportable address, by count
    ask_each: bool = False             # -a: ask before each address
    description: str | None = None     # -d TEXT; None: ask
    keep_received: bool | None = None  # -r
    probe: bool | None = None          # --probe / --no-probe; None: the config
    dry_run: bool = False              # compose and show; write and send nothing
    force: bool = False                # report even when suppressed or interrupted


@dataclass(frozen=True)
class Outcome:
    status: str                        # sent, written, skipped, suppressed, failed, dry-run
    ips: tuple[str, ...]
    incident_id: str = ""
    detail: str = ""
    folder: str = ""
    recipients: tuple[str, ...] = ()
    draft: Draft | None = None


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class Run:
    outcomes: tuple[Outcome, ...]
    timings: dict[str, float]
    lines_read: int
