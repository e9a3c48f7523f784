"""incident serve as a process: it runs, logs one event a line, stops cleanly on SIGTERM within a
few seconds, refuses to run twice on one store, and says how to use it."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

from handlers.cli.main import COMMANDS
from tests.handlers.cli.cli_run import run
from tests.mailbox.process import ServeProcess, serve_config
from tests.mailbox.test_watcher import alert
from tests.sandbox import Sandbox
from tests.support.dovecot import Account

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S")


def test_serve_drafts_mail_logs_one_event_a_line_and_stops_on_sigterm(
        tmp_path: Path, sandbox: Sandbox, imap: Account) -> None:
    config = serve_config(tmp_path, sandbox, imap)
    serve = ServeProcess(config)
    try:
        assert serve.wait_for("incident-bot.done"), serve.lines
        imap.append("INBOX", alert("211.191.28.13", "sigterm"))
        assert serve.wait_for("uid=1 drafted INC-"), serve.lines
        second = run(config, "serve", "--once")
        assert second.returncode == 2 and "another incident serve (pid" in second.stderr
        started = time.monotonic()
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.finish(10) == 0
        assert time.monotonic() - started < 5, "stopped within a few seconds"
    finally:
        if serve.proc.poll() is None:
            serve.proc.kill()
            serve.finish()
    assert serve.lines and all(LINE.match(ln) for ln in serve.lines), serve.lines
    assert "signal SIGTERM received" in "\n".join(serve.lines) and serve.lines[-1].endswith("stopped")
    assert len(imap.messages("incident-bot.done")) == 1


def test_serve_and_stats_say_how_to_use_them(tmp_path: Path) -> None:
    assert {"serve", "stats"} <= set(COMMANDS)
    config = tmp_path / "none.toml"
    config.write_text("")
    serve = run(config, "serve", "--help")
    assert serve.returncode == 0 and "--once" in serve.stdout and "IDLE" in serve.stdout
    stats = run(config, "stats", "--help")
    assert stats.returncode == 0 and "--since DAYS" in stats.stdout and "--json" in stats.stdout
