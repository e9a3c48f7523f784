"""Replies filed through the core: classified, matched (Message-ID, token, the desk's ticket number,
subject), a bounce's failed recipient marked and the next contact proposed, poison mail kept."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import App
from bot.flow import DraftOptions, Intake
from bot.lifecycle import Actor
from bot.models import Findings, RegistryEntity, State
from tests.support.fakes import FakeGatherer, make_app, snort_log
from tests.support.smtp import SmtpServer

DATA = Path(__file__).parent / "data" / "mail"
SAMPLE_MID = "<INC-20260105-0001.5f2c9a1b7d3e4f60@mydomain.example>"
MAILBOX = Actor("mailbox")


def _with_admin(found: Findings) -> Findings:
    """The registry also names an administrative contact: a next-best contact after abuse@."""
    assert found.network is not None
    admin = RegistryEntity("IA1-KR", "Shinbiro admin", "individual", ("administrative",),
                           ("ip@mgate.shinbiro.example",))
    net = dataclasses.replace(found.network, entities=(*found.network.entities, admin))
    return dataclasses.replace(found, network=net)


def _sent(tmp_path: Path, smtp: SmtpServer) -> tuple[App, str, str]:
    app = make_app(tmp_path, smtp, gatherer=FakeGatherer(_with_admin))
    (out,) = app.draft(Intake.from_files([snort_log(tmp_path, ["211.191.28.13"])]), MAILBOX,
                       DraftOptions()).outcomes
    app.send(out.incident_id, Actor.cli("alice"))
    inc = app.store().get(out.incident_id)
    return app, inc.id, inc.message_ids[0]


def _sample(name: str, inc_id: str, mid: str) -> bytes:
    """A sample mail of tests/data/mail made to answer our incident (its id and Message-ID)."""
    text = (DATA / name).read_bytes().decode("utf-8", "surrogateescape")
    text = text.replace(SAMPLE_MID, mid).replace("INC-20260105-0001", inc_id)
    return text.replace("@example.net", "@shinbiro.example").encode("utf-8", "surrogateescape")


def test_an_acknowledgement_teaches_its_ticket_and_a_later_answer_is_found_by_it(tmp_path: Path,
                                                                                  smtp: SmtpServer) -> None:
    app, inc_id, mid = _sent(tmp_path, smtp)
    ack = app.file_reply(_sample("reply-otrs-ack.eml", inc_id, mid), MAILBOX)
    assert (ack.status, ack.kind, ack.how) == ("filed", "auto_ack", "message-id")
    assert ack.ticket and "2026010512345678" in ack.ticket
    assert app.store().get(inc_id).state is State.SENT   # an acknowledgement is not an answer
    later = (b"From: Abuse <abuse@example.org>\nTo: security@mydomain.example\n"
             b"Subject: Re: [Ticket#2026010512345678] we have blocked the customer\n\n"
             b"The customer's machine was cleaned.\n")
    answer = app.file_reply(later, MAILBOX)
    assert (answer.status, answer.how, answer.kind) == ("filed", "ticket", "human")
    assert answer.incident is not None and answer.incident.id == inc_id
    assert app.store().get(inc_id).state is State.ANSWERED
    other_desk = later.replace(b"abuse@example.org", b"abuse@elsewhere.example").replace(b"blocked", b"seen")
    assert app.file_reply(other_desk, MAILBOX).status == "unmatched"   # another desk's same number


def test_a_bounce_marks_the_recipient_failed_and_proposes_the_next_contact(tmp_path: Path,
                                                                            smtp: SmtpServer) -> None:
    app, inc_id, mid = _sent(tmp_path, smtp)
    bounce = _sample("bounce-dsn-postfix.eml", inc_id, mid)
    filed = app.file_reply(bounce, MAILBOX)
    assert (filed.status, filed.kind) == ("filed", "bounce")
    inc = app.store().get(inc_id)
    assert inc.state is State.SENT
    assert inc.delivery["abuse@shinbiro.example"].startswith("failed: bounced: 5.1.1")
    assert filed.proposed is not None and filed.proposed.status == "drafted"
    proposed = app.store().get(filed.proposed.incident_id)
    assert proposed.state is State.DRAFT and proposed.recipients == ("ip@mgate.shinbiro.example",)
    assert len(smtp.messages) == 1   # proposed for a person, never sent by itself
    again = app.file_reply(bounce, MAILBOX)   # the same bounce delivered twice
    assert again.again and again.proposed is None and len(app.incidents()) == 2


@pytest.mark.parametrize("name", ["reply-out-of-office.eml", "reply-rt-autoreply.eml"])
def test_automatic_replies_never_make_an_incident_answered(tmp_path: Path, smtp: SmtpServer,
                                                           name: str) -> None:
    app, inc_id, mid = _sent(tmp_path, smtp)
    filed = app.file_reply(_sample(name, inc_id, mid), MAILBOX)
    assert filed.status == "filed" and filed.kind == "auto_ack"
    assert app.store().get(inc_id).state is State.SENT


def test_a_human_answer_makes_the_incident_answered(tmp_path: Path, smtp: SmtpServer) -> None:
    app, inc_id, mid = _sent(tmp_path, smtp)
    filed = app.file_reply(_sample("reply-human.eml", inc_id, mid), MAILBOX)
    assert (filed.kind, filed.how) == ("human", "message-id") and filed.preview
    assert app.store().get(inc_id).state is State.ANSWERED
    (kept,) = app.show(inc_id).replies
    assert kept.kind == "human" and kept.sender == "noc@shinbiro.example" and kept.preview == filed.preview


def test_a_reply_nested_a_thousand_deep_is_filed_with_its_incident(tmp_path: Path,
                                                                   smtp: SmtpServer) -> None:
    app, _, mid = _sent(tmp_path, smtp)
    nest = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(1000))
    raw = f"From: x@shinbiro.example\nIn-Reply-To: {mid}\nSubject: Re: hi\n".encode() + nest
    filed = app.file_reply(raw, MAILBOX)
    assert filed.status == "filed" and filed.path.read_bytes() == raw


def test_garbage_is_kept_in_rejected_with_its_reason(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    filed = app.file_reply(b"\x00\x01\x02 not a mail at all", MAILBOX)
    assert filed.status == "rejected" and filed.path.parent.name == "rejected"
    assert filed.path.with_suffix(".reason").read_text().startswith("not a mail")


def test_a_large_reply_on_standard_input_is_kept_whole_without_being_held(tmp_path: Path,
                                                                         smtp: SmtpServer) -> None:
    app, inc_id, _ = _sent(tmp_path, smtp)
    config = tmp_path / "incident.toml"
    config.write_text(f'[report]\nincident_dir = "{tmp_path / "incident"}"\n')
    big = tmp_path / "big.eml"
    with big.open("wb") as fh:   # 80 MB: over the 50 MB that is parsed; its headers still match
        fh.write(f"From: a@shinbiro.example\nSubject: Re: [{inc_id}] logs attached\n\n".encode())
        line = b"x" * 1000 + b"\n"
        for _ in range(80_000):
            fh.write(line)
    # the command's own peak memory, as it reports it: VmHWM is this process's, whereas getrusage's
    # maxrss keeps the high-water mark of the (large) test process that forked it
    measured = ("import atexit, re, sys\n"
                "def hwm():\n"
                "    status = open('/proc/self/status').read()\n"
                "    sys.stderr.write('maxrss=%s\\n' % re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
                "atexit.register(hwm)\n"
                "from handlers.cli.main import main\n"
                "sys.exit(main(sys.argv[1:]))\n")
    with big.open("rb") as stdin:
        proc = subprocess.run([sys.executable, "-c", measured, "--config", str(config), "followup"],
                              stdin=stdin, capture_output=True, text=True, check=False,
                              cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Filed with {inc_id}" in proc.stdout
    (kept,) = Path(app.store().get(inc_id).folder).glob("followup-*.eml")
    assert kept.stat().st_size == big.stat().st_size
    peak_mb = int(proc.stderr.rsplit("maxrss=", 1)[1]) / 1024
    assert peak_mb < 200, f"the followup command grew to {peak_mb:.0f} MB for an 80 MB mail"
