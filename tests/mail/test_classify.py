"""Classifying replies: human answers, automatic acknowledgements (with their ticket numbers), bounces."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.mail import bounces
from bot.mail.classify import Classification, Kind, classify
from bot.mail.reading import Mail, Rejected, read_mail

DATA = Path(__file__).resolve().parent.parent / "data" / "mail"
OURS = "<INC-20260105-0001.5f2c9a1b7d3e4f60@mydomain.example>"


def sample(name: str) -> Mail:
    got = read_mail((DATA / name).read_bytes())
    assert isinstance(got, Mail), f"{name}: {got}"
    return got


def of(name: str) -> Classification:
    return classify(sample(name))


def test_a_person_answering_is_human_even_with_outlooks_suppress_header() -> None:
    c = of("reply-human.eml")
    assert c.kind is Kind.HUMAN and not c.automatic and c.ticket == ""
    assert c.preview == ("Hello, the customer behind 203.0.113.45 has been disconnected; the machine was "
                         "compromised and is being reinstalled. Best regards NOC")


@pytest.mark.parametrize(("name", "ticket", "sign"), [
    ("reply-otrs-ack.eml", "ticket #2026010512345678", "wording: "),
    ("reply-rt-autoreply.eml", "rt.example.net #48213", "Auto-Submitted: auto-replied"),
    ("reply-ticket-ack-wording.eml", "abuse #123456", "ticket abuse #123456 with wording"),
    ("reply-out-of-office.eml", "", "Auto-Submitted: auto-generated"),
])
def test_acknowledgements_are_auto_with_their_ticket_number(name: str, ticket: str, sign: str) -> None:
    c = of(name)
    assert c.kind is Kind.AUTO_ACK and c.automatic
    assert c.ticket == ticket
    assert c.signs[0].startswith(sign)


def test_a_person_answering_through_rt_is_human_despite_precedence_bulk() -> None:
    c = of("reply-rt-human.eml")
    assert c.kind is Kind.HUMAN and c.ticket == "rt.example.net #48213"
    assert "Precedence: bulk ignored" in c.signs[0]


@pytest.mark.parametrize(("headers", "kind"), [
    ("Auto-Submitted: no\n", Kind.HUMAN),
    ("Auto-Submitted: auto-replied; owner-email=x@example.net\n", Kind.AUTO_ACK),
    ("Precedence: junk\n", Kind.AUTO_ACK),
    ("Precedence: list\n", Kind.AUTO_ACK),
    ("Precedence: bulk\n", Kind.AUTO_ACK),
    ("X-Autoreply: yes\n", Kind.AUTO_ACK),
    ("X-Autorespond: something\n", Kind.AUTO_ACK),
    ("Return-Path: <>\n", Kind.AUTO_ACK),
    ("Return-Path: <noc@example.net>\n", Kind.HUMAN),
    ("X-Auto-Response-Suppress: All\n", Kind.HUMAN),
    ("X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply\n", Kind.HUMAN),
])
def test_header_signs(headers: str, kind: Kind) -> None:
    raw = f"From: noc@example.net\nSubject: Re: scan\n{headers}\nWe blocked the customer.\n".encode()
    got = read_mail(raw)
    assert isinstance(got, Mail) and classify(got).kind is kind


def test_a_human_saying_thanks_without_a_ticket_system_stays_human() -> None:
    raw = (b"From: noc@example.net\nSubject: Re: scan\n\n"
           b"Thank you for your report, we have received your mail.\n")
    got = read_mail(raw)
    assert isinstance(got, Mail) and classify(got).kind is Kind.HUMAN


@pytest.mark.parametrize(("name", "failed", "status", "original", "source"), [
    ("bounce-dsn-postfix.eml", ["abuse@example.net", "noc@example.net"], "5.1.1", OURS, "dsn"),
    ("bounce-dsn-google-headers.eml", ["abuse@example.org"], "5.1.1",
     "<INC-20260105-0002.0a1b2c3d4e5f6071@mydomain.example>", "dsn"),
    ("bounce-exchange-ndr.eml", ["abuse@example.com"], "5.1.10",
     "<INC-20260105-0003.1122334455667788@mydomain.example>", "dsn"),
    ("bounce-exim.eml", ["abuse@example.info"], "5.1.1",
     "<INC-20260105-0004.99aabbccddeeff00@mydomain.example>", "flufl.bounce"),
    ("bounce-qmail.eml", ["abuse@example.biz"], "5.1.1",
     "<INC-20260105-0005.0011223344556677@mydomain.example>", "flufl.bounce"),
    ("bounce-postfix-nodsn.eml", ["abuse@example.edu"], "5.7.1",
     "<INC-20260105-0006.8899aabbccddeeff@mydomain.example>", "flufl.bounce"),
    ("bounce-sendmail-nodsn.eml", ["abuse@example.gov"], "5.1.1",
     "<INC-20260105-0007.aabbccddeeff0011@mydomain.example>", "flufl.bounce"),
    ("bounce-exchange-2003-nodsn.eml", ["abuse@example.co"], "5.1.1",
     "<INC-20260105-0008.1234567890abcdef@mydomain.example>", "enclosed original"),
])
def test_bounces_name_the_failed_recipients_and_our_original(
        name: str, failed: list[str], status: str, original: str, source: str) -> None:
    c = of(name)
    assert c.kind is Kind.BOUNCE and c.automatic
    assert [r.address for r in c.failed] == failed
    assert c.failed[0].status == status and c.failed[0].action == "failed"
    assert c.failed[0].diagnostic and "\n" not in c.failed[0].diagnostic
    assert original in c.original_ids
    assert c.signs[0] == source


def test_a_dsn_gives_every_recipient_with_its_own_status() -> None:
    c = of("bounce-dsn-postfix.eml")
    assert [(r.address, r.status, r.original, r.remote_mta) for r in c.failed] == [
        ("abuse@example.net", "5.1.1", "Abuse@example.net", "mail.example.net"),
        ("noc@example.net", "5.2.2", "noc@example.net", "mail.example.net")]
    assert c.failed[0].diagnostic == ("smtp; 550 5.1.1 <abuse@example.net>: Recipient address rejected: "
                                      "User unknown in virtual mailbox table")
    assert [(r.address, r.status) for r in c.delayed] == [("hostmaster@example.net", "4.4.1")]


def test_a_delay_notice_is_automatic_but_no_bounce() -> None:
    c = of("bounce-dsn-delayed.eml")
    assert c.kind is Kind.AUTO_ACK and not c.failed
    assert [r.address for r in c.delayed] == ["hostmaster@example.net"] and OURS in c.original_ids


def test_a_success_dsn_is_no_bounce() -> None:
    raw = (b"From: MAILER-DAEMON@mx.example.net\nSubject: Successful Mail Delivery Report\nReturn-Path: <>\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=R\n\n--R\n"
           b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
           b"Final-Recipient: rfc822; abuse@example.net\nAction: delivered\nStatus: 2.0.0\n--R--\n")
    got = read_mail(raw)
    assert isinstance(got, Mail)
    c = classify(got)
    assert c.kind is Kind.AUTO_ACK and not c.failed and c.signs == ("Return-Path: <>",)


def test_a_postmaster_answering_as_a_person_is_no_bounce() -> None:
    raw = (b"From: postmaster@example.net\nSubject: Re: [INC-20260105-0001] Network scan\n"
           b"In-Reply-To: " + OURS.encode() + b"\n\nThe user abuse@example.net has left; write to noc@.\n")
    got = read_mail(raw)
    assert isinstance(got, Mail) and classify(got).kind is Kind.HUMAN


def test_flufl_bounce_failing_costs_only_its_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(msg: object) -> object:
        raise TypeError("a detector fell over")

    monkeypatch.setattr(bounces, "all_failures", broken)
    c = of("bounce-exim.eml")  # nothing from flufl.bounce: Exim's own header still names it
    assert c.kind is Kind.BOUNCE and [r.address for r in c.failed] == ["abuse@example.info"]
    assert c.signs[0] == "X-Failed-Recipients" and c.failed[0].status == "5.1.1"
    c = of("bounce-postfix-nodsn.eml")  # nor here: the returned original's recipient, named in the notice
    assert [r.address for r in c.failed] == ["abuse@example.edu"] and c.signs[0] == "enclosed original"


def test_a_rejected_mail_is_classified_from_its_headers() -> None:
    deep = (b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nSubject: Undelivered Mail\n"
            b"Return-Path: <>\n" + b"Content-Type: message/rfc822\n\n" * 200 + b"x\n")
    got = read_mail(deep)
    assert isinstance(got, Rejected)
    assert classify(got).kind is Kind.BOUNCE
    auto = read_mail(b"From: a@example.net\nSubject: x\nAuto-Submitted: auto-replied\n"
                     + b"Content-Type: message/rfc822\n\n" * 200)
    assert isinstance(auto, Rejected) and classify(auto).kind is Kind.AUTO_ACK


def test_the_preview_is_one_printable_line() -> None:
    raw = ("From: noc@example.net\nSubject: Re: x\nContent-Type: text/plain; charset=utf-8\n\n"
           "Done.\u202e\x1b[31m <!channel>\nSecond line\n\n> quoted line\n").encode()
    got = read_mail(raw)
    assert isinstance(got, Mail)
    preview = classify(got).preview
    assert "\x1b" not in preview and "\u202e" not in preview and "quoted" not in preview
    assert preview.startswith("Done.") and preview.endswith("Second line")


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.eml")))
def test_crlf_as_imap_gives_it_reads_the_same(name: str) -> None:
    raw = (DATA / name).read_bytes().replace(b"\r\n", b"\n")
    lf, crlf = read_mail(raw), read_mail(raw.replace(b"\n", b"\r\n"))
    assert isinstance(lf, Mail) and isinstance(crlf, Mail)
    assert classify(lf) == classify(crlf)
    assert [(p.content_type, p.text) for p in lf.parts] == [(p.content_type, p.text) for p in crlf.parts]
