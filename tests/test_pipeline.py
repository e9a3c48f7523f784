"""The pipeline's decisions, with a stand-in gatherer, the real store and a real SMTP server."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, ScanConfig, from_dict
from bot.contacts import choose_recipients
from bot.errors import NothingToDo, UserError
from bot.mail.outbox import Outbox
from bot.models import Candidate, Contact, Draft, Findings, RegistryEntity, State
from bot.pipeline import Options, Pipeline
from bot.scan import collect_evidence, scan_paths
from bot.store import MESSAGE_EML, Store
from tests.biglog import write_big_log
from tests.compose.helpers import NOW, shinbiro_findings
from tests.mail.server import Cert, SmtpServer, make_cert


class FakeGatherer:
    """Findings like the sandbox's: every address in 211.191.0.0/16 is Shinbiro's; 45.33.32.x another's."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def gather(self, ip: str, *, probe: bool | None = None,
               progress: Callable[[str], None] | None = None) -> Findings:
        self.calls.append(ip)
        if progress:
            progress(f"RDAP {ip}...succeeded.")
        found = shinbiro_findings(ip)
        if ip.startswith("45.33.32."):
            assert found.network is not None
            ent = RegistryEntity("ABUSE-OTHER", "Other", "group", ("abuse",), ("abuse@other.example",))
            found = dataclasses.replace(found, network=dataclasses.replace(found.network, entities=(ent,)),
                                        domain=None)
        return found

    def gather_many(self, ips: Iterable[str], *, probe: bool | None = None,
                    progress: Callable[[str], None] | None = None) -> Iterator[tuple[str, Findings]]:
        for ip in ips:
            yield ip, self.gather(ip)


class BatchUI:
    def __init__(self, send: bool = True) -> None:
        self.send = send
        self.lines: list[str] = []

    def progress(self, line: str) -> None:
        self.lines.append(line)

    def bulk_progress(self, done: int, total: int, step: str) -> None:
        pass

    def choose_ip(self, candidate: Candidate) -> bool:
        return candidate.ip.endswith(".13")

    def description(self) -> str:
        return "asked"

    def review(self, draft: Draft, path: Path) -> Draft:
        return draft

    def approve(self, draft: Draft, contacts: Sequence[Contact],
                chosen: Sequence[Contact]) -> tuple[str, ...]:
        return tuple(c.address for c in chosen) if self.send else ()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    return make_cert(Path(tmp_path_factory.mktemp("cert")))


@pytest.fixture
def smtp(cert: Cert) -> Iterator[SmtpServer]:
    with SmtpServer(security="starttls", cert=cert) as srv:
        yield srv


def _log(tmp_path: Path, ips: Sequence[str], per_ip: int = 3) -> str:
    path = tmp_path / "case.log"
    lines = [f"Apr 14 23:11:{i:02d} fw.mydomain.com snort[1]: SCAN: {ip}:{1000 + i} -> 192.0.2.{i + 1}:8080"
             for n, ip in enumerate(ips) for i in range(per_ip + (len(ips) - n))]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _pipeline(tmp_path: Path, smtp: SmtpServer | None, **report: Any) -> tuple[Pipeline, Store, Config]:
    data: dict[str, Any] = {"report": {"incident_dir": str(tmp_path / "incident"),
                                       "reporter_email": "security@mydomain.example", **report}}
    if smtp is not None:
        data["smtp"] = smtp.config_dict()
    cfg = from_dict(data)
    store = Store(cfg.report.incident_dir)
    outbox = Outbox(cfg.smtp, sleep=lambda s: None) if smtp is not None else None
    if outbox is not None and smtp is not None:
        smtp.track(outbox)
    return Pipeline(cfg, gatherer=FakeGatherer(), store=store, outbox=outbox, scan=scan_paths,
                    now=lambda: NOW), store, cfg


