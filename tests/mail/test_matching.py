"""Keys for matching a reply to its incident: subject keys, tokens, ticket numbers, Message-IDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.mail.matching import match_keys, strip_prefixes, subject_key, ticket_numbers
from bot.mail.reading import Mail, Rejected, read_mail

DATA = Path(__file__).resolve().parent.parent / "data" / "mail"
REPORT = "[INC-20260105-0001] Network scan from 203.0.113.45"


@pytest.mark.parametrize("reply", [
    "Re: [INC-20260105-0001] Network scan from 203.0.113.45",
    "Network scan from 203.0.113.45",                                   # token stripped by the desk
    "RE: AW: WG: Fwd: FW: network SCAN from 203.0.113.45",
    "SV: VS: Odp: Antw: TR: RIF: R: I: RV: ENC: Network scan from 203.0.113.45",
    "Re[2]: Re(3): Re^4: Network scan from 203.0.113.45",
    "回复: 转发: 答复：Network scan from 203.0.113.45",
    "返信: 転送: 회신: ΑΠ: Network scan from 203.0.113.45",
    "Ｒｅ： Network scan from 203.0.113.45",  # full-width, as some clients write it
    "[External] Re: [EXT] *SPAM* Re: Network scan from 203.0.113.45",
    "***SPAM*** {Spam?} (External) EXTERNAL: Network scan from 203.0.113.45",
    "[Ticket#2026010512345678] Re: [INC-20260105-0001] Network scan from 203.0.113.45",
    "[rt.example.net #48213] AutoReply: Network scan from 203.0.113.45",
    "Automatic reply: [INC-20260105-0001] Network scan from 203.0.113.45",
    "Undeliverable: Network scan from 203.0.113.45",
    "Network scan from 203.0.113.45 [abuse #123456]",
    "Network scan from 203.0.113.45 (fwd)",
    "  Re:   Network   scan from 203.0.113.45  ",
])
def test_reply_subjects_have_the_reports_key(reply: str) -> None:
    assert subject_key(reply) == subject_key(REPORT) == "network scan from 203.0.113.45"


@pytest.mark.parametrize("other", [
    "Network scan from 203.0.113.46", "Re: Login attacks from 203.0.113.45", "Re: scan from 203.0.113.45",
    "Regarding: Network scan from 203.0.113.45",
])
def test_other_subjects_do_not(other: str) -> None:
    assert subject_key(other) != subject_key(REPORT)


def test_strip_prefixes_keeps_the_token_and_case() -> None:
    got = strip_prefixes("AW: [EXT] Re: [INC-20260105-0001] Network Scan")
    assert got == "[INC-20260105-0001] Network Scan"
    assert strip_prefixes("Re[2]: AW: Fwd: hello") == "hello"


@pytest.mark.parametrize(("subject", "body", "tickets"), [
    ("[Ticket#2026112812345] Re: x", "", ("ticket #2026112812345",)),
    ("[Ticket #2026112812345] x", "", ("ticket #2026112812345",)),
    ("[abuse #123456] Your report", "", ("abuse #123456",)),
    ("[rt.example.org #1234] AutoReply: x", "", ("rt.example.org #1234",)),
    ("Your report", "Hello\nTicket ID: ABC-12345\n", ("ticket #ABC-12345",)),
    ("Your report", "Your case number: 0042-77\nSee (Ticket: 4711)", ("case #0042-77", "ticket #4711")),
    ("Ihre Meldung", "Vorgangsnummer: 2026-0815\n", ("vorgangsnummer #2026-0815",)),
    ("x", "> Ticket ID: 999\nquoted only", ()),
    ("Re: [INC-20260105-0001] x", "Reference: INC-20260105-0001 (report written ...)", ()),
    ("Ticket: received", "in case: we will see", ()),
])
def test_ticket_numbers(subject: str, body: str, tickets: tuple[str, ...]) -> None:
    assert ticket_numbers(subject, body) == tickets


def test_keys_of_a_reply_and_of_a_bounce() -> None:
    reply = read_mail((DATA / "reply-otrs-ack.eml").read_bytes())
    assert isinstance(reply, Mail)
    keys = match_keys(reply)
    assert keys.answered_ids == keys.message_ids == ("<INC-20260105-0001.5f2c9a1b7d3e4f60@mydomain.example>",)
    assert keys.tokens == ("INC-20260105-0001",) and keys.tickets == ("ticket #2026010512345678",)
    assert keys.subject_key == "network scan from 203.0.113.45"
    bounce = read_mail((DATA / "bounce-qmail.eml").read_bytes())  # the original quoted as plain text
    assert isinstance(bounce, Mail)
    keys = match_keys(bounce)
    assert keys.answered_ids == ()
    assert keys.message_ids == ("<INC-20260105-0005.0011223344556677@mydomain.example>",)


def test_references_newest_first_after_in_reply_to() -> None:
    raw = b"From: a@example.net\nIn-Reply-To: <c@x>\nReferences: <a@x> <b@x>\n  <c@x>\nSubject: s\n\nb\n"
    got = read_mail(raw)
    assert isinstance(got, Mail) and match_keys(got).message_ids == ("<c@x>", "<b@x>", "<a@x>")


def test_a_rejected_mail_still_offers_its_header_keys() -> None:
    raw = (b"From: a@example.net\nIn-Reply-To: <ours@mydomain.example>\nSubject: Re: [INC-20260105-0001] x\n"
           + b"Content-Type: message/rfc822\n\n" * 300)
    got = read_mail(raw)
    assert isinstance(got, Rejected)
    keys = match_keys(got)
    assert keys.message_ids == ("<ours@mydomain.example>",) and keys.tokens == ("INC-20260105-0001",)
