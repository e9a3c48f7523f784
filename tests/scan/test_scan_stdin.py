"""`incident scan -`: standard input is spooled to a bounded temporary file that no exit leaves behind."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.config import Config
from handlers.cli import scan as cmd_scan

ATTACK = "".join(f"Mar  1 04:00:{i % 60:02d} h sshd[{i}]: Failed password for root from 211.191.28.13 port "
                 f"{20000 + i} ssh2\n" for i in range(400))


def _stdin(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(data)))


def _spooled(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record the temporary files the command makes, and their size when it is done with them."""
    made: list[Path] = []
    real = cmd_scan.tempfile.NamedTemporaryFile

    def spy(*args: object, **kwargs: object) -> object:
        tmp = real(*args, **kwargs)  # type: ignore[call-overload]
        made.append(Path(tmp.name))
        return tmp

    monkeypatch.setattr(cmd_scan.tempfile, "NamedTemporaryFile", spy)
    return made


def test_standard_input_beyond_the_spool_is_read_as_a_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ATTACK.encode() + b"Mar  1 05:00:00 h sshd[9]: Failed password for root from 5.6.7.8 port 1 ssh2\n"
    monkeypatch.setattr(cmd_scan, "STDIN_SPOOL_MAX", 1000)      # the spool ends inside a line
    sizes: list[int] = []
    made = _spooled(monkeypatch)
    real_lines = cmd_scan._lines

    def watch(blocks: object) -> object:
        sizes.append(made[0].stat().st_size)
        return real_lines(blocks)  # type: ignore[arg-type]

    monkeypatch.setattr(cmd_scan, "_lines", watch)
    _stdin(data, monkeypatch)
    result = cmd_scan._scan_stdin(Config(), {"select": None, "keep_received": None, "allow_non_global": None})
    assert sizes == [1000]                                       # no more than the bound was kept
    assert [(c.ip, c.count) for c in result.candidates] == [("211.191.28.13", 400), ("5.6.7.8", 1)]
    assert result.lines_read == 401                              # the line cut by the bound is whole
    assert not made[0].exists()


def test_standard_input_within_the_spool_is_scanned_as_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _spooled(monkeypatch)
    _stdin(ATTACK.encode(), monkeypatch)
    result = cmd_scan._scan_stdin(Config(), {"select": None, "keep_received": None, "allow_non_global": None})
    assert result.attacker is not None and result.attacker.count == 400
    assert len(made) == 1 and not made[0].exists()


def test_sigterm_while_reading_standard_input_leaves_no_temporary_file(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "incident"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]
    (tmp_path / "incident.toml").write_text("[scan]\n")
    spool = tmp_path / "tmp"
    spool.mkdir()
    env = {**os.environ, "TMPDIR": str(spool)}
    proc = subprocess.Popen([*cmd, "--config", str(tmp_path / "incident.toml"), "scan", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    proc.stdin.write(ATTACK.encode())
    proc.stdin.flush()                       # ... and the input stays open: the command waits for more
    deadline = time.monotonic() + 30
    while not list(spool.glob("incident-scan-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(spool.glob("incident-scan-*")), "the command never spooled its input"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert list(spool.iterdir()) == []
