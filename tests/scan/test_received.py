"""-r: the Received chain of a mail is read as a chain; lines the sender's side wrote count for nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import ScanConfig
from bot.scan import scan_lines
from bot.scan.received import handing_address

OURS = ScanConfig(own_hostnames=("mx.ours.example",), own_networks=("192.0.2.0/24",))
FORGED = ("Received: from x (unknown [203.0.113.66]) by relay.example.net with SMTP; "
          "Mon, 2 Mar 2026 09:00:00 +0000")


def message(*received: str, body: str = "Buy now") -> list[str]:
    return [*received, "From: <a@example.org>", "Subject: offer", "", body]


def test_the_hop_that_handed_the_mail_to_us_is_the_source_and_forged_lines_count_for_nothing() -> None:
    mail = message(
        "Received: from mailstore.ours.example (localhost [127.0.0.1]) by mx.ours.example with LMTP;"
        " Tue, 3 Mar 2026 10:11:13 +0100",
        "Received: from sender.example.com (sender.example.com [198.51.100.7])",
        "\tby mx.ours.example (Postfix) with ESMTPS id 4F2A1; Tue, 3 Mar 2026 10:11:12 +0100",
        FORGED, FORGED, FORGED)
    result = scan_lines(mail, OURS, keep_received=True)
    assert [(c.ip, c.count, c.source_count) for c in result.candidates] == [("198.51.100.7", 1, 1)]
    top = result.attacker
    assert top is not None
    assert top.evidence.first_seen == datetime(2026, 3, 3, 9, 11, 12, tzinfo=UTC)    # its RFC 5322 date
    assert "sender.example.com [198.51.100.7]" in top.evidence.lines[0]           # the folded header, whole


def test_without_own_names_the_topmost_line_is_ours_and_internal_relays_are_walked_through() -> None:
    mail = message(
        "Received: from filter.internal (filter.internal [10.0.0.5]) by mx2; Tue, 3 Mar 2026 10:11:14 +0000",
        "Received: from sender.example.com ([198.51.100.7]:4321 helo=x) by filter.internal; Tue, 3 Mar 2026"
        " 10:11:13 +0000",
        FORGED)
    assert [c.ip for c in scan_lines(mail, ScanConfig(), keep_received=True).candidates] == ["198.51.100.7"]


def test_each_message_of_a_mailbox_is_its_own_chain() -> None:
    box = message("Received: from a (a [198.51.100.7]) by mx.ours.example; Tue, 3 Mar 2026 10:00:00 +0000") \
        + message("Received: from b (b [198.51.100.8]) by mx.ours.example; Tue, 3 Mar 2026 11:00:00 +0000") \
        + message("Received: from a (a [198.51.100.7]) by mx.ours.example; Tue, 3 Mar 2026 12:00:00 +0000")
    result = scan_lines(box, OURS, keep_received=True)
    assert [(c.ip, c.count) for c in result.candidates] == [("198.51.100.7", 2), ("198.51.100.8", 1)]
    assert result.attacker is not None and result.attacker.evidence.last_seen == \
        datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def test_a_line_not_written_by_our_servers_below_ours_ends_the_trust() -> None:
    mail = message("Received: from relay.ours.example (relay.ours.example [192.0.2.10]) by mx.ours.example;"
                   " Tue, 3 Mar 2026 10:00:00 +0000", FORGED)
    # the hop below ours was written by relay.example.net, not by one of our servers
    assert scan_lines(mail, OURS, keep_received=True).candidates == ()


def test_received_lines_are_ignored_without_r() -> None:
    mail = message("Received: from a (a [198.51.100.7]) by mx.ours.example; Tue, 3 Mar 2026 10:00:00 +0000")
    result = scan_lines(mail, OURS)
    assert result.candidates == () and result.lines_skipped_received == 1


@pytest.mark.parametrize(("header", "ip"), [
    ("Received: from mail.example.com (mail.example.com [198.51.100.7]) by mx.ours.example", "198.51.100.7"),
    ("Received: from unknown (HELO 192.0.2.1) (198.51.100.7) by mx.ours.example with SMTP", "198.51.100.7"),
    ("Received: from [198.51.100.7] (port=4321 helo=192.0.2.1) by mx.ours.example with esmtp",
     "198.51.100.7"),
    ("Received: from 192.0.2.1 (x.example [198.51.100.7]) by mx.ours.example", "198.51.100.7"),
    ("Received: from x (EHLO 192.0.2.1) (198.51.100.7) by mta.example with SMTP", "198.51.100.7"),
    ("Received: from x.example ([IPv6:2001:db8::7]) by mx.ours.example (Postfix)", "2001:db8::7"),
    ("Received: from x.example (x.example. [198.51.100.7]) by mx.google.com with ESMTPS id a1",
     "198.51.100.7"),
])
def test_received_shapes_name_the_handing_host_not_its_helo(header: str, ip: str) -> None:
    assert handing_address(header)[0] == ip
