"""`incident followup` in process: what a person is told when a reply is ambiguous or comes twice."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from bot.config import from_dict
from bot.models import State
from bot.store import Store
from handlers.cli import followup as cmd_followup
from tests.support.fakes import sent_incident


def _sent(store: Store, mid: str) -> str:
    return sent_incident(store, mid=mid)


def _followup(tmp_path: Path, raw: bytes, monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    cfg = from_dict({"report": {"incident_dir": str(tmp_path / "incident")}})
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    code = cmd_followup.run(argparse.Namespace(file=None), cfg)
    return code, capsys.readouterr().out


def test_a_reply_whose_subject_names_another_incident_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(tmp_path / "incident")
    first = _sent(store, "<one@mydomain.example>")
    second = _sent(store, "<two@mydomain.example>")
    raw = (f"From: x@example.net\nIn-Reply-To: <one@mydomain.example>\n"
           f"Subject: Re: [{second}] Network scan\n\nfixed\n").encode()
    code, out = _followup(tmp_path, raw, monkeypatch, capsys)
    assert code == 0 and out.startswith(f"Filed with {first} ")
    assert f"its subject names {second}, but it answers a message of {first}" in out
    assert store.get(first).state is State.ANSWERED and store.get(second).state is State.SENT


def test_the_same_reply_twice_is_filed_once_and_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(tmp_path / "incident")
    inc = _sent(store, "<one@mydomain.example>")
    raw = f"From: x@example.net\nSubject: Re: [{inc}] Network scan\n\nfixed\n".encode()
    assert _followup(tmp_path, raw, monkeypatch, capsys)[0] == 0
    code, out = _followup(tmp_path, raw, monkeypatch, capsys)
    assert code == 0 and out.startswith(f"Already filed with {inc} ") and "not copied again" in out
    assert "Note:" not in out
    assert len(list(Path(store.get(inc).folder).glob("followup-*.eml"))) == 1
