"""Slow work started by a listener after its ack: a bounded pool, so a burst of /incident never holds
Bolt's own threads (which must stay free to acknowledge the next request within Slack's 3 seconds).

A job that raises is handed to the same ``ErrorReporter`` Bolt's global error handler uses. The
workers are daemon threads: ``close`` waits a few seconds for running jobs and then lets the process
go (the store's changes are transactions: a draft cut short is either stored whole or not at all).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from bot.errors import UserError
from handlers.slack.errors import ErrorReporter, Where

log = logging.getLogger(__name__)
_STOP = None


class Busy(UserError):
    """More work is waiting than ``slack.queue`` allows (its text is for the person who asked)."""


class Jobs:
    def __init__(self, workers: int, queue_size: int, errors: ErrorReporter) -> None:
        self.errors = errors
        self._queue: queue.Queue[tuple[Callable[[], None], Where] | None] = queue.Queue()
        self._limit = workers + queue_size
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"slack-job-{n}", daemon=True)
                         for n in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[[], None], where: Where) -> None:
        """Run ``fn`` in the pool; raises Busy when too much is waiting."""
        with self._lock:
            if self._closed:
                raise Busy("the bot is shutting down; try again in a minute")
            if self._pending >= self._limit:
                raise Busy(f"the bot has {self._pending} requests to work through; try again in a minute")
            self._pending += 1
        self._queue.put((fn, where))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            fn, where = item
            try:
                fn()
            except Exception as exc:
                self.errors.report(exc, where)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._idle.notify_all()

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 3.0) -> None:
        """Take no more work and give what runs ``timeout`` seconds to finish."""
        with self._lock:
            self._closed = True
        if not self.wait_idle(timeout):
            log.warning("%d Slack jobs still running at shutdown; left behind", self.pending)
        for _ in self._threads:
            self._queue.put(_STOP)
