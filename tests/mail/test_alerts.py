"""The log text of alert mails: bodies, forwards, quotes, attachments; never the intake mail's headers."""

from __future__ import annotations

import gzip
import io
import tracemalloc
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.mail.alerts import AlertText, log_text
from bot.mail.reading import MB, Mail, read_mail

DATA = Path(__file__).resolve().parent.parent / "data" / "mail"


def text_of(name: str) -> AlertText:
    got = read_mail((DATA / name).read_bytes())
    assert isinstance(got, Mail), f"{name}: {got}"
    return log_text(got)


# (sample, a log line that must be taken, text that must not be: header or forwarded pseudo-header)
CASES = [
    ("alert-logcheck.eml", "Failed password for root from 203.0.113.45 port 51040 ssh2", "198.51.100.2])"),
    ("alert-fail2ban.eml", "Failed password for invalid user test from 192.0.2.77 port 40188", "127.0.0.1"),
    ("alert-ossec.eml", "Failed password for invalid user pi from 203.0.113.88 port 33380", "198.51.100.9"),
    ("alert-wazuh.eml", '"GET /.env HTTP/1.1" 404', "wazuh@siem"),
    ("alert-cron.eml", "DROP IN=eth0 SRC=203.0.113.150", "X-Cron-Env"),
    ("alert-suricata-summary.eml", "{TCP} 192.0.2.201:40001 -> 198.51.100.40:1433", "Message-ID"),
    ("alert-snort-attachment-only.eml", "01/05-02:11:09.442100 192.0.2.180:41234 -> 198.51.100.50:22",
     "snort@"),
    ("alert-suricata-gz-attachment.eml", "{TCP} 203.0.113.201:52311 -> 198.51.100.41:22", "PNG"),
    ("forward-gmail-inline.eml", "Invalid user admin from 203.0.113.45 port 51022", "192.0.2.41"),
    ("forward-outlook-html.eml", "Jan  5 11:14:41 web3 sshd[8812]: Failed password for root from 192.0.2.77",
     "198.51.100.250"),
    ("forward-outlook-plain.eml", "Src IP: 203.0.113.88", "198.51.100.60"),
    ("forward-thunderbird-attached.eml", "DROP IN=eth0 SRC=203.0.113.150", "192.0.2.99"),
    ("forward-apple-inline.eml", '198.51.100.200 - - [05/Jan/2026:12:30:39 +0100] "GET /.env', "wazuh@siem"),
    ("forward-quoted-reply.eml", "Invalid user ubnt from 198.51.100.222 port 55100", "192.0.2.250"),
]


@pytest.mark.parametrize(("name", "wanted", "unwanted"), CASES, ids=[c[0] for c in CASES])
def test_log_lines_are_taken_and_headers_are_not(name: str, wanted: str, unwanted: str) -> None:
    got = text_of(name)
    assert wanted in got.text.split("\n") or any(line.startswith(wanted) or wanted in line
                                                 for line in got.text.split("\n"))
    assert unwanted not in got.text
    assert "Received:" not in got.text and not got.cut
    assert got.taken and all(t.part and t.what for t in got.taken)


def test_forwarded_pseudo_headers_are_dropped() -> None:
    for name in ("forward-gmail-inline.eml", "forward-outlook-plain.eml", "forward-apple-inline.eml",
                 "forward-outlook-html.eml"):
        lines = text_of(name).text.split("\n")
        assert not [ln for ln in lines if ln.startswith(("From:", "Sent:", "Date:", "To:", "Subject:"))], name


def test_quoted_lines_are_unquoted_and_the_signature_dropped() -> None:
    got = text_of("forward-quoted-reply.eml")
    assert "Jan  5 16:30:12 web5 sshd[4411]: Failed password for root from 198.51.100.222 port 55012 ssh2" \
        in got.text.split("\n")
    assert ">" not in got.text and "office" not in got.text
    assert "3 quoted lines unquoted" in got.taken[0].what


def test_each_part_is_listed_with_what_was_taken() -> None:
    got = text_of("alert-suricata-gz-attachment.eml")
    assert [(t.part, t.what.split(",")[0]) for t in got.taken] == [
        ("1 text/plain", "body"), ("2 application/gzip fast.log.gz", "gunzipped 370 bytes"),
        ("3 image/png graph.png", "skipped: image/png")]
    gmail = text_of("forward-gmail-inline.eml")
    assert gmail.taken[1].what == "skipped: HTML alternative of a plain-text part"
    attached = text_of("forward-thunderbird-attached.eml")
    assert attached.taken[1].part == "2.1 text/plain"
    assert attached.taken[1].what.startswith("forwarded message body")


def _with_attachment(data: bytes, filename: str, maintype: str = "application",
                     subtype: str = "gzip") -> Mail:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "ids@sensor.mydomain.example"
    msg["Subject"] = "logs"
    msg.set_content("attached\n")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    got = read_mail(msg.as_bytes())
    assert isinstance(got, Mail)
    return got


def test_a_gzip_bomb_stops_at_the_cap_in_bounded_memory() -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=1) as gz:
        line = b"Jan  5 10:00:00 host sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2\n"
        block = line * 12_000
        for _ in range(1024 * MB // len(block)):  # 1 GB once inflated
            gz.write(block)
    bomb = buf.getvalue()
    assert len(bomb) < 10 * MB
    mail = _with_attachment(bomb, "auth.log.gz")
    tracemalloc.start()
    try:
        got = log_text(mail, max_gunzip=4 * MB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 3 * MB < got.taken[1].chars <= 4 * MB and got.cut
    assert "stopped at 4194304" in got.taken[1].what
    assert peak < 60 * MB, f"peak {peak / MB:.0f} MB"


def test_multi_member_gzip_and_plain_log_attachments() -> None:
    two = gzip.compress(b"first 192.0.2.1\n") + gzip.compress(b"second 192.0.2.2\n")
    got = log_text(_with_attachment(two, "rotated.log.gz"))
    assert "first 192.0.2.1\nsecond 192.0.2.2" in got.text
    plain = log_text(_with_attachment(b"auth line 192.0.2.3\n", "auth.log", "application", "octet-stream"))
    assert "auth line 192.0.2.3" in plain.text
    binary = log_text(_with_attachment(bytes(range(256)) * 10, "blob.log", "application", "octet-stream"))
    assert binary.taken[1].what == "skipped: binary" and "blob" not in binary.text


def test_the_total_is_capped() -> None:
    mail = _with_attachment(b"line from 192.0.2.1\n" * 100_000, "big.log", "text", "plain")
    got = log_text(mail, max_chars=10_000)
    assert got.cut and len(got.text) <= 10_000 and got.text.endswith("line from 192.0.2.1")
