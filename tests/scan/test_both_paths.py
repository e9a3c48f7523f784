"""The line path and the bulk path (a big file, read shape by shape and then searched for evidence)
give the same result for any input: the same candidates, counts, sides, evidence lines and
first/last seen, and the same lines set aside. The inputs are made at random, seeded (the same ones
every run), of pieces of the formats the rules know in any order, so that lines cross every rule at
once; the review that found the differences fixed here made its inputs the same way."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.config import ScanConfig
from bot.models import ScanResult
from bot.scan import scan_paths, scanner

PIECES = [
    "{", "}", "[", "]", '"ip":', '"host":', '"client":{"host":', '"destination":{"ip":', "CEF:0|a|b|c|d|e|f|",
    " msg=", " cs1=", " cs1Label=", "source_address", " c6a2=", " c6a2Label=", " dvc=", " src=", " dst=",
    "198.51.100.7", "203.0.113.9", "0.0.0.0", "255.255.255.255", "2001:db8::1", "10.0.0.1:4444", "::",
    " rhost=", " client: ", ", ", " ", "\t", "\\t", '"', "'", "Mar  3 10:00:00 ", "2025-03-03T10:00:01Z ",
    "sshd[12]: ", "sshd[13]: ", "Disconnecting: Too many authentication failures [preauth]",
    ' - - [03/Mar/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 1', " from ", " to ", " port 22", " was sent ",
    "Built outbound ", ",Outbound,", "Local Host IP: ", "ATD IP: ", "device ", "Calling-Station-Id=",
    "unbound[1]: [1:0] query: ", "martian source 1.2.3.4 from ", "Received: ", "user=", "(", ")",
]


def _summary(result: ScanResult) -> tuple[object, ...]:
    return (result.lines_read, result.lines_used, result.lines_ambiguous, result.lines_crowded,
            [(c.ip, c.count, c.source_count, c.destination_count, c.role, c.evidence)
             for c in result.candidates[:10]])


def _log(rng: random.Random) -> str:
    """Up to 12 lines of up to 14 pieces each, written once or twelve times over."""
    lines = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 14)))
             for _ in range(rng.randint(1, 12))]
    return "\n".join(lines * rng.choice([1, 12])) + rng.choice(["", "\n"])


@pytest.mark.parametrize("seed", range(4))
def test_both_paths_give_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    line_path = scanner.BULK_MIN_BYTES
    for n in range(100):
        text = _log(rng)
        if not text.strip():
            continue        # (an empty input is an error on both paths)
        log = tmp_path / f"{n}.log"
        log.write_text(text)
        results = []
        for bulk_from in (line_path, 1):       # line by line, then the bulk path
            monkeypatch.setattr(scanner, "BULK_MIN_BYTES", bulk_from)
            results.append(scan_paths([log], ScanConfig(excerpt_lines=3), allow_non_global=True))
        assert _summary(results[1]) == _summary(results[0]), text
