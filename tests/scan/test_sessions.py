"""Session correlation: a program[pid] line without an address counts for its session's address."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ScanConfig
from bot.scan import scan_lines, scan_paths, scanner

SESSION_B = [
    "Jan 14 08:01:00 srv sshd[5002]: Connection from 198.51.100.211 port 50001 on 192.0.2.10 port 22",
    "Jan 14 08:01:01 srv sshd[5002]: Failed password for root from 198.51.100.211 port 50001 ssh2",
    "Jan 14 08:01:05 srv sshd[5002]: Disconnecting: Too many authentication failures [preauth]",
    "Jan 14 08:01:05 srv sshd-session[5002]: PAM service(sshd) ignoring max retries; 5 > 3",
]
SESSION_A = [
    "Jan 14 08:00:02 srv sshd[5001]: Invalid user test from 203.0.113.210 port 40001",
    "Jan 14 08:00:03 srv sshd[5001]: Failed password for invalid user test from 203.0.113.210 port 40001",
    "Jan 14 08:00:04 srv sshd[5001]: Failed password for invalid user test from 203.0.113.210 port 40001",
]
CFG = ScanConfig(allow_non_global=True)


def test_address_less_lines_of_a_session_count_for_its_address() -> None:
    result = scan_lines(SESSION_A + SESSION_B, CFG)
    by_ip = {c.ip: c for c in result.candidates}
    assert (by_ip["198.51.100.211"].count, by_ip["198.51.100.211"].source_count) == (4, 4)
    assert by_ip["198.51.100.211"].evidence.lines[2].endswith("Too many authentication failures [preauth]")
    assert result.attacker is not None and result.attacker.ip == "198.51.100.211"
    assert by_ip["203.0.113.210"].count == 3


def test_lines_of_another_pid_or_before_any_address_count_for_nobody() -> None:
    lines = ["Jan 14 08:00:00 srv sshd[5001]: error: kex_exchange_identification: Connection closed",
             *SESSION_A, "Jan 14 08:02:00 srv sshd[6000]: Disconnecting: Too many authentication failures"]
    result = scan_lines(lines, CFG)
    assert [(c.ip, c.count) for c in result.candidates] == [("203.0.113.210", 3)]


def test_a_pid_whose_lines_go_back_to_an_address_they_left_is_ambiguous() -> None:
    lines = ["Jan 14 08:00:00 srv dovecot[77]: auth: rhost=198.51.100.1 failed",
             "Jan 14 08:00:01 srv dovecot[77]: auth: rhost=198.51.100.2 failed",
             "Jan 14 08:00:02 srv dovecot[77]: auth: rhost=198.51.100.1 failed",
             "Jan 14 08:00:03 srv dovecot[77]: auth: too many failures"]
    counts = {c.ip: c.count for c in scan_lines(lines, CFG).candidates}
    assert counts == {"198.51.100.1": 2, "198.51.100.2": 1}


def test_a_pid_used_again_later_starts_a_new_session() -> None:
    lines = [*SESSION_A, "Jan 14 09:00:00 srv sshd[5001]: Failed password for root from 198.51.100.9 port 1",
             "Jan 14 09:00:01 srv sshd[5001]: Disconnecting: Too many authentication failures [preauth]"]
    counts = {c.ip: c.count for c in scan_lines(lines, CFG).candidates}
    assert counts == {"203.0.113.210": 3, "198.51.100.9": 2}


def test_big_files_correlate_sessions_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "auth.log"
    log.write_text("\n".join((SESSION_A + SESSION_B) * 20) + "\n")
    small = scan_paths([log], CFG)
    monkeypatch.setattr(scanner, "BULK_MIN_BYTES", 100)
    big = scan_paths([log], CFG)
    assert [(c.ip, c.count, c.source_count) for c in big.candidates] == \
        [(c.ip, c.count, c.source_count) for c in small.candidates]
    assert big.candidates[0].ip == "198.51.100.211" and big.candidates[0].count == 80
    # and the excerpt holds the session's address-less lines there too
    assert [c.evidence for c in big.candidates] == [c.evidence for c in small.candidates]
    assert big.candidates[0].evidence.lines[2].endswith("Too many authentication failures [preauth]")


def test_last_seen_is_a_sessions_last_line_on_both_paths(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the session ends five minutes after its last line that writes the address, past the excerpt
    lines = [f"Mar  3 10:00:0{i} h sshd[12]: Failed password for root from 198.51.100.7 port 22 ssh2"
             for i in range(1, 6)]
    lines.append("Mar  3 10:05:00 h sshd[12]: Disconnecting: Too many authentication failures [preauth]")
    log = tmp_path / "auth.log"
    log.write_text("\n".join(lines) + "\n")
    cfg = ScanConfig(allow_non_global=True, excerpt_lines=2)
    small = scan_paths([log], cfg)
    monkeypatch.setattr(scanner, "BULK_MIN_BYTES", 100)
    big = scan_paths([log], cfg)
    assert [c.evidence for c in big.candidates] == [c.evidence for c in small.candidates]
    last = big.candidates[0].evidence.last_seen
    assert last is not None and last.strftime("%H:%M:%S") == "10:05:00"
