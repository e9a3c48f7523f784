"""Matching replies to incidents: Message-ID first, then the subject token, then the subject."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import InputError
from bot.lifecycle import Action
from bot.mail import replies
from bot.mail.reading import Rejected
from bot.mail.replies import MAX_BYTES
from bot.store import Store, followups
from tests.support.fakes import TESTER, create, sent_incident


def _sent(store: Store, ip: str, subject_rest: str, mid: str) -> str:
    return sent_incident(store, ip, subject_rest, mid)


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
    subject = store.get(inc).subject
    raw = f"From: x@example.net\nSubject: RE: Fwd:  {subject}\n\nok\n".encode()
    m = replies.match(replies.parse(raw), store)
    assert m.incident is not None and m.incident.id == inc
    assert replies.base_subject("Re[2]: AW: Fwd: hello") == "hello"


def test_unknown_token_and_subject_do_not_match(store: Store) -> None:
    _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    raw = b"From: x@example.net\nSubject: Re: [INC-19990101-0001] Network scan\n\nok\n"
    m = replies.match(replies.parse(raw), store)
    assert m.incident is None and m.how == ""


def test_a_token_of_an_incident_never_sent_does_not_claim_the_mail(store: Store) -> None:
    # ids are sequential, so anyone can write one; a report never sent cannot be answered
    inc = create(store, "192.0.2.9", subject_rest="Network scan from 192.0.2.9")
    store.transition(inc, TESTER, Action.SKIP)
    for subject in (f"Re: [{inc}] anything", f"Re: [{inc}] Network scan from 192.0.2.9"):
        m = replies.match(replies.parse(f"From: x@example.net\nSubject: {subject}\n\nok\n".encode()), store)
        assert m.incident is None and m.how == ""
    assert replies.subject_tokens(replies.parse(f"Subject: [{inc}]\n\nb\n".encode()), store) == []


@pytest.mark.parametrize("raw", [b"", b"   \n\n", b"just some text\nwithout headers\n", b"\x00\x01\x02binary",
                                 b": no name\n\nbody"])
def test_not_a_mail_is_one_line_input_error(raw: bytes) -> None:
    with pytest.raises(InputError) as err:
        replies.parse(raw)
    assert "\n" not in str(err.value)


def _bounce(inner_ctype: str, inner: bytes) -> bytes:
    return (b"From: MAILER-DAEMON@mx.example.net\nTo: security@mydomain.example\n"
            b"Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
            b"--B\nContent-Type: text/plain\n\nThe mail could not be delivered.\n"
            b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
            b"Final-Recipient: rfc822; abuse@example.net\nAction: failed\nStatus: 5.1.1\n"
            b"--B\nContent-Type: " + inner_ctype.encode() + b"\n\n" + inner + b"\n--B--\n")


@pytest.mark.parametrize("ctype", ["message/rfc822", "text/rfc822-headers"])
def test_bounce_is_matched_by_the_enclosed_message_id(store: Store, ctype: str) -> None:
    inc = _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    inner = b"From: security@mydomain.example\nTo: abuse@example.net\nSubject: whatever\n" \
            b"Message-ID: <one@mydomain.example>\n\nbody\n"
    m = replies.match(replies.parse(_bounce(ctype, inner)), store)
    assert m.incident is not None and m.incident.id == inc and m.how == "enclosed message-id"


def test_bounce_without_our_message_is_unmatched(store: Store) -> None:
    _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    inner = b"From: x@example.org\nSubject: hi\nMessage-ID: <other@example.org>\n\nbody\n"
    assert replies.match(replies.parse(_bounce("message/rfc822", inner)), store).incident is None


def test_the_same_reply_filed_twice_is_kept_once(store: Store) -> None:
    inc = _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    raw = b"From: x@example.net\nIn-Reply-To: <one@mydomain.example>\nSubject: Re: hi\n\nfixed\n"
    first = followups.file_reply(store, inc, raw, actor=TESTER).path
    again = followups.file_reply(store, inc, raw.replace(b"\n", b"\r\n"), actor=TESTER)  # as IMAP gives it
    assert again.path == first and again.again
    assert sorted(p.name for p in first.parent.glob("followup-*")) == [first.name]
    other = followups.file_reply(store, inc, raw + b"and one more line\n", actor=TESTER).path  # never dropped
    assert other != first and other.read_bytes().endswith(b"one more line\n")
    lost = b"From: x@example.net\nSubject: ?\n\n?\n"
    assert followups.file_reply(store, None, lost, actor=TESTER).path == \
        followups.file_reply(store, None, lost, actor=TESTER).path
    assert len(list((store.root / "unmatched").iterdir())) == 1


def test_subject_tokens_name_existing_incidents_only(store: Store) -> None:
    inc = _sent(store, "192.0.2.1", "a", "<one@mydomain.example>")
    raw = f"From: x@example.net\nSubject: Re: [{inc.lower()}] [INC-20000101-0001]\n\nb\n".encode()
    assert replies.subject_tokens(replies.parse(raw), store) == [inc]


def test_a_reply_nested_a_thousand_deep_is_matched_and_kept(store: Store) -> None:
    inc = _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    raw = (b"From: x@example.net\nIn-Reply-To: <one@mydomain.example>\nSubject: Re: hi\n"
           + b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i)
                      for i in range(1000)))
    msg = replies.parse(raw)  # today a RecursionError; now a rejection that keeps its headers
    assert isinstance(msg, Rejected) and msg.reason == "nested deeper than 50 levels"
    m = replies.match(msg, store)
    assert m.incident is not None and m.incident.id == inc and m.how == "message-id"
    assert followups.file_reply(store, inc, raw, actor=TESTER).path.read_bytes() == raw


def test_an_oversized_reply_is_matched_by_its_headers(store: Store) -> None:
    inc = _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    raw = f"From: x@example.net\nSubject: Re: [{inc}] done\n\n".encode() + b"x" * (MAX_BYTES + 10)
    msg = replies.parse(raw)
    assert isinstance(msg, Rejected) and msg.reason == "larger than 50 MB"
    assert replies.match(msg, store).how == "token"


def test_subject_with_the_token_stripped_prefers_the_sent_incident_to_a_newer_draft(store: Store) -> None:
    sent = _sent(store, "192.0.2.1", "Network scan from 192.0.2.1", "<one@mydomain.example>")
    create(store, "192.0.2.1", subject_rest="Network scan from 192.0.2.1")
    for subject in ("Re: Network scan from 192.0.2.1",
                    "AW: [EXT] Re: [Ticket#123] network scan from 192.0.2.1"):
        m = replies.match(replies.parse(f"From: x@example.net\nSubject: {subject}\n\nok\n".encode()), store)
        assert (m.incident.id if m.incident else None, m.how) == (sent, "subject")


def test_enclosed_returns_the_header_blocks_of_enclosed_messages() -> None:
    inner = b"From: security@mydomain.example\nMessage-ID: <one@mydomain.example>\nSubject: s\n\nbody\n"
    got = replies.enclosed(replies.parse(_bounce("message/rfc822", inner)))
    assert [h.message_id for h in got] == ["<one@mydomain.example>"]
