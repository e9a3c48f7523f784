"""A JSON document printed over several lines (an EDR or SIEM alert pasted as it was shown) is read
as one record: its keys are weighed against each other, not line by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import ScanConfig
from bot.scan import engine, scan_lines, scan_paths, scanner

CFG = ScanConfig()

# Our own endpoint is written first; the address that attacked it comes later, on its own line.
ALERT = json.dumps({
    "method": "addEvents",
    "params": {"events": [{
        "computer_name": "DC-1", "computer_ip": "192.0.2.10", "module": "ransomware-mitigation",
        "attack_type": "remote", "attack_source": "45.1.2.3", "user": {"name": "u", "sid": "S-1-5"},
    }]},
}, indent=2).splitlines()


def test_a_pretty_printed_alert_names_its_attack_source() -> None:
    result = scan_lines(ALERT, CFG, allow_non_global=True)
    assert result.attacker is not None and result.attacker.ip == "45.1.2.3"
    assert result.lines_read == result.lines_used == len(ALERT)
    # the excerpt is the record, on one line
    assert result.attacker.evidence.lines[0].startswith('{ "method": "addEvents",')


def test_read_line_by_line_the_first_written_would_win() -> None:
    # (what the record reading changes: without it, each line is an event of its own)
    indented = ["  " + line for line in ALERT]
    result = scan_lines(indented, CFG, allow_non_global=True)
    assert result.attacker is not None and result.attacker.ip == "192.0.2.10"


def test_records_among_log_lines_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = []
    for i in range(40):
        lines.append(f"Mar 10 10:00:{i:02d} srv sshd[{i}]: Invalid user a from 203.0.113.{i % 3 + 1} port 2")
        if i % 4 == 0:
            lines += ALERT
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(lines) + "\n")
    results = []
    for bulk_from in (scanner.BULK_MIN_BYTES, 1000):       # line by line, then the bulk path
        monkeypatch.setattr(scanner, "BULK_MIN_BYTES", bulk_from)
        results.append(scan_paths([log], CFG, allow_non_global=True))
    for result in results:
        by_ip = {c.ip: (c.count, c.source_count) for c in result.candidates}
        assert by_ip["45.1.2.3"] == (10, 10) and by_ip["192.0.2.10"] == (10, 0)
        assert result.lines_used == len(lines)
    assert [c.ip for c in results[0].candidates] == [c.ip for c in results[1].candidates]


@pytest.mark.parametrize(("limit", "value"), [("RECORD_LINES", 5), ("RECORD_CHARS", 60)])
def test_a_record_that_does_not_close_is_read_line_by_line(monkeypatch: pytest.MonkeyPatch, limit: str,
                                                           value: int) -> None:
    monkeypatch.setattr(engine, limit, value)
    too_long = ["{", '  "computer_ip": "192.0.2.10",', '  "a": 1,', '  "b": 2,', '  "c": 3,',
                '  "attack_source": "45.1.2.3",',
                "Mar 10 10:00:01 srv sshd[1]: Invalid user a from 198.51.100.7 port 2", "}"]
    for lines in (too_long, too_long[:3]):      # past the limit; cut short by the end of the input
        result = scan_lines(lines, CFG, allow_non_global=True)
        assert result.lines_used == len(lines)
        assert result.attacker is not None and result.attacker.ip == "192.0.2.10"
