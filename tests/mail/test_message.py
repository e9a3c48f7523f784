"""The message as sent: headers built by the email library; untrusted text cannot add a header."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.compose import header_line
from bot.config import from_dict
from bot.errors import UserError
from bot.mail.message import build, envelope, new_message_id
from bot.models import Attachment, Draft

CFG = from_dict({"smtp": {"from_address": "security@mydomain.example", "reply_to": "soc@mydomain.example",
                          "bcc_self": True},
                 "report": {"reporter_name": "Security Team"}})


def _parse(draft: Draft, to: list[str]) -> tuple[bytes, object]:
    raw = build(draft, CFG, to=to, message_id="<x@mydomain.example>")
    return raw, message_from_bytes(raw, policy=policy.default)


def test_headers_and_attachment() -> None:
    draft = Draft("INC-20260908-0001", "[INC-20260908-0001] Network scan from 211.191.28.13", "Hello\n",
                  (), (Attachment("xarf-211.191.28.13.json", "application/json", b'{"a": 1}\n'),))
    raw, parsed = _parse(draft, ["abuse@example.net"])
    assert parsed["Subject"] == draft.subject
    assert parsed["From"] == "Security Team <security@mydomain.example>"
    assert parsed["Reply-To"] == "soc@mydomain.example"
    assert parsed["Message-ID"] == "<x@mydomain.example>"
    assert "Bcc" not in parsed  # bcc-to-self is envelope only
    parts = [p.get_filename() for p in parsed.iter_attachments()]
    assert parts == ["xarf-211.191.28.13.json"]
    assert b"\r\n" in raw  # policy=SMTP line endings


@pytest.mark.parametrize("evil", [
    "scan\r\nBcc: victim@example.com",
    "scan\nX-Injected: yes",
    "scan\rTo: other@example.com",
    "scan\u2028Bcc: x@example.com",
    "scan\x00\x85Bcc: y@example.com",
])
def test_crlf_in_untrusted_subject_cannot_add_a_header(evil: str) -> None:
    subject = header_line(f"[INC-20260908-0001] {evil}")
    draft = Draft("INC-20260908-0001", subject, "body\n", ())
    _raw, parsed = _parse(draft, ["abuse@example.net"])
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    assert parsed.get_all("To") == ["abuse@example.net"]
    assert "Bcc:" in parsed["Subject"] or "X-Injected" in parsed["Subject"] or "To:" in parsed["Subject"]


def test_raw_crlf_reaching_the_builder_is_refused_not_sent() -> None:
    # compose never produces it; if a future caller did, the builder refuses it.
    draft = Draft("INC-20260908-0001", "a\r\nBcc: victim@example.com", "body\n", ())
    with pytest.raises(ValueError):
        build(draft, CFG, to=["abuse@example.net"], message_id="<x@y>")


def test_non_ascii_subject_is_encoded() -> None:
    draft = Draft("INC-20260908-0001", "[INC-20260908-0001] Netzwerk-Scan von Müller GmbH ✓", "Grüße\n", ())
    raw, parsed = _parse(draft, ["abuse@example.net"])
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()
    assert b"=?utf-8?" in header_block.lower()
    assert parsed["Subject"] == draft.subject


@pytest.mark.parametrize("addr", ["abuse@example.net\r\nBcc: x@y.z", "a b@example.net", "abuse@", "x@a..b",
                                  "Name <abuse@example.net>"])
def test_bad_recipient_is_a_user_error(addr: str) -> None:
    draft = Draft("INC-20260908-0001", "s", "b\n", ())
    with pytest.raises(UserError):
        build(draft, CFG, to=[addr], message_id="<x@y>")


def test_envelope_adds_bcc_self_once() -> None:
    assert envelope(CFG, ["abuse@example.net"]) == (
        "security@mydomain.example", ["abuse@example.net", "security@mydomain.example"])
    assert envelope(CFG, ["Security@mydomain.example"])[1] == ["Security@mydomain.example"]


def test_message_id_names_the_sender_domain() -> None:
    mid = new_message_id("INC-20260908-0001", "security@mydomain.example")
    assert mid.startswith("<") and mid.endswith("@mydomain.example>") and "INC-20260908-0001" in mid


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_no_untrusted_subject_adds_or_breaks_a_header(text: str) -> None:
    draft = Draft("INC-20260908-0001", header_line(f"[INC-20260908-0001] {text}"), "body\n", ())
    raw = build(draft, CFG, to=["abuse@example.net"], message_id="<x@mydomain.example>")
    parsed = message_from_bytes(raw, policy=policy.default)
    assert sorted(parsed.keys()) == sorted(EXPECTED_HEADERS)
    # RFC 2047 drops whitespace between adjacent encoded words: compare the text, not the spacing
    assert "".join(parsed["Subject"].split()) == "".join(draft.subject.split())


EXPECTED_HEADERS = ["From", "To", "Reply-To", "Subject", "Date", "Message-ID", "X-Incident-ID",
                    "Content-Type", "Content-Transfer-Encoding", "MIME-Version"]


def test_ascii_body_is_sent_as_is_and_non_ascii_is_encoded() -> None:
    line = "Apr 14 23:11:08 [own-host] snort[86706]: MISC-WinGate-8080-Attempt: 211.191.28.13:1693 -> x:80 =="
    raw, parsed = _parse(Draft("INC-20260908-0001", "s", f"Hello,\n{line}\n", ()), ["abuse@example.net"])
    assert parsed["Content-Transfer-Encoding"] == "7bit" and line.encode() in raw
    _raw, parsed = _parse(Draft("INC-20260908-0001", "s", "Grüße\n", ()), ["abuse@example.net"])
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content().rstrip() == "Grüße"
    _raw, parsed = _parse(Draft("INC-20260908-0001", "s", "x" * 2000 + "\n", ()), ["abuse@example.net"])
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content().rstrip() == "x" * 2000