def test_one_report_sent_and_recorded(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, store, _ = _pipeline(tmp_path, smtp)
    ui = BatchUI()
    run = pipe.run([_log(tmp_path, ["211.191.28.13", "211.191.28.99"])], Options(description="d"), ui)
    (out,) = run.outcomes
    said = "\n".join(ui.lines)
    assert "Attack appears to be from 211.191.28.13" in said and "RDAP 211.191.28.13...succeeded." in said
    assert "orig_email.txt" in said
    assert out.status == "sent" and out.ips == ("211.191.28.13",)
    inc = store.get(out.incident_id)
    assert inc.state is State.SENT and inc.recipients == ("abuse@shinbiro.example",)
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ("abuse@shinbiro.example",)
    assert mail.message["Message-ID"] == inc.message_ids[0]
    assert mail.message["Subject"].startswith(f"[{inc.id}] ")
    assert (Path(inc.folder) / MESSAGE_EML).read_bytes().replace(b"\r\n", b"\n") == \
        mail.data.replace(b"\r\n", b"\n")


def test_the_same_address_is_not_reported_twice_unless_forced(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, _, _ = _pipeline(tmp_path, smtp)
    log = _log(tmp_path, ["211.191.28.13"])
    first = pipe.run([log], Options(description=""), BatchUI()).outcomes[0]
    again = pipe.run([log], Options(description=""), BatchUI()).outcomes[0]
    assert again.status == "suppressed" and first.incident_id in again.detail
    assert len(smtp.messages) == 1
    forced = pipe.run([log], Options(description="", force=True), BatchUI()).outcomes[0]
    assert forced.status == "sent" and forced.incident_id != first.incident_id
    assert len(smtp.messages) == 2


def test_suppression_by_contact(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, _, _ = _pipeline(tmp_path, smtp, suppress_by="contact")
    pipe.run([_log(tmp_path, ["211.191.28.13"])], Options(description=""), BatchUI())
    other = pipe.run([_log(tmp_path, ["211.191.28.77"])], Options(description=""), BatchUI()).outcomes[0]
    assert other.status == "suppressed" and len(smtp.messages) == 1


def test_interrupted_send_is_never_repeated_without_force(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, store, _ = _pipeline(tmp_path, smtp, suppress_days=0)
    inc = store.new_id()
    store.create(inc, ips=["211.191.28.13"], domain="x", subject=f"[{inc}] x", recipients=["a@b.example"],
                 orig_email="x", findings={})
    store.record_sending(inc, "<crash@x>", b"eml")  # the process died here
    out = pipe.run([_log(tmp_path, ["211.191.28.13"])], Options(description=""), BatchUI()).outcomes[0]
    assert out.status == "suppressed" and "interrupted" in out.detail and smtp.messages == []


def test_without_smtp_reports_are_written_not_sent(tmp_path: Path) -> None:
    pipe, store, _ = _pipeline(tmp_path, None)
    out = pipe.run([_log(tmp_path, ["211.191.28.13"])], Options(description=""), BatchUI()).outcomes[0]
    assert out.status == "written" and "orig_email.txt" in out.detail
    assert store.get(out.incident_id).state is State.DRAFT


def test_person_says_no(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, store, _ = _pipeline(tmp_path, smtp)
    log = _log(tmp_path, ["211.191.28.13"])
    out = pipe.run([log], Options(description=""), BatchUI(send=False)).outcomes[0]
    assert out.status == "skipped" and store.get(out.incident_id).state is State.SKIPPED
    assert smtp.messages == []


def test_bulk_groups_addresses_with_the_same_contact(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, store, _ = _pipeline(tmp_path, smtp)
    ips = [f"211.191.28.{n}" for n in range(10, 15)] + ["45.33.32.7", "45.33.32.8"]
    run = pipe.run([_log(tmp_path, ips)], Options(all_ips=True, description=""), BatchUI())
    sent = [o for o in run.outcomes if o.status == "sent"]
    assert sorted(len(o.ips) for o in sent) == [2, 5]
    assert sorted(m.rcpt_tos for m in smtp.messages) == [("abuse@other.example",),
                                                         ("abuse@shinbiro.example",)]
    shinbiro = next(o for o in sent if len(o.ips) == 5)
    assert set(store.get(shinbiro.incident_id).ips) == set(ips[:5])


def test_bulk_without_grouping_sends_one_per_address(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, _, _ = _pipeline(tmp_path, smtp, group_by_contact=False)
    ips = [f"211.191.28.{n}" for n in range(10, 13)]
    run = pipe.run([_log(tmp_path, ips)], Options(all_ips=True, description=""), BatchUI())
    assert [o.status for o in run.outcomes] == ["sent"] * 3 and len(smtp.messages) == 3


def test_ask_each_only_reports_what_the_person_chose(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, _, _ = _pipeline(tmp_path, smtp)
    run = pipe.run([_log(tmp_path, ["211.191.28.12", "211.191.28.13"])],
                   Options(all_ips=True, ask_each=True, description=None), BatchUI())
    assert sorted(o.status for o in run.outcomes) == ["sent", "skipped"]
    assert "asked" in smtp.messages[0].message.get_body().get_content()  # type: ignore[union-attr]


def test_refused_by_every_recipient_is_a_failure(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.reject("abuse@shinbiro.example", 550, "5.1.1 unknown")
    pipe, store, _ = _pipeline(tmp_path, smtp)
    out = pipe.run([_log(tmp_path, ["211.191.28.13"])], Options(description=""), BatchUI()).outcomes[0]
    assert out.status == "failed" and "550" in out.detail
    assert store.get(out.incident_id).state is State.FAILED


def test_the_bcc_copy_to_ourselves_does_not_make_a_refused_report_sent(tmp_path: Path,
                                                                       smtp: SmtpServer) -> None:
    smtp.reject("abuse@shinbiro.example", 550, "5.1.1 unknown")
    cfg = from_dict({"report": {"incident_dir": str(tmp_path / "incident"),
                                "reporter_email": "security@mydomain.example"},
                     "smtp": smtp.config_dict(bcc_self=True)})
    store = Store(cfg.report.incident_dir)
    outbox = smtp.track(Outbox(cfg.smtp, sleep=lambda s: None))
    pipe = Pipeline(cfg, gatherer=FakeGatherer(), store=store, outbox=outbox, scan=scan_paths,
                    now=lambda: NOW)
    out = pipe.run([_log(tmp_path, ["211.191.28.13"])], Options(description=""), BatchUI()).outcomes[0]
    assert [m.rcpt_tos for m in smtp.messages] == [("security@mydomain.example",)]  # only our own copy
    assert out.status == "failed" and "abuse@shinbiro.example: 550" in out.detail
    assert store.get(out.incident_id).state is State.FAILED  # not "sent": the address is not suppressed


def test_a_temporary_failure_then_success_is_sent_once_and_says_it_was_retried(
        tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.temporary_failures(1)
    pipe, store, _ = _pipeline(tmp_path, smtp)
    ui = BatchUI()  # a person waiting on a terminal is told why nothing happens for a while
    out = pipe.run([_log(tmp_path, ["211.191.28.13"])], Options(description=""), ui).outcomes[0]
    assert out.status == "sent" and out.detail == "sent to abuse@shinbiro.example after 2 attempts"
    assert "SMTP: 451 4.3.0 try again later; trying again in 0.05 s (attempt 2 of 3)" in ui.lines
    assert len(smtp.messages) == 1 and store.get(out.incident_id).state is State.SENT


def test_dry_run_writes_and_sends_nothing(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = from_dict({"report": {"incident_dir": str(tmp_path / "incident")}})
    pipe = Pipeline(cfg, gatherer=FakeGatherer(), store=None, outbox=None, scan=scan_paths, now=lambda: NOW)
    out = pipe.run([_log(tmp_path, ["211.191.28.13"])], Options(description="", dry_run=True),
                   BatchUI()).outcomes[0]
    assert out.status == "dry-run" and out.draft is not None and "211.191.28.13" in out.draft.subject
    assert not (tmp_path / "incident").exists() and smtp.messages == []


def test_nothing_reportable(tmp_path: Path) -> None:
    pipe, _, _ = _pipeline(tmp_path, None)
    log = tmp_path / "private.log"
    log.write_text("sshd: Failed password for root from 10.0.0.5 port 22\n")
    with pytest.raises(NothingToDo):
        pipe.run([str(log)], Options(description=""), BatchUI())


def test_catch_all_contacts_are_never_chosen() -> None:
    from bot.models import Confidence

    flagged = Contact("helpdesk@apnic.net", Confidence.HIGH, ("rdap abuse",), flag="registry catch-all")
    low = Contact("abuse@x.example", Confidence.LOW, ("role mailbox",))
    assert choose_recipients([flagged, low]) == (low,)
    assert choose_recipients([flagged]) == ()


def test_only_the_abuse_mailbox_of_guessed_role_mailboxes_is_chosen() -> None:
    from bot.models import Confidence

    roles = [Contact(f"{box}@guess.example", Confidence.LOW, ("RFC 2142 role mailbox",))
             for box in ("security", "noc", "abuse", "postmaster", "webmaster", "root", "hostmaster")]
    assert [c.address for c in choose_recipients(roles)] == ["abuse@guess.example"]
    assert [c.address for c in choose_recipients(roles[:2])] == ["security@guess.example"]
    registry = [Contact("noc@isp.example", Confidence.MEDIUM, ("rdap technical",)),
                Contact("tech@isp.example", Confidence.MEDIUM, ("rdap technical",))]
    assert choose_recipients([*registry, *roles]) == tuple(registry)


class PickyUI(BatchUI):
    def approve(self, draft: Draft, contacts: Sequence[Contact],
                chosen: Sequence[Contact]) -> tuple[str, ...]:
        return ("abuse@shinbiro.example", "not an address")


def test_an_unusable_address_fails_alone(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, store, _ = _pipeline(tmp_path, smtp)
    out = pipe.run([_log(tmp_path, ["211.191.28.13"])], Options(description=""), PickyUI()).outcomes[0]
    assert out.status == "sent" and "not an address" in out.detail
    assert [m.rcpt_tos for m in smtp.messages] == [("abuse@shinbiro.example",)]
    assert store.get(out.incident_id).extra["recipient:not an address"].startswith("failed")


class LaterUI(BatchUI):
    def approve(self, draft: Draft, contacts: Sequence[Contact],
                chosen: Sequence[Contact]) -> tuple[str, ...] | None:
        return None  # e.g. a Slack message with Send / Skip buttons, answered later


def test_deferred_approval_keeps_a_draft_that_can_be_sent_later(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, store, _ = _pipeline(tmp_path, smtp)
    out = pipe.run([_log(tmp_path, ["211.191.28.13"])], Options(description="d"), LaterUI()).outcomes[0]
    assert out.status == "draft" and smtp.messages == []
    assert store.get(out.incident_id).state is State.DRAFT
    sent = pipe.send_draft(out.incident_id)
    assert sent.status == "sent" and store.get(out.incident_id).state is State.SENT
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ("abuse@shinbiro.example",)
    assert out.draft is not None and mail.message["Subject"] == out.draft.subject
    assert [p.get_filename() for p in mail.message.iter_attachments()] == ["xarf-211.191.28.13.json"]
    with pytest.raises(UserError, match="is sent: not sending it again"):
        pipe.send_draft(out.incident_id)  # the button pressed twice
    assert len(smtp.messages) == 1


class RacingUI(BatchUI):
    """While this person reads the draft, another run reports the same address."""

    def __init__(self, other: Pipeline, log: str) -> None:
        super().__init__()
        self.other, self.log = other, log

    def approve(self, draft: Draft, contacts: Sequence[Contact],
                chosen: Sequence[Contact]) -> tuple[str, ...] | None:
        assert self.other.run([self.log], Options(description=""), BatchUI()).outcomes[0].status == "sent"
        return super().approve(draft, contacts, chosen)


def test_concurrent_runs_for_one_address_send_one_mail(tmp_path: Path, smtp: SmtpServer) -> None:
    pipe, store, _ = _pipeline(tmp_path, smtp)
    other, _, _ = _pipeline(tmp_path, smtp)
    log = _log(tmp_path, ["211.191.28.13"])
    out = pipe.run([log], Options(description=""), RacingUI(other, log)).outcomes[0]
    assert out.status == "suppressed" and "meanwhile" in out.detail
    assert len(smtp.messages) == 1 and store.get(out.incident_id).state is State.SKIPPED


class TroubledGatherer(FakeGatherer):
    def gather(self, ip: str, *, probe: bool | None = None,
               progress: Callable[[str], None] | None = None) -> Findings:
        found = super().gather(ip, probe=probe, progress=progress)
        return dataclasses.replace(found, problems=("RDAP: registry did not answer",)) if ip.endswith(".11") \
            else found


def test_bulk_run_says_how_many_lookups_had_problems(tmp_path: Path) -> None:
    pipe, _, _ = _pipeline(tmp_path, None)
    pipe.gatherer = TroubledGatherer()
    ui = BatchUI()
    pipe.run([_log(tmp_path, ["211.191.28.10", "211.191.28.11"])], Options(all_ips=True, description=""), ui)
    assert any(line.startswith("Lookups had problems for 1 of 2 addresses (e.g. 211.191.28.11: RDAP")
               for line in ui.lines)


class AskingUI(BatchUI):
    """Says yes to every address, keeping the excerpt it was shown for each."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[str, tuple[str, ...]] = {}

    def choose_ip(self, candidate: Candidate) -> bool:
        self.shown[candidate.ip] = candidate.evidence.lines
        return True


def _big_log_run(tmp_path: Path, ui: BatchUI, opts: Options) -> tuple[Any, dict[str, int]]:
    """A report of every address of a log big enough for the scanner's bulk path."""
    log = tmp_path / "big.log"
    counts = write_big_log(log, [f"211.191.{n}.13" for n in range(30)])
    scanned = [c for c in scan_paths([log], ScanConfig()).candidates if c.reportable]
    bare = {c.ip for c in scanned if not c.evidence.lines}
    # the bulk path gave evidence to its top few only (else this test would prove nothing)
    assert len(scanned) == 30 and bare and not {c.ip for c in scanned[:10]} & bare
    cfg = from_dict({"report": {"incident_dir": str(tmp_path / "incident"), "group_by_contact": False}})
    calls: list[list[str]] = []

    def evidence(*args: Any, **kwargs: Any) -> Any:
        calls.append(list(args[2]))
        return collect_evidence(*args, **kwargs)

    pipe = Pipeline(cfg, gatherer=FakeGatherer(), store=None, outbox=None, scan=scan_paths, evidence=evidence,
                    now=lambda: NOW)
    run = pipe.run([str(log)], opts, ui)
    assert [sorted(c) for c in calls] == [sorted(bare)]   # one read, for the addresses without lines
    return run, counts


def test_every_address_of_a_big_log_is_reported_with_its_log_lines(tmp_path: Path) -> None:
    run, counts = _big_log_run(tmp_path, BatchUI(), Options(all_ips=True, description="", dry_run=True))
    assert sorted(ip for out in run.outcomes for ip in out.ips) == sorted(counts)
    for out in run.outcomes:
        (ip,) = out.ips
        assert out.status == "dry-run" and out.draft is not None
        body = out.draft.body
        excerpt = body.split("Log excerpt", 1)[1]
        assert f"Failed password for root from {ip} port" in excerpt, ip
        assert f"Log lines:     {counts[ip]}\n" in body
        assert "First seen:    unknown" not in body and "Last seen:     unknown" not in body, ip


def test_asking_about_each_address_of_a_big_log_shows_its_lines(tmp_path: Path) -> None:
    ui = AskingUI()
    run, counts = _big_log_run(tmp_path, ui, Options(all_ips=True, ask_each=True, description="",
                                                          dry_run=True))
    assert set(ui.shown) == set(counts) and len(run.outcomes) == len(counts)
    for ip, lines in ui.shown.items():
        assert lines and all(ip in line for line in lines), ip
