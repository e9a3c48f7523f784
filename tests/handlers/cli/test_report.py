"""`incident report` and `incident followup` as a person runs them: the real command in a subprocess,
the sandbox's registries and DNS, and a real SMTP server with STARTTLS and AUTH."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bot.models import State
from bot.store import Store
from tests.biglog import write_big_log
from tests.handlers.cli.cli_run import popen, run, run_bytes, write_config
from tests.samples import WINGATE
from tests.sandbox import Sandbox
from tests.support.smtp import SmtpServer


@pytest.fixture
def case(tmp_path: Path) -> Path:
    path = tmp_path / "case"
    path.write_text("\n".join(WINGATE) + "\n")
    return path


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text


def test_batch_report_is_sent_once_and_filed(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer,
                                              case: Path) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    desc = "Scan of our network for vulnerable WinGate services."
    proc = run(config, "report", str(case), "-b", "-d", desc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for expected in ("Attack appears to be from 211.191.28.13", "RDAP 211.191.28.13...", "written to",
                     "sent to abuse@shinbiro.example"):
        assert expected in out
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ("abuse@shinbiro.example",)
    msg = mail.message
    assert msg["Subject"].endswith("] Network scan from 211.191.28.13") and msg["Subject"].startswith("[INC-")
    body = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Scan of our network for vulnerable WinGate services." in body
    assert "blah-off.mydomain.com" not in body and "1.2.3.64" not in body  # own names/addresses masked
    assert [p.get_filename() for p in msg.iter_attachments()] == ["xarf-211.191.28.13.json"]
    store = Store(tmp_path / "incident")
    (inc_id,) = [i.id for i in store.incidents([State.SENT])]
    inc = store.get(inc_id)
    assert inc.message_ids == (msg["Message-ID"],)
    folder = Path(inc.folder)
    assert folder.parent.name == "shinbiro.example"
    assert {p.name for p in folder.iterdir()} >= {"orig_email.txt", "message.eml", "findings.json"}

    again = run(config, "report", str(case), "-b")
    assert again.returncode == 1 and f"already reported as {inc_id}" in again.stdout
    assert len(smtp.messages) == 1

    reply = (f"From: abuse@shinbiro.example\nTo: security@mydomain.example\nSubject: Re: something\n"
             f"In-Reply-To: {msg['Message-ID']}\n\nWe took care of it.\n").encode()
    filed = run_bytes(config, "followup", stdin=reply)
    assert filed.returncode == 0 and inc_id.encode() in filed.stdout
    assert any(p.name.startswith("followup-") for p in folder.iterdir())
    assert store.get(inc_id).state is State.ANSWERED


def test_interactive_session(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer, case: Path) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    answers = "y\nScan for WinGate proxies.\n\nn\ny\n"  # describe? text, end; view/edit? no; send? yes
    proc = run(config, "report", str(case), stdin=answers)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    order = ["Add description of attack to message?", "View/edit message?", "Possible admin contacts",
             "  1 * abuse@shinbiro.example (high): rdap abuse", "Send message to abuse@shinbiro.example?",
             "sent to"]
    positions = [out.index(part) for part in order]
    assert positions == sorted(positions)
    assert "Scan for WinGate proxies." in smtp.messages[0].message.get_body().get_content()  # type: ignore


def test_saying_no_sends_nothing(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer, case: Path) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    proc = run(config, "report", str(case), "-d", "x", stdin="n\nn\n")
    assert proc.returncode == 0 and "skipped" in proc.stdout
    assert smtp.messages == []


def test_without_smtp_the_report_is_written_not_sent(tmp_path: Path, sandbox: Sandbox, case: Path) -> None:
    config = write_config(tmp_path, sandbox, None)
    proc = run(config, "report", str(case), "-b")
    assert proc.returncode == 0, proc.stderr
    assert "written, not sent:" in proc.stdout
    path = Path(proc.stdout.split("written, not sent: ")[1].split()[0])
    assert path.name == "orig_email.txt" and "Network scan from 211.191.28.13" in path.read_text()


def test_dry_run_prints_and_writes_nothing(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer,
                                           case: Path) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    proc = run(config, "report", str(case), "-b", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "Subject: [INC-" in proc.stdout and "To: abuse@shinbiro.example" in proc.stdout
    assert not (tmp_path / "incident").exists() and smtp.messages == []


@pytest.mark.parametrize("stage", ["recorded", "delivered"])
def test_killed_between_recording_and_sending_never_sends_twice(
        tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer, case: Path, stage: str) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    proc = popen(config, "report", str(case), "-b", paused_at=stage)
    assert proc.stderr is not None
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line or "incident-test-pause" in line:
                break
        assert f"incident-test-pause: {stage}" in line, "the command did not reach the pause point"
        os.kill(proc.pid, signal.SIGKILL)  # the crash
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    sent_before = len(smtp.messages)
    assert sent_before == (0 if stage == "recorded" else 1)
    store = Store(tmp_path / "incident")
    assert len([i.id for i in store.incidents([State.SENDING])]) == 1

    after = run(config, "report", str(case), "-b")  # the restart
    assert after.returncode == 1 and "interrupted while being sent" in after.stdout
    assert len(smtp.messages) == sent_before

    forced = run(config, "report", str(case), "-b", "--force")  # a person says so
    assert forced.returncode == 0 and len(smtp.messages) == sent_before + 1


def test_send_failure_exit_code(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer, case: Path) -> None:
    smtp.reject("abuse@shinbiro.example", 550, "5.7.1 we do not want it")
    config = write_config(tmp_path, sandbox, smtp)
    proc = run(config, "report", str(case), "-b")
    assert proc.returncode == 3 and "550" in proc.stdout
    _no_traceback(proc.stderr)


@pytest.mark.parametrize("walk", ["-A", "-a"])  # -a -b: batch answers "yes" to each, so it is -A -b
def test_bulk_groups_by_contact(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer, walk: str) -> None:
    nets = sandbox.synthetic[:3]
    lines = [f"Sep  8 11:{n:02d}:00 fw kernel: DROP IN=eth0 SRC={ip} DST=1.2.3.4 PROTO=TCP SPT=4{n} DPT=22"
             for net in nets for n, ip in enumerate(net.ips[:4]) for _ in range(n + 1)]
    log = tmp_path / "bulk.log"
    log.write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path, sandbox, smtp)
    proc = run(config, "report", str(log), walk, "-b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == sorted(n.abuse_email for n in nets)
    assert "reports: 3 sent" in proc.stdout
    assert "\r" not in proc.stderr and "[###" not in proc.stderr  # the progress bar is for terminals only


def test_bulk_report_of_a_big_log_has_log_lines_for_every_address(tmp_path: Path, sandbox: Sandbox) -> None:
    # 30 addresses, two per network, in a log big enough for the scanner's bulk path (which gives
    # evidence to its top 10 only): every report still shows each address's own lines. Registries
    # whose default rate limit is low (lacnic, afrinic) would only make the test slow.
    nets = [net for net in sandbox.synthetic if net.registry in ("arin", "ripencc", "apnic")][:15]
    ips = [ip for net in nets for ip in net.ips[:2]]
    log = tmp_path / "big.log"
    counts = write_big_log(log, ips)
    config = write_config(tmp_path, sandbox, None)
    proc = run(config, "report", str(log), "-A", "-b", "-d", "SSH password guessing.", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = Store(tmp_path / "incident")
    reported: list[str] = []
    for inc_id in [i.id for i in store.incidents([State.DRAFT])]:
        inc = store.get(inc_id)
        text = (Path(inc.folder) / "orig_email.txt").read_text(encoding="utf-8")
        for ip in inc.ips:
            section = text.split(f"Log lines:     {counts[ip]}\n", 1)
            assert len(section) == 2, (ip, text)
            excerpt = section[1].split("Log lines:", 1)[0]
            assert f"Failed password for root from {ip} port" in excerpt, (ip, excerpt)
        reported += inc.ips
    assert sorted(reported) == sorted(ips)
    _no_traceback(proc.stderr)


@pytest.mark.parametrize(("args", "message"), [
    (["report", "/nonexistent/case"], "no such file"),
    (["report", "{tmp}"], "directory"),
])
def test_bad_input_is_one_line(tmp_path: Path, sandbox: Sandbox, args: list[str], message: str) -> None:
    config = write_config(tmp_path, sandbox, None)
    proc = run(config, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    _no_traceback(proc.stderr)


def test_smtp_without_sender_is_a_config_error(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer,
                                               case: Path) -> None:
    config = write_config(tmp_path, sandbox, smtp, smtp={"from_address": ""},
                          report={"reporter_email": ""})
    proc = run(config, "report", str(case), "-b")
    assert proc.returncode == 2 and "smtp.from_address" in proc.stderr
    _no_traceback(proc.stderr)


def test_followup_unmatched_and_malformed(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, None)
    lost = run_bytes(config, "followup", stdin=b"From: a@b.example\nSubject: Re: hello\n\nhi\n")
    assert lost.returncode == 1 and b"No incident matches" in lost.stdout
    kept = list((tmp_path / "incident" / "unmatched").iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == b"From: a@b.example\nSubject: Re: hello\n\nhi\n"
    for junk in (b"", b"\x00\xff\xfe binary junk", b"no headers here\n"):
        bad = run_bytes(config, "followup", stdin=junk)
        assert bad.returncode == 2 and bad.stderr.startswith(b"incident: error: ")
        assert len(bad.stderr.strip().splitlines()) == 1 and b"Traceback" not in bad.stderr


def test_followup_from_a_file_names_it(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, None)
    empty = tmp_path / "reply.eml"
    empty.write_bytes(b"")
    proc = run(config, "followup", "--file", str(empty))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"incident: error: no mail in {empty}"


def test_unusable_incident_dir_is_one_line(tmp_path: Path, sandbox: Sandbox, case: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    config = write_config(tmp_path, sandbox, None, report={"incident_dir": str(blocker / "incident")})
    mail = b"From: a@b.example\nSubject: x\n\nx"
    for args, stdin in ((["report", str(case), "-b"], b""), (["followup"], mail)):
        proc = run_bytes(config, *args, stdin=stdin)
        assert proc.returncode == 2 and proc.stderr.startswith(b"incident: error: incident store: ")
        assert len(proc.stderr.strip().splitlines()) == 1 and b"Traceback" not in proc.stderr


def test_editing_the_message_in_editor(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer,
                                       case: Path) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    answers = "n\ny\ny\n"  # no description; view/edit: yes; send: yes
    proc = run(config, "report", str(case), stdin=answers, EDITOR="sed -i s/^Hello,/Dear_abuse_team,/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    body = smtp.messages[0].message.get_body().get_content()  # type: ignore[union-attr]
    assert body.startswith("Dear_abuse_team,")
    written = next((tmp_path / "incident").glob("*/*/orig_email.txt")).read_text()
    assert "\n\nDear_abuse_team," in written


def test_dry_run_of_a_bulk_batch_prints_every_report(tmp_path: Path, sandbox: Sandbox) -> None:
    nets = sandbox.synthetic[:3]
    lines = [f"Sep  8 11:{n:02d}:00 fw kernel: DROP IN=eth0 SRC={net.ips[n]} DST=1.2.3.4 PROTO=TCP DPT=22"
             for net in nets for n in range(2)]
    log = tmp_path / "bulk.log"
    log.write_text("\n".join(lines) + "\n")
    proc = run(write_config(tmp_path, sandbox, None), "report", str(log), "-A", "-b", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("(dry run) ---") == 3
    assert sorted(ln[4:] for ln in proc.stdout.splitlines() if ln.startswith("To: ")) == \
        sorted(n.abuse_email for n in nets)
    assert not (tmp_path / "incident").exists()


def test_choosing_recipients_by_number(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer,
                                       case: Path) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    proc = run(config, "report", str(case), "-d", "x", stdin="n\n99\n1,2\n")  # view? no; a bad number; 1, 2
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Answer y, n, d, or numbers between 1 and" in proc.stdout
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ("abuse@shinbiro.example", "ip@mgate.shinbiro.example")


def test_keeping_a_draft_for_later(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer, case: Path) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    proc = run(config, "report", str(case), "-d", "x", stdin="n\nd\n")
    assert proc.returncode == 0 and "kept as a draft: incident send INC-" in proc.stdout
    assert smtp.messages == []
    (inc,) = Store(tmp_path / "incident").incidents([State.DRAFT])
    assert run(config, "send", inc.id).returncode == 0 and len(smtp.messages) == 1


@pytest.mark.parametrize("select", ["211.191.28.99", "NO-SUCH-SIGNATURE"])
def test_a_selector_matching_no_line_reports_nothing_unless_forced(tmp_path: Path, sandbox: Sandbox,
                                                                   smtp: SmtpServer, case: Path,
                                                                   select: str) -> None:
    # a mistyped address must not mail the abuse desk of whoever holds it a report with no evidence
    config = write_config(tmp_path, sandbox, smtp)
    proc = run(config, "report", str(case), select, "-b")
    assert proc.returncode == 2 and "nothing reported (--force to report anyway)" in proc.stderr
    assert smtp.messages == [] and not (tmp_path / "incident").exists()
    forced = run(config, "report", str(case), select, "-b", "--force")
    assert forced.returncode in (0, 1), forced.stdout + forced.stderr
