"""Drafts acted on later from the command line: report --draft, list, show, send, edit, skip, reopen,
settle; each command a separate process, as a person (or cron, or another bot process) runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.models import State
from bot.store import Store
from tests.handlers.cli.cli_run import ROOT, popen, run, write_config
from tests.sandbox import Sandbox
from tests.support.smtp import SmtpServer

WINGATE = str(ROOT / "examples" / "wingate.log")


def _drafted(config: Path) -> str:
    proc = run(config, "report", "-b", "--draft", WINGATE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if ": drafted (211.191.28.13)" in ln]
    return line.split(":")[0]


def test_draft_now_send_later_from_another_process(tmp_path: Path, sandbox: Sandbox,
                                                   smtp: SmtpServer) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    inc = _drafted(config)
    assert smtp.messages == []
    listed = run(config, "list", "--json")
    (doc,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert doc["id"] == inc and doc["state"] == "draft" and doc["ips"] == ["211.191.28.13"]
    assert doc["recipients"] == ["abuse@shinbiro.example"] and doc["created"].startswith("20")
    sent = run(config, "send", inc)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert f"{inc}: sent: sent to abuse@shinbiro.example" in sent.stdout and len(smtp.messages) == 1
    again = run(config, "send", inc)
    assert again.returncode == 1 and len(smtp.messages) == 1
    assert again.stderr.startswith(f"incident: {inc} was already sent by cli:")
    assert again.stderr.rstrip().endswith("to abuse@shinbiro.example") and "Traceback" not in again.stderr
    shown = run(config, "show", inc)
    assert shown.returncode == 0
    history = shown.stdout.split("History:")[1].splitlines()[1:]
    assert [line.split()[4] for line in history] == ["create", "send", "delivered"]
    assert all(line.split()[3].startswith("cli:") for line in history)
    assert "Contacts found (* chosen):" in shown.stdout
    assert " * abuse@shinbiro.example (high): rdap abuse" in shown.stdout
    as_json = json.loads(run(config, "show", inc, "--json").stdout)
    assert [e["action"] for e in as_json["history"]] == ["create", "send", "delivered"]
    assert as_json["contacts"][0]["sources"] and as_json["state"] == "sent"


def test_two_processes_sending_one_draft_at_once_deliver_one_mail(tmp_path: Path, sandbox: Sandbox,
                                                                 smtp: SmtpServer) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    inc = _drafted(config)
    procs = [popen(config, "send", inc) for _ in range(3)]
    codes = [p.wait(timeout=60) for p in procs]
    errs = [p.communicate()[1] for p in procs]
    assert sorted(codes) == [0, 1, 1] and len(smtp.messages) == 1
    assert all("already sent by" in e or "is being sent" in e for e, c in zip(errs, codes, strict=True) if c)


@pytest.mark.parametrize("by", ["ip", "contact"])
def test_two_batch_runs_at_once_send_no_duplicate(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer,
                                                  by: str) -> None:
    nets = [n for n in sandbox.synthetic if n.registry in ("arin", "ripencc", "apnic")][:40]
    line = "Sep  8 11:00:{:02d} fw kernel: DROP IN=eth0 SRC={} DST=1.2.3.4 PROTO=TCP DPT=22"
    lines = [line.format(n % 60, net.ips[0]) for n, net in enumerate(nets) for _ in range(2)]
    log = tmp_path / "fw.log"
    log.write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path, sandbox, smtp, report={"suppress_by": by})
    procs = [popen(config, "report", str(log), "-A", "-b") for _ in range(2)]
    for p in procs:
        p.wait(timeout=120)
    outs = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] != [None, None], outs
    rcpts = [m.rcpt_tos for m in smtp.messages]
    assert len(rcpts) == len(set(rcpts)) == 40, outs   # every desk told once, none twice


def test_edit_in_the_editor_then_send(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    inc = _drafted(config)
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\nfrom pathlib import Path\nf = Path(sys.argv[1])\nt = f.read_text()\n"
        "assert '# ' in t and 'rdap abuse' in t\n"
        "t = t.replace('To: abuse@shinbiro.example',\n"
        "              'To: abuse@shinbiro.example, ip@mgate.shinbiro.example')\n"
        "f.write_text(t.replace('Hello,', 'Dear colleagues,'))\n")
    edited = run(config, "edit", inc, EDITOR=f"{sys.executable} {editor}")
    assert edited.returncode == 0, edited.stdout + edited.stderr
    assert run(config, "send", inc).returncode == 0
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ("abuse@shinbiro.example", "ip@mgate.shinbiro.example")
    assert "Dear colleagues," in mail.message.get_body().get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(("script", "message"), [
    ("t = t.replace('To: abuse@shinbiro.example', 'To: ')", "the To: line names nobody"),
    ("t = t.replace('To: abuse@shinbiro.example', 'To: not an address')", "is not a usable e-mail address"),
    ("t = t.replace('To: abuse@shinbiro.example', 'Bcc: x@y.example')", "unexpected line above the body"),
])
def test_an_unusable_edit_changes_nothing(tmp_path: Path, sandbox: Sandbox, script: str,
                                          message: str) -> None:
    config = write_config(tmp_path, sandbox, None)
    inc = _drafted(config)
    editor = tmp_path / "editor.py"
    editor.write_text(f"import sys\nfrom pathlib import Path\nf = Path(sys.argv[1])\nt = f.read_text()\n"
                      f"{script}\nf.write_text(t)\n")
    proc = run(config, "edit", inc, EDITOR=f"{sys.executable} {editor}")
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    store = Store(tmp_path / "incident")
    assert store.draft(inc).recipients == ("abuse@shinbiro.example",)
    assert [e.action for e in store.history(inc)] == ["create"]


def test_skip_reopen_and_the_state_filter(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    inc = _drafted(config)
    assert run(config, "skip", inc, "--reason", "a research scanner").returncode == 0
    refused = run(config, "send", inc)
    assert refused.returncode == 1 and "skipped by cli:" in refused.stderr
    assert "a research scanner" in refused.stderr
    assert run(config, "list", "--state", "skipped").stdout.startswith(inc)
    assert run(config, "list", "--state", "draft").stdout == ""
    bad = run(config, "list", "--state", "bogus")
    assert bad.returncode == 2 and "unknown state 'bogus'" in bad.stderr
    assert run(config, "reopen", inc).returncode == 0
    assert run(config, "send", inc).returncode == 0 and len(smtp.messages) == 1


def test_a_crash_while_sending_is_settled_by_a_person(tmp_path: Path, sandbox: Sandbox,
                                                      smtp: SmtpServer) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    inc = _drafted(config)
    proc = popen(config, "send", inc, paused_at="recorded")
    assert proc.stderr is not None
    assert "incident-test-pause: recorded" in proc.stderr.readline()
    proc.kill()
    proc.communicate(timeout=30)
    assert run(config, "list", "--state", "sending").stdout.startswith(inc)
    blocked = run(config, "send", inc)
    assert blocked.returncode == 1 and f"incident settle {inc}" in blocked.stderr
    assert run(config, "settle", inc, "--not-sent", "--note", "not in the relay log").returncode == 0
    assert run(config, "send", inc).returncode == 0 and len(smtp.messages) == 1
    wrong = run(config, "settle", inc, "--sent")
    assert wrong.returncode == 1 and "cannot settle-sent" in wrong.stderr


@pytest.mark.parametrize("command", ["show", "send", "skip", "reopen", "edit"])
def test_an_unknown_incident_is_one_line(tmp_path: Path, sandbox: Sandbox, smtp: SmtpServer,
                                         command: str) -> None:
    config = write_config(tmp_path, sandbox, smtp)
    proc = run(config, command, "INC-20990101-0001")
    assert proc.returncode == 2 and proc.stderr.strip().endswith("unknown incident INC-20990101-0001")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_report_draft_from_standard_input(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, None)
    proc = run(config, "report", "-", "--draft", stdin=Path(WINGATE).read_text())
    assert proc.returncode == 0, proc.stderr
    (inc,) = Store(tmp_path / "incident").incidents()
    assert inc.state is State.DRAFT and inc.ips == ("211.191.28.13",)


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in ("list", "show", "send", "edit", "skip", "reopen", "settle"):
        proc = subprocess.run([sys.executable, "-m", "handlers.cli", command, "--help"], cwd=ROOT,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0 and "Exit codes" in proc.stdout, command
