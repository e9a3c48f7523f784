"""The scheduled jobs of ``incident serve``: reminders, a retry of failed sends, cache upkeep.

Each job is a plain function of the App (and the Notifier), run by APScheduler's
BackgroundScheduler under a fixed id (``JOBS``), never overlapping itself (max_instances=1), a
missed run coalesced into one. ``incident serve --once`` runs each once. A job decides for itself
what a failure costs (one incident, never the job): a scheduled job is one of the two places that
choose retry, skip or stop (the other is the pipeline).

- ``reminders``: sent incidents with no human answer after ``serve.reminder_days`` are listed to the
  operator (Slack or mail), each at most once per that many days (a ``reminded`` link keeps when);
  with ``serve.reminder_next_contact`` a draft of the report to the next contact is made for each,
  for a person to send. Nothing is sent.
- ``retry-failed``: incidents whose send failed for a temporary reason (a 4xx, a server that could
  not be reached) are sent again, unattended (the core keeps an incomplete one for a person), at
  most ``serve.retry_failed_max`` times each. A refusal (5xx) is left for a person.
- ``cache-upkeep``: expired lookup-cache entries removed (through the cache's own ``purge``, when
  the gatherer's cache offers one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import App
from bot.errors import IncidentError, StoreError, UserError
from bot.lifecycle import SCHEDULER, Action
from bot.models import Incident, State
from bot.notify import Notifier

log = logging.getLogger("incident.jobs")
REMINDED = "reminded"
_PERMANENT = re.compile(r"(?:^|\D)5\d\d(?:\D|$)")


@dataclass(frozen=True)
class Job:
    id: str
    run: Callable[[App, Notifier], None]
    every_seconds: Callable[[App], float]     # 0: the job is off


def _now(app: App) -> datetime:
    return app.now().astimezone(UTC)


# --- reminders -------------------------------------------------------------------------------


def reminders(app: App, notifier: Notifier) -> None:
    days = app.cfg.serve.reminder_days
    if days <= 0:
        return
    now = _now(app)
    store = app.store()
    due: list[Incident] = []
    for inc in app.incidents(states=[State.SENT]):
        if inc.sent is None or inc.sent > now - timedelta(days=days):
            continue
        last = max((datetime.fromisoformat(r) for r in store.links(inc.id, REMINDED)), default=None)
        if last is not None and last > now - timedelta(days=days):
            continue
        due.append(inc)
    if not due:
        return
    for inc in sorted(due, key=lambda i: i.sent or now):
        if app.cfg.serve.reminder_next_contact:
            try:
                made = app.propose_next(inc.id, SCHEDULER, why=f"no answer after {days:g} days")
                if made is not None:
                    log.info("%s: no answer; %s drafted to the next contact %s", inc.id, made.incident_id,
                             ", ".join(made.recipients))
            except UserError as exc:
                log.warning("%s: next contact not drafted: %s", inc.id, exc)
    notifier.remind(due)
    for inc in due:  # after the notice: a crash before it reminds again, never forgets
        store.link(inc.id, REMINDED, now.isoformat(timespec="seconds"), now=now)
    log.info("reminded of %d incidents without an answer: %s", len(due), ", ".join(i.id for i in due))


# --- retry of failed sends -------------------------------------------------------------------


def temporary(inc: Incident) -> bool:
    """Whether the failure may go away: no recipient refused it with a 5xx answer."""
    failed = [why for why in inc.delivery.values() if why.startswith("failed")]
    return bool(failed) and not any(_PERMANENT.search(why) and "gave up after" not in why for why in failed)


def retry_failed(app: App, notifier: Notifier) -> None:
    limit = app.cfg.serve.retry_failed_max
    if app.cfg.serve.retry_failed_minutes <= 0 or limit <= 0:
        return
    for inc in app.incidents(states=[State.FAILED]):
        if not temporary(inc):
            continue
        history = app.store().history(inc.id)
        tries = sum(1 for e in history if e.action == Action.SEND and e.actor == str(SCHEDULER))
        if tries >= limit:
            continue
        try:
            out = app.send(inc.id, SCHEDULER, unattended=True)
        except UserError as exc:  # the core's conflict (sent meanwhile by a person...) or no recipient
            log.info("%s: not retried: %s", inc.id, exc)
            continue
        except StoreError:
            raise
        except IncidentError as exc:
            log.warning("%s: retry failed: %s", inc.id, exc)
            continue
        log.info("%s: retry %d of %d: %s %s", inc.id, tries + 1, limit, out.status, out.detail)


# --- cache upkeep ----------------------------------------------------------------------------


def cache_upkeep(app: App, notifier: Notifier) -> None:
    cache: Any = getattr(app.gatherer(), "cache", None)
    purge = getattr(cache, "purge", None)
    if purge is None:
        log.debug("cache upkeep: the lookup cache offers no purge; entries expire on reading")
        return
    removed = purge()
    log.info("cache upkeep: %s expired entries removed", removed)


JOBS: tuple[Job, ...] = (
    Job("reminders", reminders,
        lambda app: app.cfg.serve.reminder_every_hours * 3600 if app.cfg.serve.reminder_days > 0 else 0),
    Job("retry-failed", retry_failed, lambda app: app.cfg.serve.retry_failed_minutes * 60),
    Job("cache-upkeep", cache_upkeep, lambda app: app.cfg.serve.cache_upkeep_hours * 3600),
)


def run_job(job: Job, app: App, notifier: Notifier) -> None:
    """One run of ``job``; its failure is logged with the traceback, never raised into the scheduler."""
    try:
        job.run(app, notifier)
    except Exception:
        log.exception("job %s failed; it runs again at its next time", job.id)
