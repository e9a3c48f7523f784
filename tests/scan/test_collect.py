"""collect_evidence: the lines, counts and first/last seen of named addresses, in one read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import ScanConfig
from bot.errors import InputError
from bot.scan import collect_evidence, scan_lines

NOW = datetime(2026, 6, 1, tzinfo=UTC)

LOG = [
    "Mar  1 04:00:01 gw kernel: [UFW BLOCK] IN=eth0 SRC=45.33.32.156 DST=198.51.100.8 PROTO=TCP",
    "Mar  1 04:00:02 www sshd[7]: Failed password for root from 2a01:4f8:1c17::5 port 4711 ssh2",
    "Received: from mx.example.org (mx.example.org [45.33.32.156]) by mail.mydomain.com",
    "Mar  1 04:00:03 fw snort[1]: SCAN 45.33.32.15:1024 -> 198.51.100.7:22",
    "Mar  1 04:00:04 fw snort[1]: SCAN [2a01:04f8:1c17:0000:0000:0000:0000:0005]:1025 -> 198.51.100.7:22",
    "Mar  1 04:00:05 mail postfix/smtpd[3]: connect from unknown[::ffff:45.33.32.156]",
    "Mar  1 04:00:06 www sshd[8]: Failed password for root from 45.33.32.156 port 4712 ssh2 (45.33.32.156)",
    "Mar  1 04:00:07 fw snort[1]: SCAN 45.33.32.15:1026 -> 198.51.100.7:22",
    "Mar  2 05:10:00 www sshd[9]: Failed password for admin from 2a01:4f8:1c17::5 port 4713 ssh2",
    "Mar  2 05:11:00 gw kernel: [UFW BLOCK] IN=eth0 SRC=45.33.32.156 DST=198.51.100.8 PROTO=UDP",
]
WANTED = ("45.33.32.156", "2a01:4f8:1c17::5", "45.33.32.15", "203.0.113.99")


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "case.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def _at(day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize("chunk_size", [1 << 23, 64])   # one chunk, and lines spread over many
def test_lines_counts_and_first_last_seen(tmp_path: Path, chunk_size: int) -> None:
    path = _write(tmp_path, LOG)
    cfg = ScanConfig(excerpt_lines=3)
    ev = collect_evidence([path], cfg, WANTED, now=NOW, chunk_size=chunk_size)

    assert set(ev) == {"45.33.32.156", "2a01:4f8:1c17::5", "45.33.32.15"}   # 203.0.113.99 is absent
    v4 = ev["45.33.32.156"]
    # the Received: line is skipped; ::ffff: is the same address; a line naming it twice counts once
    assert v4.lines == (LOG[0], LOG[5], LOG[6])
    assert v4.total_lines == 4
    assert (v4.first_seen, v4.last_seen) == (_at(1, 4, 0, 1), _at(2, 5, 11, 0))
    v6 = ev["2a01:4f8:1c17::5"]     # compressed and fully expanded spellings
    assert v6.lines == (LOG[1], LOG[4], LOG[8]) and v6.total_lines == 3
    assert (v6.first_seen, v6.last_seen) == (_at(1, 4, 0, 2), _at(2, 5, 10, 0))
    short = ev["45.33.32.15"]        # not confused with 45.33.32.156
    assert short.lines == (LOG[3], LOG[7]) and short.total_lines == 2
    assert (short.first_seen, short.last_seen) == (_at(1, 4, 0, 3), _at(1, 4, 0, 7))


def test_agrees_with_the_line_path(tmp_path: Path) -> None:
    path = _write(tmp_path, LOG)
    cfg = ScanConfig(excerpt_lines=2)
    exact = {c.ip: c.evidence for c in scan_lines(LOG, cfg, now=NOW, allow_non_global=True).candidates}
    ev = collect_evidence([path], cfg, WANTED, now=NOW)
    for ip, got in ev.items():
        assert got == exact[ip], ip


def test_mail_headers_are_counted_when_asked_but_never_shown_read_alone(tmp_path: Path) -> None:
    # With -r only the source hop of a Received chain counts, and a line read alone cannot tell it
    # from the forged hops below it: such lines are left to the scan, which reads the chain
    path = _write(tmp_path, LOG)
    ev = collect_evidence([path], ScanConfig(excerpt_lines=2), ["45.33.32.156"], keep_received=True, now=NOW)
    assert ev["45.33.32.156"].lines == (LOG[0], LOG[5]) and ev["45.33.32.156"].total_lines == 5
    # the config's keep_received is the default
    ev = collect_evidence([path], ScanConfig(excerpt_lines=2, keep_received=True), ["45.33.32.156"], now=NOW)
    assert ev["45.33.32.156"].total_lines == 5
    ev = collect_evidence([path], ScanConfig(excerpt_lines=2), ["45.33.32.156"], now=NOW)
    assert ev["45.33.32.156"].total_lines == 4


def test_a_mail_header_first_in_a_chunk_breaks_nothing(tmp_path: Path) -> None:
    # (the header line is passed over; the address's next line is still found)
    path = _write(tmp_path, [LOG[2], LOG[0], LOG[6]])
    ev = collect_evidence([path], ScanConfig(excerpt_lines=5), ["45.33.32.156"], now=NOW)
    assert ev["45.33.32.156"].lines == (LOG[0], LOG[6]) and ev["45.33.32.156"].total_lines == 2


def test_ipv6_in_any_spelling_is_found(tmp_path: Path) -> None:
    lines = ["Mar  1 04:00:01 fw kernel: SRC=2001:0db8::1 DST=192.0.2.1",
             "Mar  1 04:00:02 fw kernel: SRC=2001:DB8:0:0::1 DST=192.0.2.1",
             "Mar  1 04:00:03 gw nat64: from 64:ff9b::198.51.100.7 to 192.0.2.1"]
    ev = collect_evidence([_write(tmp_path, lines)], ScanConfig(), ["2001:db8::1", "64:ff9b::c633:6407"],
                          now=NOW)
    assert ev["2001:db8::1"].lines == tuple(lines[:2]) and ev["64:ff9b::c633:6407"].lines == (lines[2],)


def test_several_files_are_one_input(tmp_path: Path) -> None:
    first = tmp_path / "a.log"
    first.write_text("\n".join(LOG[:5]) + "\n")
    second = tmp_path / "b.log"
    second.write_text("\n".join(LOG[5:]))    # no final newline
    ev = collect_evidence([first, second], ScanConfig(excerpt_lines=1), ["45.33.32.156"], now=NOW)
    got = ev["45.33.32.156"]
    assert got.lines == (LOG[0],) and got.total_lines == 4 and got.last_seen == _at(2, 5, 11, 0)


def test_unreadable_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        collect_evidence([tmp_path / "gone.log"], ScanConfig(), ["45.33.32.156"])
