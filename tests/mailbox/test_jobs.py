"""The scheduled jobs of incident serve: reminders, the retry of failed sends, and how they are
scheduled (fixed ids, never overlapping themselves, missed runs coalesced)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import App
from bot.config import from_dict
from bot.flow import DraftOptions, Intake, Outcome
from bot.lifecycle import SCHEDULER, Actor
from bot.mail.outbox import Outbox
from bot.models import Incident, Origin, State
from bot.store import followups
from handlers import jobs
from handlers.serve import Serve
from tests.support.fakes import FakeGatherer
from tests.support.smtp import SmtpServer

PERSON = Actor.cli("tester")
LOG = "Nov 28 10:01:47 fw sshd[30214]: Failed password for root from {ip} port 50188 ssh2\n"


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


class Told:
    def __init__(self) -> None:
        self.reminded: list[list[str]] = []

    def draft_ready(self, outcome: Outcome) -> None:
        pass

    def reply_filed(self, *a: Any, **kw: Any) -> None:
        pass

    def remind(self, incidents: Sequence[Incident]) -> None:
        self.reminded.append([i.id for i in incidents])


def app_with(tmp_path: Path, smtp: SmtpServer, clock: Clock, **serve: Any) -> App:
    cfg = from_dict({"report": {"incident_dir": str(tmp_path / "incident"),
                                "reporter_email": "security@mydomain.example", "suppress_days": 0},
                     "smtp": smtp.config_dict(), "serve": serve})
    outbox = smtp.track(Outbox(cfg.smtp, sleep=lambda s: None))
    return App(cfg, gatherer=FakeGatherer(), outbox=outbox, now=clock)


def sent(app: App, ip: str) -> str:
    run = app.draft(Intake.from_text(LOG.format(ip=ip), Origin("mail", f"<{ip}@x>")), PERSON, DraftOptions())
    inc_id = run.outcomes[0].incident_id
    assert app.send(inc_id, PERSON).status == "sent"
    return inc_id


def test_reminders_list_sent_reports_without_a_human_answer_once_per_period(
        tmp_path: Path, smtp: SmtpServer) -> None:
    clock = Clock()
    app = app_with(tmp_path, smtp, clock, reminder_days=7)
    old, answered = sent(app, "211.191.28.50"), sent(app, "211.191.28.51")
    acked = sent(app, "211.191.28.52")
    followups.file_reply(app.store(), answered, b"From: a@shinbiro.example\n\nfixed\n", actor=PERSON)
    followups.file_reply(app.store(), acked, b"From: t@shinbiro.example\n\nack\n", actor=PERSON,
                         kind="auto_ack")
    clock.at += timedelta(days=3)
    recent = sent(app, "211.191.28.53")
    told = Told()
    jobs.reminders(app, told)
    assert told.reminded == [], "nothing is 7 days old yet"
    clock.at += timedelta(days=5)
    jobs.reminders(app, told)
    listed = [sorted(r) for r in told.reminded]
    assert listed == [sorted([old, acked])], "an auto-acknowledgement is no answer; a person's is"
    jobs.reminders(app, told)
    clock.at += timedelta(days=3)
    jobs.reminders(app, told)
    listed = [sorted(r) for r in told.reminded]
    assert listed == [sorted([old, acked]), [recent]], "each incident once per reminder_days"
    clock.at += timedelta(days=5)
    jobs.reminders(app, told)
    assert sorted(told.reminded[-1]) == sorted([old, acked])


def test_a_reminder_may_draft_the_report_to_the_next_contact_never_sending_it(
        tmp_path: Path, smtp: SmtpServer) -> None:
    clock = Clock()
    app = app_with(tmp_path, smtp, clock, reminder_days=7, reminder_next_contact=True)
    inc_id = sent(app, "211.191.28.54")
    app.store().mark_recipient(inc_id, "abuse@shinbiro.example", "accepted", "")
    smtp.messages.clear()
    held = app.store().draft(inc_id)
    extra = type(held.contacts[0])("noc@shinbiro.example", held.contacts[0].confidence, ("test",))
    with app.store().tx(immediate=True) as db:  # a second contact found at the time, not chosen then
        import json

        from bot.store.codec import to_data
        db.execute("UPDATE drafts SET contacts = ? WHERE incident = ?",
                   (json.dumps(to_data((*held.contacts, extra))), inc_id))
    clock.at += timedelta(days=8)
    jobs.reminders(app, Told())
    [draft] = app.incidents(states=[State.DRAFT])
    assert draft.recipients == ("noc@shinbiro.example",) and draft.ips == ("211.191.28.54",)
    assert smtp.messages == []
    clock.at += timedelta(days=8)
    jobs.reminders(app, Told())
    assert len(app.incidents(states=[State.DRAFT])) == 1, "proposed once"


def test_failed_sends_are_retried_unattended_when_the_failure_was_temporary(
        tmp_path: Path, smtp: SmtpServer) -> None:
    clock = Clock()
    app = app_with(tmp_path, smtp, clock, retry_failed_max=2)
    smtp.temporary_failures(100)
    run = app.draft(Intake.from_text(LOG.format(ip="211.191.28.55"), Origin("mail", "<t@x>")), PERSON)
    temp = run.outcomes[0].incident_id
    assert app.send(temp, PERSON).status == "failed"
    smtp.temporary_failures(0)
    smtp.reject("abuse@shinbiro.example", 550, "5.1.1 no such user")
    run = app.draft(Intake.from_text(LOG.format(ip="211.191.28.56"), Origin("mail", "<p@x>")), PERSON)
    perm = run.outcomes[0].incident_id
    assert app.send(perm, PERSON).status == "failed"
    smtp.rejects.clear()
    smtp.temporary_failures(100)
    jobs.retry_failed(app, Told())   # the relay still says "try later": stays failed, one try used
    assert app.store().get(temp).state is State.FAILED
    smtp.temporary_failures(0)
    jobs.retry_failed(app, Told())
    assert app.store().get(temp).state is State.SENT
    assert app.store().get(perm).state is State.FAILED, "a refusal (5xx) is for a person"
    assert [e.actor for e in app.store().history(temp) if e.action == "send"] == [
        str(PERSON), str(SCHEDULER), str(SCHEDULER)]


def test_failed_sends_are_retried_at_most_retry_failed_max_times(tmp_path: Path, smtp: SmtpServer) -> None:
    app = app_with(tmp_path, smtp, Clock(), retry_failed_max=2)
    smtp.temporary_failures(1000)
    run = app.draft(Intake.from_text(LOG.format(ip="211.191.28.57"), Origin("mail", "<m@x>")), PERSON)
    inc_id = run.outcomes[0].incident_id
    app.send(inc_id, PERSON)
    for _ in range(4):
        jobs.retry_failed(app, Told())
    sends = [e for e in app.store().history(inc_id) if e.action == "send"]
    assert len(sends) == 3 and app.store().get(inc_id).state is State.FAILED


def test_jobs_have_fixed_ids_never_overlap_and_coalesce(tmp_path: Path, smtp: SmtpServer) -> None:
    app = app_with(tmp_path, smtp, Clock(), reminder_days=7)
    scheduler = Serve(app.cfg, app=app)._scheduler()
    scheduler.start(paused=True)
    try:
        got = {j.id: j for j in scheduler.get_jobs()}
        assert set(got) == {"reminders", "retry-failed", "cache-upkeep"}
        assert all(j.max_instances == 1 and j.coalesce for j in got.values())
        assert got["reminders"].trigger.interval == timedelta(hours=24)
        assert got["retry-failed"].trigger.interval == timedelta(minutes=30)
    finally:
        scheduler.shutdown(wait=False)
    off = app_with(tmp_path / "off", smtp, Clock(), reminder_days=0, retry_failed_minutes=0)
    scheduler = Serve(off.cfg, app=off)._scheduler()
    scheduler.start(paused=True)
    try:
        assert {j.id for j in scheduler.get_jobs()} == {"cache-upkeep"}
    finally:
        scheduler.shutdown(wait=False)
