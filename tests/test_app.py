"""The core's use cases through bot.app.App: a real store, a real SMTP server, a stand-in gatherer.

Drafts made now and acted on later (from another App: another process's view of the same store),
typed conflicts, the history with its actors, evidence merged into an open draft, suppression.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.contacts import choose_recipients
from bot.errors import NothingToDo, UserError
from bot.flow import DraftOptions, Intake
from bot.lifecycle import Action, Actor, AlreadySent, Conflict, Suppressed
from bot.models import Confidence, Contact, Findings, Origin, State
from bot.store import MESSAGE_EML
from tests.compose.helpers import NOW
from tests.support.fakes import FakeGatherer, make_app, snort_log
from tests.support.smtp import SmtpServer

ALICE = Actor.cli("alice")
BOB = Actor.slack("U0BOB")


def _draft(app: App, log: str, **opts: Any) -> Any:
    return app.draft(Intake.from_files([log]), ALICE, DraftOptions(**opts)).outcomes


def test_a_draft_is_sent_later_by_another_app_reading_the_store_only(tmp_path: Path,
                                                                     smtp: SmtpServer) -> None:
    gatherer = FakeGatherer()
    first = make_app(tmp_path, smtp, gatherer=gatherer)
    (out,) = _draft(first, snort_log(tmp_path, ["211.191.28.13", "211.191.28.99"]), description="d")
    assert out.status == "drafted" and out.ips == ("211.191.28.13",) and smtp.messages == []
    assert first.store().get(out.incident_id).state is State.DRAFT
    later = make_app(tmp_path, smtp, gatherer=FakeGatherer())   # another process, an hour later
    sent = later.send(out.incident_id, BOB)
    assert sent.status == "sent" and gatherer.calls == ["211.191.28.13"]   # nothing looked up again
    inc = later.store().get(out.incident_id)
    assert inc.state is State.SENT and inc.recipients == ("abuse@shinbiro.example",)
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ("abuse@shinbiro.example",) and mail.message["Message-ID"] == inc.message_ids[0]
    assert mail.message["Subject"] == out.draft.subject and mail.message["Subject"].startswith(f"[{inc.id}] ")
    assert [(p.get_filename(), p.get_content_type()) for p in mail.message.iter_attachments()] == \
        [("xarf-211.191.28.13.json", "application/json")]
    assert (Path(inc.folder) / MESSAGE_EML).read_bytes().replace(b"\r\n", b"\n") == \
        mail.data.replace(b"\r\n", b"\n")
    with pytest.raises(AlreadySent) as second:   # the button pressed twice
        first.send(out.incident_id, ALICE)
    assert str(second.value) == (f"{inc.id} was already sent by slack:U0BOB at 2026-09-08 11:22 UTC "
                                 f"to abuse@shinbiro.example")
    assert len(smtp.messages) == 1
    history = [(e.actor, e.action) for e in later.store().history(inc.id)]
    assert history == [("cli:alice", "create"), ("slack:U0BOB", "send"), ("slack:U0BOB", "delivered")]


def test_two_sends_of_one_draft_at_once_deliver_one_mail(tmp_path: Path, smtp: SmtpServer) -> None:
    (out,) = _draft(make_app(tmp_path, smtp), snort_log(tmp_path, ["211.191.28.13"]))
    apps = [make_app(tmp_path, smtp) for _ in range(4)]
    results: list[Any] = []
    start = threading.Barrier(len(apps))

    def click(app: App, who: Actor) -> None:
        start.wait()
        try:
            results.append(app.send(out.incident_id, who).status)
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=click, args=(a, Actor.slack(f"U{n}X"))) for n, a in enumerate(apps)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("sent") == 1 and len(smtp.messages) == 1
    assert all(isinstance(r, AlreadySent) for r in results if r != "sent")


def test_the_same_address_is_not_reported_twice_unless_forced(tmp_path: Path, smtp: SmtpServer) -> None:
    app = make_app(tmp_path, smtp)
    log = snort_log(tmp_path, ["211.191.28.13"])
    (first,) = _draft(app, log)
    app.send(first.incident_id, ALICE)
    (again,) = _draft(app, log)
    assert again.status == "suppressed" and first.incident_id in again.detail
    (forced,) = _draft(app, log, force=True)
    assert forced.status == "drafted" and forced.incident_id != first.incident_id
    assert app.send(forced.incident_id, ALICE).status == "sent" and len(smtp.messages) == 2


@pytest.mark.parametrize("by", ["ip", "contact"])
def test_suppression_is_checked_when_sending_too(tmp_path: Path, smtp: SmtpServer, by: str) -> None:
    # two drafts open at once (for one address, or to one contact): only the first one sent goes out
    app = make_app(tmp_path, smtp, suppress_by=by, merge_window_hours=0)
    ips = ["211.191.28.13", "211.191.28.13"] if by == "ip" else ["211.191.28.13", "211.191.28.77"]
    (a,) = _draft(app, snort_log(tmp_path, ips[:1], name="a.log"))
    (b,) = _draft(app, snort_log(tmp_path, ips[1:], name="b.log"))
    assert app.send(a.incident_id, ALICE).status == "sent"
    with pytest.raises(Suppressed, match=f"reported as {a.incident_id}"):
        app.send(b.incident_id, ALICE)
    assert app.store().get(b.incident_id).state is State.DRAFT   # a person can still force it
    left = {p.name for p in Path(app.store().get(b.incident_id).folder).iterdir()}
    assert MESSAGE_EML not in left and not [n for n in left if n.startswith(".tmp")]  # nothing staged stays
    unattended = app.send(b.incident_id, Actor("scheduler"), unattended=True)
    assert unattended.status == "suppressed" and app.store().get(b.incident_id).state is State.SKIPPED
    assert len(smtp.messages) == 1


def test_an_interrupted_send_blocks_the_address_until_a_person_settles_it(tmp_path: Path,
                                                                           smtp: SmtpServer) -> None:
    app = make_app(tmp_path, smtp)
    log = snort_log(tmp_path, ["211.191.28.13"])
    (out,) = _draft(app, log)
    app.store().begin_send(out.incident_id, ALICE, "<crash@x>", b"eml")   # the process died here
    (again,) = _draft(app, log)
    assert again.status == "suppressed" and "interrupted" in again.detail and "settle" in again.detail
    with pytest.raises(AlreadySent, match="is being sent"):
        app.send(out.incident_id, ALICE)
    app.settle(out.incident_id, BOB, sent=False, note="not in the relay's log")
    assert app.send(out.incident_id, ALICE).status == "sent" and len(smtp.messages) == 1
    actions = [e.action for e in app.store().history(out.incident_id)]
    assert actions == ["create", "send", "settle-not-sent", "send", "delivered"]


def test_settled_as_sent_counts_as_sent(tmp_path: Path, smtp: SmtpServer) -> None:
    app = make_app(tmp_path, smtp)
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]))
    app.store().begin_send(out.incident_id, ALICE, "<crash@x>", b"eml")
    inc = app.settle(out.incident_id, BOB, sent=True)
    assert inc.state is State.SENT and inc.delivery == {"abuse@shinbiro.example": "accepted"}
    with pytest.raises(Conflict, match="cannot settle-sent"):
        app.settle(out.incident_id, BOB, sent=True)


def test_skip_and_reopen(tmp_path: Path, smtp: SmtpServer) -> None:
    app = make_app(tmp_path, smtp)
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]))
    app.skip(out.incident_id, BOB, "a research scanner\nwe allow")
    with pytest.raises(Conflict) as refused:
        app.send(out.incident_id, ALICE)
    said = str(refused.value)
    assert "skipped by slack:U0BOB" in said and "a research scanner we allow" in said
    app.reopen(out.incident_id, ALICE)
    assert app.send(out.incident_id, ALICE).status == "sent"


def test_edit_checks_recipients_and_keeps_the_token(tmp_path: Path, smtp: SmtpServer) -> None:
    app = make_app(tmp_path, smtp)
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]))
    with pytest.raises(UserError, match="at least one recipient"):
        app.edit(out.incident_id, ALICE, recipients=[])
    with pytest.raises(UserError, match="not a usable e-mail address"):
        app.edit(out.incident_id, ALICE, recipients=["abuse@x.example\nBcc: victim@y.example"])
    app.edit(out.incident_id, ALICE, recipients=["noc@shinbiro.example"], subject="Scan\r\nBcc: x@y",
             body="Hello,\nplease look.\n")
    held = app.store().draft(out.incident_id)
    assert held.recipients == ("noc@shinbiro.example",) and held.edited
    assert held.subject == f"[{out.incident_id}] Scan Bcc: x@y"
    app.send(out.incident_id, ALICE)
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ("noc@shinbiro.example",) and "please look." in mail.data.decode()
    assert [e.detail for e in app.store().history(out.incident_id) if e.action == "edit"] == \
        ["recipients: noc@shinbiro.example; subject; body"]


def test_a_description_renders_the_report_again(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]))
    app.edit(out.incident_id, ALICE, description="Scan of our WinGate proxies.")
    held = app.store().draft(out.incident_id)
    assert "Scan of our WinGate proxies." in held.body and not held.edited
    assert "Scan of our WinGate proxies." in (Path(out.folder) / "orig_email.txt").read_text()


def test_the_same_attacker_again_adds_to_its_open_draft(tmp_path: Path) -> None:
    gatherer = FakeGatherer()
    app = make_app(tmp_path, gatherer=gatherer)
    alert = Origin("mail", "<alert-1@fw.example>")
    line = "Nov 28 10:0{0}:00 fw sshd[1]: Failed password for root from 211.191.28.13 port 4{0} ssh2"
    log1 = "\n".join(line.format(i) for i in range(3))
    (first,) = app.draft(Intake.from_text(log1, alert), Actor("mailbox")).outcomes
    (redelivered,) = app.draft(Intake.from_text(log1, alert), Actor("mailbox")).outcomes
    assert redelivered.status == "merged" and redelivered.incident_id == first.incident_id
    log2 = log1 + "\nNov 28 11:00:00 fw sshd[1]: Failed password for admin from 211.191.28.13 port 99 ssh2"
    (second,) = app.draft(Intake.from_text(log2, Origin("slack", "C1/1.2")), BOB).outcomes
    assert second.status == "merged" and second.incident_id == first.incident_id
    assert "added 1 new log lines" in second.detail
    held = app.store().draft(first.incident_id)
    (target,) = held.targets
    assert target.candidate.count == 4 and len(target.candidate.evidence.lines) == 4
    assert target.candidate.evidence.last_seen is not None and target.candidate.evidence.last_seen.hour == 11
    assert "for admin from 211.191.28.13" in held.body
    assert gatherer.calls == ["211.191.28.13"]   # evidence added without asking the registries again
    assert len(app.incidents()) == 1
    assert [o.kind for o in app.store().origins(first.incident_id)] == ["mail", "slack"]


def test_a_person_s_text_is_kept_when_evidence_is_added(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    log = "Nov 28 10:00:00 fw sshd[1]: Failed password for root from 211.191.28.13 port 40 ssh2"
    (out,) = app.draft(Intake.from_text(log, Origin("text")), ALICE).outcomes
    app.edit(out.incident_id, ALICE, body="My own words.\n")
    app.draft(Intake.from_text(log.replace("port 40", "port 41"), Origin("text")), ALICE)
    held = app.store().draft(out.incident_id)
    assert held.body == "My own words.\n" and held.targets[0].candidate.count == 2


def test_after_the_window_a_new_draft_is_opened(tmp_path: Path) -> None:
    clock = [NOW]
    app = make_app(tmp_path, now=lambda: clock[0], merge_window_hours=1)
    log = "Nov 28 10:00:00 fw sshd[1]: Failed password for root from 211.191.28.13 port 40 ssh2"
    (a,) = app.draft(Intake.from_text(log, Origin("text")), ALICE).outcomes
    clock[0] = NOW.replace(hour=NOW.hour + 2)
    (b,) = app.draft(Intake.from_text(log, Origin("text")), ALICE).outcomes
    assert b.status == "drafted" and b.incident_id != a.incident_id


def test_intakes_of_one_attacker_at_once_open_one_draft(tmp_path: Path) -> None:
    log = "Nov 28 10:00:00 fw sshd[1]: Failed password for root from 211.191.28.13 port {} ssh2"
    apps = [make_app(tmp_path) for _ in range(4)]
    start = threading.Barrier(len(apps))
    statuses: list[str] = []

    def intake(n: int) -> None:
        start.wait()
        (out,) = apps[n].draft(Intake.from_text(log.format(n), Origin("text", str(n))), ALICE).outcomes
        statuses.append(out.status)

    threads = [threading.Thread(target=intake, args=(n,)) for n in range(len(apps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (only,) = apps[0].incidents()
    assert sorted(statuses) == ["drafted", "merged", "merged", "merged"]
    assert apps[0].store().draft(only.id).targets[0].candidate.count == 4


def test_incomplete_findings_are_kept_for_a_person(tmp_path: Path, smtp: SmtpServer) -> None:
    def broken(found: Findings) -> Findings:
        return dataclasses.replace(found, incomplete=("RDAP: internal error (logged)",))

    app = make_app(tmp_path, smtp, gatherer=FakeGatherer(broken))
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]))
    kept = app.send(out.incident_id, Actor("scheduler"), unattended=True)
    assert kept.status == "kept" and "incomplete" in kept.detail and smtp.messages == []
    assert app.send(out.incident_id, ALICE).status == "sent"   # a person may


def test_no_usable_contact_is_a_draft_that_is_reused(tmp_path: Path, smtp: SmtpServer) -> None:
    def nobody(found: Findings) -> Findings:
        assert found.network is not None
        net = dataclasses.replace(found.network, entities=())
        return dataclasses.replace(found, network=net, domain=None)

    app = make_app(tmp_path, smtp, gatherer=FakeGatherer(nobody))
    log = snort_log(tmp_path, ["211.191.28.13"])
    (out,) = _draft(app, log)
    assert out.status == "drafted" and out.recipients == () and "no usable contact" in out.detail
    kept = app.send(out.incident_id, Actor("scheduler"), unattended=True)
    assert kept.status == "kept" and "no usable contact" in kept.detail
    with pytest.raises(UserError, match="no usable recipient"):
        app.send(out.incident_id, ALICE)
    (again,) = _draft(app, log)   # the same report again: no second folder
    assert again.status == "merged" and again.incident_id == out.incident_id
    assert len(list((tmp_path / "incident").glob("*/*/orig_email.txt"))) == 1
    assert app.send(out.incident_id, ALICE, to=["abuse@shinbiro.example"]).status == "sent"


def test_bulk_groups_addresses_with_the_same_contact(tmp_path: Path, smtp: SmtpServer) -> None:
    app = make_app(tmp_path, smtp)
    ips = [f"211.191.28.{n}" for n in range(10, 15)] + ["45.33.32.7", "45.33.32.8"]
    outs = _draft(app, snort_log(tmp_path, ips), every=True, group=True)
    assert sorted(len(o.ips) for o in outs) == [2, 5]
    for out in outs:
        assert app.send(out.incident_id, ALICE, unattended=True).status == "sent"
    assert sorted(m.rcpt_tos for m in smtp.messages) == [("abuse@other.example",),
                                                         ("abuse@shinbiro.example",)]
    shinbiro = next(o for o in outs if len(o.ips) == 5)
    assert set(app.store().get(shinbiro.incident_id).ips) == set(ips[:5])


def test_refused_by_every_recipient_is_a_failure_then_resendable(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.reject("abuse@shinbiro.example", 550, "5.1.1 unknown")
    app = make_app(tmp_path, smtp)
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]))
    failed = app.send(out.incident_id, ALICE)
    assert failed.status == "failed" and "550" in failed.detail
    inc = app.store().get(out.incident_id)
    assert inc.state is State.FAILED and inc.delivery["abuse@shinbiro.example"].startswith("failed: 550")
    assert app.send(out.incident_id, ALICE, to=["noc@shinbiro.example"]).status == "sent"


def test_the_bcc_copy_to_ourselves_does_not_make_a_refused_report_sent(tmp_path: Path,
                                                                       smtp: SmtpServer) -> None:
    from bot.config import from_dict

    smtp.reject("abuse@shinbiro.example", 550, "5.1.1 unknown")
    cfg = from_dict({"report": {"incident_dir": str(tmp_path / "incident"),
                                "reporter_email": "security@mydomain.example"},
                     "smtp": smtp.config_dict(bcc_self=True)})
    app = make_app(tmp_path, smtp, cfg=cfg)
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]))
    sent = app.send(out.incident_id, ALICE)
    assert [m.rcpt_tos for m in smtp.messages] == [("security@mydomain.example",)]  # only our own copy
    assert sent.status == "failed" and "abuse@shinbiro.example: 550" in sent.detail
    assert app.store().get(out.incident_id).state is State.FAILED


def test_a_temporary_failure_then_success_says_it_was_retried(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.temporary_failures(1)
    app = make_app(tmp_path, smtp)
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]))
    said: list[str] = []
    sent = app.send(out.incident_id, ALICE, notice=said.append)
    assert sent.status == "sent" and sent.detail == "sent to abuse@shinbiro.example after 2 attempts"
    assert said == ["SMTP: 451 4.3.0 try again later; trying again in 0.05 s (attempt 2 of 3)"]
    assert len(smtp.messages) == 1


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]), dry_run=True)
    assert out.status == "dry-run" and out.draft is not None and "211.191.28.13" in out.draft.subject
    assert not (tmp_path / "incident").exists()


def test_nothing_reportable(tmp_path: Path) -> None:
    log = tmp_path / "private.log"
    log.write_text("sshd: Failed password for root from 10.0.0.5 port 22\n")
    with pytest.raises(NothingToDo):
        _draft(make_app(tmp_path), str(log))


def test_text_is_scanned_as_text(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    text = "Nov 28 10:00:00 fw sshd[1]: Failed password for root from 211.191.28.13 port 40 ssh2\n"
    assert app.scan(Intake.from_text(text, Origin("slack", "C1/1.1"))).candidates[0].ip == "211.191.28.13"
    assert not list(tmp_path.glob("tmp*"))


def test_catch_all_contacts_are_never_chosen() -> None:
    flagged = Contact("helpdesk@apnic.net", Confidence.HIGH, ("rdap abuse",), flag="registry catch-all")
    low = Contact("abuse@x.example", Confidence.LOW, ("role mailbox",))
    assert choose_recipients([flagged, low]) == (low,)
    assert choose_recipients([flagged]) == ()


def test_only_the_abuse_mailbox_of_guessed_role_mailboxes_is_chosen() -> None:
    roles = [Contact(f"{box}@guess.example", Confidence.LOW, ("RFC 2142 role mailbox",))
             for box in ("security", "noc", "abuse", "postmaster", "webmaster", "root", "hostmaster")]
    assert [c.address for c in choose_recipients(roles)] == ["abuse@guess.example"]
    assert [c.address for c in choose_recipients(roles[:2])] == ["security@guess.example"]
    registry = [Contact("noc@isp.example", Confidence.MEDIUM, ("rdap technical",)),
                Contact("tech@isp.example", Confidence.MEDIUM, ("rdap technical",))]
    assert choose_recipients([*registry, *roles]) == tuple(registry)


def test_an_unusable_stored_address_fails_alone(tmp_path: Path, smtp: SmtpServer) -> None:
    app = make_app(tmp_path, smtp)
    (out,) = _draft(app, snort_log(tmp_path, ["211.191.28.13"]))
    held = app.store().draft(out.incident_id)   # a damaged index row, or a registry's odd address
    app.store().update_draft(dataclasses.replace(held, recipients=(*held.recipients, "not an address")),
                             action=Action.EDIT, actor=ALICE,
                             detail="test", files={})
    sent = app.send(out.incident_id, ALICE)
    assert sent.status == "sent" and "not an address" in sent.detail
    assert [m.rcpt_tos for m in smtp.messages] == [("abuse@shinbiro.example",)]
    assert app.store().get(out.incident_id).delivery["not an address"].startswith("failed")


def test_every_address_of_a_big_log_is_drafted_with_its_log_lines(tmp_path: Path) -> None:
    from bot.config import ScanConfig
    from bot.scan import scan_paths
    from tests.biglog import write_big_log

    log = tmp_path / "big.log"
    counts = write_big_log(log, [f"211.191.{n}.13" for n in range(30)])
    scanned = [c for c in scan_paths([log], ScanConfig()).candidates if c.reportable]
    bare = {c.ip for c in scanned if not c.evidence.lines}
    # the bulk path gave evidence to its top few only (else this test would prove nothing)
    assert len(scanned) == 30 and bare and not {c.ip for c in scanned[:10]} & bare
    app = make_app(tmp_path, group_by_contact=False)
    outs = _draft(app, str(log), every=True, dry_run=True)
    assert sorted(ip for out in outs for ip in out.ips) == sorted(counts)
    for out in outs:
        (ip,) = out.ips
        body = out.draft.body
        excerpt = body.split("Log excerpt", 1)[1]
        assert f"Failed password for root from {ip} port" in excerpt, ip
        assert f"Log lines:     {counts[ip]}\n" in body
        assert "First seen:    unknown" not in body and "Last seen:     unknown" not in body, ip


def test_a_log_file_that_grew_adds_its_new_lines(tmp_path: Path) -> None:
    # a file is not a message delivered twice: the same path again may hold more
    app = make_app(tmp_path)
    log = tmp_path / "auth.log"
    line = "Nov 28 10:0{0}:00 fw sshd[1]: Failed password for root from 211.191.28.13 port 4{0} ssh2\n"
    log.write_text(line.format(1))
    (first,) = _draft(app, str(log))
    log.write_text(line.format(1) + line.format(2))
    (grown,) = _draft(app, str(log))
    assert grown.status == "merged" and grown.incident_id == first.incident_id
    assert "added 1 new" in grown.detail


def test_a_batch_makes_one_draft_each_told_as_stored_in_order(tmp_path: Path) -> None:
    app = make_app(tmp_path, group_by_contact=False)
    ips = [f"211.191.28.{n}" for n in range(10, 16)]
    log = snort_log(tmp_path, ips)
    told: list[str] = []
    run = app.draft(Intake.from_files([log]), ALICE, DraftOptions(every=True),
                    on_outcome=lambda o: told.append(o.incident_id))
    ids = [o.incident_id for o in run.outcomes]
    assert [o.status for o in run.outcomes] == ["drafted"] * 6
    assert told == ids == sorted(ids) and len(set(ids)) == 6       # told as stored, in order
    assert sorted(o.ips[0] for o in run.outcomes) == sorted(ips)
    assert all(app.store().get(i).state is State.DRAFT for i in ids)


def test_a_draft_that_cannot_be_stored_stops_the_batch_there(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.errors import StoreError

    app = make_app(tmp_path, group_by_contact=False)
    store = app.store()
    real = store.create_draft
    calls: list[str] = []

    def failing_second(draft: Any, **kw: Any) -> Any:
        calls.append(draft.incident_id)
        if len(calls) == 2:
            raise StoreError("disk full")
        return real(draft, **kw)

    monkeypatch.setattr(store, "create_draft", failing_second)
    log = snort_log(tmp_path, [f"211.191.28.{n}" for n in range(10, 14)])
    with pytest.raises(StoreError, match="disk full"):
        app.draft(Intake.from_files([log]), ALICE, DraftOptions(every=True))
    assert len(calls) == 2                                            # nothing stored after the failure
    assert [i.id for i in store.incidents()] == calls[:1]
