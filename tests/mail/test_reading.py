"""Reading any mail safely: poison mails cost bounded memory and never raise; odd headers decode."""

from __future__ import annotations

import base64
import io
import os
import tracemalloc
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.mail.reading import MB, Limits, Mail, Rejected, read_mail

HEAD = (b"From: someone@example.net\nTo: security@mydomain.example\nSubject: test\n"
        b"Message-ID: <t@example.net>\n")


class Generated(io.RawIOBase):
    """A stream of `size` bytes made as it is read (never held whole): a header, then filler lines."""

    def __init__(self, size: int, head: bytes = HEAD + b"\n", line: bytes = b"x" * 75 + b"\n") -> None:
        self.size, self.pos, self.head = size, 0, head
        self.block = line * (65536 // len(line))

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), self.size - self.pos)
        if n <= 0:
            return 0
        if self.pos < len(self.head):
            chunk = self.head[self.pos:self.pos + n]
        else:
            offset = (self.pos - len(self.head)) % len(self.block)
            chunk = (self.block[offset:] + self.block)[:n]
        buf[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def peak_memory(fn: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def nested_multipart(depth: int) -> bytes:
    level = b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n"
    levels = b"".join(level % (i, i) for i in range(depth))
    return HEAD + b"MIME-Version: 1.0\n" + levels + b"Content-Type: text/plain\n\nhello\n"


@pytest.mark.parametrize("raw", [
    nested_multipart(1000),
    HEAD + b"Content-Type: message/rfc822\n\n" * 1000 + b"Subject: x\n\nhi\n",
    HEAD + b"".join(b"Content-Type: multipart/digest; boundary=d%d\n\n--d%d\n\n" % (i, i)
                    for i in range(1000)),
], ids=["multipart", "message-rfc822", "digest"])
def test_mime_nested_a_thousand_deep_is_rejected_with_its_headers(raw: bytes) -> None:
    # the email library alone raises RecursionError on these
    with pytest.raises(RecursionError):
        BytesParser(policy=policy.compat32).parsebytes(raw)
    got = read_mail(raw)
    assert isinstance(got, Rejected) and got.reason == "nested deeper than 50 levels"
    assert got.headers.message_id == "<t@example.net>" and got.headers.subject == "test"


def test_nesting_within_the_limit_is_read_and_its_text_found() -> None:
    got = read_mail(nested_multipart(40))
    assert isinstance(got, Mail)
    assert max(p.depth for p in got.parts) == 41 and got.parts[-1].text.strip() == "hello"
    assert isinstance(read_mail(nested_multipart(40), Limits(max_depth=20)), Rejected)


def test_30_mb_mail_is_read_in_bounded_memory() -> None:
    attachment = base64.encodebytes(os.urandom(21 * MB))
    raw = (HEAD + b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\n"
           b"Content-Type: text/plain\n\nsee the attachment\n--B\nContent-Type: application/octet-stream\n"
           b"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=big.bin\n\n"
           + attachment + b"--B--\n")
    assert len(raw) > 28 * MB
    got, peak = peak_memory(lambda: read_mail(raw))
    assert isinstance(got, Mail) and got.size == len(raw)
    big = got.parts[2]
    assert big.filename == "big.bin" and len(big.data) == 10 * MB and big.cut  # decoded up to max_part_bytes
    assert big.encoded_size > 28 * MB
    assert peak < 4 * len(raw), f"peak {peak / MB:.0f} MB for a {len(raw) / MB:.0f} MB mail"


def test_1_gb_stream_is_kept_whole_on_disk_and_rejected_in_bounded_memory(tmp_path: Path) -> None:
    size = 1024 * MB
    got, peak = peak_memory(lambda: read_mail(Generated(size), keep_in=tmp_path))
    assert isinstance(got, Rejected) and got.reason == "larger than 50 MB"
    assert got.headers.subject == "test"  # the header block is read, to match and file it
    assert got.size == size and got.kept is not None and got.kept_whole
    assert got.kept.parent == tmp_path and got.kept.stat().st_size == size
    assert peak < 60 * MB, f"peak {peak / MB:.0f} MB"  # at most max_bytes in chunks, dropped when over
    got.kept.unlink()


def test_1_gb_stream_without_a_folder_is_read_no_further_than_the_cap() -> None:
    stream = Generated(1024 * MB)
    got, peak = peak_memory(lambda: read_mail(stream))
    assert isinstance(got, Rejected) and got.reason == "larger than 50 MB" and got.kept is None
    assert stream.pos <= 51 * MB and peak < 60 * MB


def test_the_keep_cap_stops_reading_and_says_the_copy_is_not_whole(tmp_path: Path) -> None:
    got = read_mail(Generated(8 * MB), Limits(max_bytes=MB, max_keep_bytes=3 * MB), keep_in=tmp_path)
    assert isinstance(got, Rejected) and got.reason == "larger than 1 MB"
    assert got.kept is not None and got.kept.stat().st_size == 3 * MB and not got.kept_whole


def test_a_small_stream_is_kept_and_parsed(tmp_path: Path) -> None:
    raw = HEAD + b"\nbody line\n"
    got = read_mail(io.BytesIO(raw), keep_in=tmp_path)
    assert isinstance(got, Mail) and got.kept is not None and got.kept.read_bytes() == raw and got.kept_whole
    assert got.parts[0].text == "body line\n"


def test_a_stream_that_breaks_is_a_rejection_not_an_exception(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
            raise ConnectionResetError(104, "Connection reset by peer")

    got = read_mail(Broken())
    assert isinstance(got, Rejected) and "Connection reset" in got.reason
    missing = tmp_path / "no" / "such" / "folder"
    kept = read_mail(io.BytesIO(HEAD + b"\nhi\n"), keep_in=missing)  # cannot keep: still read
    assert isinstance(kept, Mail) and kept.kept is None and not kept.kept_whole


def test_a_million_empty_parts_stop_at_the_parts_cap() -> None:
    raw = HEAD + b"Content-Type: multipart/mixed; boundary=B\n\n" + b"--B\n\n" * 1_000_000 + b"--B--\n"
    got, peak = peak_memory(lambda: read_mail(raw))
    assert isinstance(got, Rejected) and got.reason == "more than 1000 MIME parts"
    assert peak < 100 * MB


def test_millions_of_short_lines_are_read_up_to_the_line_cap() -> None:
    raw = HEAD + b"\n" + b"a\n" * 10_000_000
    got, peak = peak_memory(lambda: read_mail(raw))
    assert isinstance(got, Mail) and got.truncated == "only the first 500000 lines were read"
    assert got.parts[0].text.startswith("a\na\n") and peak < 200 * MB


@pytest.mark.parametrize("value", ["<>", "<", "<@>", "<a@[b>", "<a@["])
def test_odd_message_ids_are_read_where_the_default_policy_raises(value: str) -> None:
    raw = f"Message-ID: {value}\nIn-Reply-To: {value}\nFrom: x@example.net\n\nbody\n".encode()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    with pytest.raises((IndexError, AttributeError, UnboundLocalError)):  # the trap on Python 3.11
        str(msg["Message-ID"])
    got = read_mail(raw)
    assert isinstance(got, Mail) and got.headers.get("Message-ID") == value
    assert got.headers.message_id in ("", value) and got.parts[0].text == "body\n"


def test_broken_charsets_8bit_headers_nul_and_bare_cr_are_readable() -> None:
    raw = (b"From: =?x-unknown?q?M=FCller?= <m@example.de>\n"
           b"Subject: caf\xe9 \xe2\x80\x93 =?utf-8?b?R3LDvMOfZQ==?=\n"
           b"To: =?rot13?q?abc?= <t@example.de>\nContent-Type: text/plain; charset=\"no-such-charset\"\n\n"
           b"Gr\xfc\xdfe\x00 and \xe2\x82\xac\rnext line\r\n")
    got = read_mail(raw)
    assert isinstance(got, Mail)
    assert got.headers.get("From") == "Müller <m@example.de>" and got.headers.from_address == "m@example.de"
    assert got.headers.subject == "café – Grüße"
    assert got.headers.get("To") == "abc <t@example.de>"
    assert got.parts[0].text == "Grüße\ufffd and €\nnext line\n"


def test_delivery_status_blocks_are_all_kept_and_never_taken_for_text() -> None:
    raw = (HEAD + b"Content-Type: multipart/report; report-type=delivery-status; boundary=R\n\n"
           b"--R\nContent-Type: text/plain\n\nnotice\n--R\nContent-Type: message/delivery-status\n\n"
           b"Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; a@example.net\nAction: failed\n\n"
           b"Final-Recipient: rfc822; b@example.net\nAction: failed\n--R--\n")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    status = next(p for p in msg.walk() if p.get_content_type() == "message/delivery-status")
    # the traps: get_content() gives the first block only, walk() yields the blocks as text parts
    content = status.get_content()
    assert len(status.get_payload()) == 3 and b"Reporting-MTA" in content and b"a@example.net" not in content
    assert sum(1 for p in msg.walk() if p.get_content_type() == "text/plain") == 4
    got = read_mail(raw)
    assert isinstance(got, Mail)
    report = next(p for p in got.parts if p.content_type == "message/delivery-status")
    assert [b.get("Final-Recipient") for b in report.fields] == [
        "", "rfc822; a@example.net", "rfc822; b@example.net"]
    assert [p.content_type for p in got.parts] == [
        "multipart/report", "text/plain", "message/delivery-status"]


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "empty: no mail"), (b"  \n\n", "empty: no mail"),
    (b"just some text\nno headers\n", "not a mail: no header"),
    (b"\x00\x01\x02binary", "not a mail: no header"),
    (b"X-Only: header\n\nbody\n", "not a mail: no From, To, Subject, Date or Message-ID"),
])
def test_not_a_mail_is_a_one_line_rejection(raw: bytes, reason: str) -> None:
    got = read_mail(raw)
    assert isinstance(got, Rejected) and got.reason == reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_after_a_header_never_raise(data: bytes) -> None:
    got = read_mail(HEAD + data)
    assert isinstance(got, Mail | Rejected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    b"Content-Type: multipart/mixed; boundary=a\n", b"Content-Type: message/rfc822\n", b"--a\n", b"--a--\n",
    b"\n", b"Content-Transfer-Encoding: base64\n", b"Content-Type: message/delivery-status\n", b"QUJD\n",
    b"Content-Type: text/plain; charset=\"utf-7\"\n", b"+AGEAYgBj-\n", b"\xff\xfe\x00\n", b"\r",
    b"=?utf-8?b?@@?=\n",
]), max_size=60))
def test_mime_shaped_noise_never_raises(pieces: list[bytes]) -> None:
    got = read_mail(HEAD + b"".join(pieces))
    assert isinstance(got, Mail | Rejected)


def test_an_rfc2231_charset_on_an_8bit_body_is_read() -> None:
    # the email library's get_payload() raises TypeError on this one (a tuple where a name is expected)
    raw = (HEAD + b"MIME-Version: 1.0\nContent-Type: text/plain; charset*=utf-8''utf-8\n"
           b"Content-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe\n")
    got = read_mail(raw)
    assert isinstance(got, Mail) and got.parts[0].charset == "utf-8" and got.parts[0].text == "Grüße\n"
