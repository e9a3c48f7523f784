"""``incident serve``: one process for the mailbox watchers, the scheduled jobs and the Slack app.

- A watcher thread per folder of [mailbox] (``folders`` and ``reply_folders``), each with its own
  IMAP connection, all sharing one App (one store, one gatherer, one outbox).
- APScheduler's BackgroundScheduler runs handlers/jobs.py's jobs under fixed ids, never overlapping
  themselves, a missed run coalesced.
- Who is told: the Slack front end's notifier when [slack] is configured (handlers.slack, imported
  only then), else mail to ``serve.operators``, else nobody (the log and ``incident list``).
- SIGTERM or SIGINT: the watchers stop between two messages, IDLE is ended, the scheduler stops;
  whatever still runs after ``serve.shutdown_seconds`` is abandoned (the next start does it again:
  a message is marked done only after its draft or reply is committed).
- ``once``: every folder read until empty, each job run once, then exit (for cron and tests).
- One ``incident serve`` per incident store: a lock file (``<incident_dir>/serve.lock``) refuses a
  second one, which would read the same mailbox twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from bot.app import App
from bot.config import Config
from bot.errors import UserError
from bot.notify import Nobody, Notifier
from handlers.jobs import JOBS, run_job
from handlers.mailbox.approval import Approvals
from handlers.mailbox.imap import MailboxError
from handlers.mailbox.intake import MailIntake
from handlers.mailbox.ledger import Ledger
from handlers.mailbox.notify_mail import MailNotifier
from handlers.mailbox.watcher import Watcher

log = logging.getLogger("incident.serve")

# The Slack front end (issue 9, docs/slack.md): handlers.slack.SlackFrontEnd(cfg, app), with start(),
# stop() and .notifier. Imported only when slack.enabled is true.
SLACK_MODULE = "handlers.slack"
SLACK_CLASS = "SlackFrontEnd"
LOCK_NAME = "serve.lock"


class Front(Protocol):
    notifier: Notifier

    def start(self) -> None: ...

    def stop(self) -> None: ...


def slack_configured(cfg: Config) -> bool:
    return bool(cfg.slack.enabled)


def slack_front(app: App) -> Front:
    module = importlib.import_module(SLACK_MODULE)  # only now: slack_bolt is not loaded without Slack
    front: Front = getattr(module, SLACK_CLASS)(app.cfg, app)
    return front


@contextlib.contextmanager
def single_instance(incident_dir: Path) -> Iterator[None]:
    """Hold ``serve.lock`` in the incident folder, or refuse with a UserError naming it."""
    incident_dir.mkdir(parents=True, exist_ok=True)
    path = incident_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = os.pread(fd, 64, 0).decode(errors="replace").strip()
            raise UserError(f"another incident serve (pid {held or '?'}) uses {incident_dir}; "
                            f"stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


class Serve:
    def __init__(self, cfg: Config, *, app: App | None = None,
                 slack: Callable[[App], Front] | None = None) -> None:
        self.cfg = cfg
        self.app = app or App(cfg)
        self._owns_app = app is None
        self.stop = threading.Event()
        self.front: Front | None = None
        if slack is not None or slack_configured(cfg):
            self.front = (slack or slack_front)(self.app)
        self.ledger = Ledger(self.app.store())
        self.notifier = self._notifier()
        approvals = None
        if cfg.serve.mail_approval:
            approvals = Approvals(self.app, self.notifier if isinstance(self.notifier, MailNotifier)
                                  else MailNotifier(self.app, self.ledger))
        self.intake = MailIntake(self.app, self.notifier, self.ledger, approvals)
        mb = cfg.mailbox
        self.watchers = [] if not mb.host else [
            *(Watcher(mb, f, self.intake, self.ledger) for f in mb.folders),
            *(Watcher(mb, f, self.intake, self.ledger, replies_only=True) for f in mb.reply_folders)]

    def _notifier(self) -> Notifier:
        if self.front is not None:
            return self.front.notifier
        if self.cfg.serve.operators:
            return MailNotifier(self.app, self.ledger)
        return Nobody()

    # --- running -----------------------------------------------------------------------------

    def run(self, *, once: bool = False) -> int:
        """Serve until SIGTERM/SIGINT (or, with ``once``, until the waiting mail is done); 0 when
        everything worked, 3 when a mailbox could not be read (``once``)."""
        if not self.watchers and self.front is None and not once:
            log.warning("no [mailbox] host and no [slack]: only the scheduled jobs run")
        with single_instance(self.app.store().root):
            log.info("incident serve %s: %d folder(s), notices by %s", "once" if once else "started",
                     len(self.watchers), type(self.notifier).__name__)
            try:
                return self._once() if once else self._forever()
            finally:
                self._close()

    def _once(self) -> int:
        status = 0
        for watcher in self.watchers:
            try:
                watcher.run(self.stop, once=True)
            except MailboxError as exc:
                log.error("%s: %s", watcher.folder, exc)
                status = 3
        for job in JOBS:
            if job.every_seconds(self.app) > 0 and not self.stop.is_set():
                run_job(job, self.app, self.notifier)
        return status

    def _forever(self) -> int:
        previous = self._signals()
        scheduler = self._scheduler()
        threads = [threading.Thread(target=self._watch, args=(w,), name=f"watch {w.folder}", daemon=True)
                   for w in self.watchers]
        try:
            # the lookup clients and cache are built while the watchers log in: the first alert after
            # a (re)start does not wait for them
            threading.Thread(target=self._warm, name="warm-up", daemon=True).start()
            if self.front is not None:
                self.front.start()
            scheduler.start()
            for t in threads:
                t.start()
            while not self.stop.wait(1.0):
                pass
            log.info("stopping")
        finally:
            self.stop.set()
            scheduler.shutdown(wait=False)
            end = time.monotonic() + self.cfg.serve.shutdown_seconds
            for t in threads:
                t.join(max(0.0, end - time.monotonic()))
            busy = [t.name for t in threads if t.is_alive()]
            if busy:
                log.warning("still busy after %g s, left unfinished (done again at the next start): %s",
                            self.cfg.serve.shutdown_seconds, ", ".join(busy))
            if self.front is not None:
                with contextlib.suppress(Exception):
                    self.front.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("stopped")
        return 0

    def _warm(self) -> None:
        try:
            self.app.gatherer()
        except Exception as exc:  # said again, with its traceback, by the first draft that needs it
            log.warning("lookup clients not ready: %s", exc)

    def _watch(self, watcher: Watcher) -> None:
        try:
            watcher.run(self.stop)
        except Exception:  # a watcher must not die silently: say so, and the process with it
            log.exception("%s: the watcher stopped", watcher.folder)
            self.stop.set()

    def _scheduler(self) -> Any:
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "max_instances": 1, "coalesce": True, "misfire_grace_time": 3600})
        for job in JOBS:
            every = job.every_seconds(self.app)
            if every > 0:
                scheduler.add_job(run_job, "interval", seconds=every, id=job.id, name=job.id,
                                  args=(job, self.app, self.notifier), replace_existing=True)
        return scheduler

    def _signals(self) -> dict[int, Any]:
        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s received", signal.Signals(signum).name)
            self.stop.set()

        previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return previous  # run in a thread (tests): whoever started it sets ``stop``
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
        return previous

    def _close(self) -> None:
        if self._owns_app:
            self.app.close()
