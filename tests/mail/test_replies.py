"""Matching replies to incidents: Message-ID first, then the subject token, then the subject."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import InputError
from bot.mail import replies
from bot.store import Store


def _sent(store: Store, ip: str, subject_rest: str, mid: str) -> str:
    inc = store.new_id()
    store.create(inc, ips=[ip], domain="example.net", subject=f"[{inc}] {subject_rest}",
                 recipients=["abuse@example.net"], orig_email="x", findings={})
    store.record_sending(inc, mid, b"eml")
    store.record_result(inc, ["abuse@example.net"], {})
    return inc


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "incident")


def test_in_reply_to_wins_over_a_misleading_subject(store: Store) -> None:
    first = _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    second = _sent(store, "192.0.2.2", "Network scan from 192.0.2.2", "<two@mydomain.example>")
    raw = (f"From: abuse@example.net\nIn-Reply-To: <one@mydomain.example>\n"
           f"Subject: Re: [{second}] something else\n\nfixed\n").encode()
    m = replies.match(replies.parse(raw), store)
    assert (m.incident.id if m.incident else None, m.how) == (first, "message-id")


def test_references_are_used_newest_first(store: Store) -> None:
    first = _sent(store, "192.0.2.1", "a", "<one@mydomain.example>")
    raw = b"From: x@example.net\nReferences: <unknown@x> <one@mydomain.example>\nSubject: hi\n\nb\n"
    m = replies.match(replies.parse(raw), store)
    assert m.incident is not None and m.incident.id == first and m.how == "message-id"


def test_token_in_subject(store: Store) -> None:
    inc = _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    raw = f"From: x@example.net\nSubject: AW: Re: [Ticket#123] {inc.lower()} handled\n\nok\n".encode()
    m = replies.match(replies.parse(raw), store)
    assert m.incident is not None and m.incident.id == inc and m.how == "token"


def test_subject_without_token(store: Store) -> None:
    inc = _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    subject = store.get(inc).extra["subject"]
    raw = f"From: x@example.net\nSubject: RE: Fwd:  {subject}\n\nok\n".encode()
    m = replies.match(replies.parse(raw), store)
    assert m.incident is not None and m.incident.id == inc
    assert replies.base_subject("Re[2]: AW: Fwd: hello") == "hello"


def test_unknown_token_and_subject_do_not_match(store: Store) -> None:
    _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    raw = b"From: x@example.net\nSubject: Re: [INC-19990101-0001] Network scan\n\nok\n"
    m = replies.match(replies.parse(raw), store)
    assert m.incident is None and m.how == ""


@pytest.mark.parametrize("raw", [b"", b"   \n\n", b"just some text\nwithout headers\n", b"\x00\x01\x02binary",
                                 b": no name\n\nbody"])
def test_not_a_mail_is_one_line_input_error(raw: bytes) -> None:
    with pytest.raises(InputError) as err:
        replies.parse(raw)
    assert "\n" not in str(err.value)
