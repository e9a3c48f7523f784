"""The report command's terminal side, in process: the $EDITOR round trip and what reaches the screen."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.models import Candidate, Evidence, Role
from bot.text import visible_text as shown
from handlers.cli.prompts import TerminalUI

SUBJECT, BODY = "[INC-20260101-0001] Network scan from 203.0.113.9", "Hello,\nbody\n"


def _editor(tmp_path: Path, script: str) -> str:
    path = tmp_path / "editor.py"
    path.write_text("import sys\nfrom pathlib import Path\nf = Path(sys.argv[1])\n" + script)
    return f"{sys.executable} {path}"


def _review(monkeypatch: pytest.MonkeyPatch, editor: str) -> str | None:
    """The new body after the person chose to view/edit the message, None when it is unchanged."""
    monkeypatch.setenv("EDITOR", editor)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    return TerminalUI(batch=False, bulk=False).review("INC-20260101-0001", SUBJECT, BODY)


def test_editor_that_fails_leaves_the_message_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # vim's :cq: the person abandons the edit; whatever is in the file must not be sent
    editor = _editor(tmp_path, "f.write_text('half-edited')\nsys.exit(1)\n")
    assert _review(monkeypatch, editor) is None
    assert "exited with status 1; the message is unchanged" in capsys.readouterr().out


def test_editor_that_empties_the_file_says_the_message_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _review(monkeypatch, _editor(tmp_path, "f.write_text('')\n")) is None
    assert "empty; the message as written is kept" in capsys.readouterr().out


def test_editor_writing_latin1_is_not_an_internal_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    editor = _editor(tmp_path, "f.write_bytes('Gr\\u00fc\\u00dfe\\n'.encode('latin-1'))\n")
    assert _review(monkeypatch, editor) == "Gr\ufffd\ufffde\n"
    assert "not UTF-8" in capsys.readouterr().out


def test_log_lines_shown_before_asking_carry_no_terminal_controls(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = "sshd: Failed password from 203.0.113.9 \x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil"
    cand = Candidate("203.0.113.9", 1, 1, Role.SOURCE, True, Evidence((hostile,), 1, None, None))
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    assert TerminalUI(batch=False, bulk=False).choose_ip(cand) is False
    out = capsys.readouterr().out
    assert "Failed password" in out
    assert not any(ch in out for ch in "\x1b\x07\x9b\u202e")
    assert shown("a\tb\nc") == "a\tb\nc"  # tabs and line ends stay as they are


def test_batch_never_asks_which_addresses_to_report(monkeypatch: pytest.MonkeyPatch) -> None:
    # `report -a -b` from cron: no one to answer, and "no" to every address would report nothing
    def no_terminal(prompt: str = "") -> str:
        raise AssertionError(f"asked {prompt!r} in batch mode")

    monkeypatch.setattr("builtins.input", no_terminal)
    cand = Candidate("203.0.113.9", 1, 1, Role.SOURCE, True, Evidence(("x 203.0.113.9",), 1, None, None))
    assert TerminalUI(batch=True, bulk=False).choose_ip(cand) is True


def test_a_log_on_standard_input_cannot_also_answer_questions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # every prompt read EOF and the run said "not sent (your choice)" though no one chose anything
    from handlers import cli

    config = tmp_path / "incident.toml"
    config.write_text(f'[report]\nincident_dir = "{tmp_path / "incident"}"\n')
    assert cli.main(["--config", str(config), "report", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("incident: error: the log comes from standard input") and "-b" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "incident").exists()


def test_view_without_an_editor_says_it_cannot_be_edited(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert _review(monkeypatch, "") is None
    out = capsys.readouterr().out
    assert out.startswith(f"Subject: {SUBJECT}\n\nHello,") and "cannot be edited" in out
