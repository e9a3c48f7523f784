"""Counting in bounded memory: exact for the busiest addresses, a sketch for the rest, and said so."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bot.config import ScanConfig
from bot.scan import addresses, scan_lines, scan_paths, scanner, tally
from bot.scan.tally import Counts

HEAVY = {"211.191.28.13": 300, "166.188.17.76": 200, "2a0e:97c0:3e3:1d1::5": 100}


def rotating(n: int, start: int = 0) -> list[str]:
    """``n`` lines, each from another address of one IPv6 /64 (or an IPv4 scanner), and the heavy
    hitters spread among them."""
    out = []
    heavy = [ip for ip, k in HEAVY.items() for _ in range(k)]
    every = max(1, n // len(heavy))
    for i in range(start, start + n):
        src = f"2a0e:97c0:1:2::{i:x}" if i % 2 else f"45.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        out.append(f"Mar  1 04:00:{i % 60:02d} h sshd[{i % 500}]: Failed password for root from {src} "
                   "port 4000 ssh2")
        if (i - start) % every == 0 and (i - start) // every < len(heavy):
            ip = heavy[(i - start) // every]
            out.append(f"Mar  1 04:00:{i % 60:02d} h sshd[1]: Failed password for root from {ip} "
                       "port 22 ssh2")
    return out


def test_the_busiest_stay_exact_when_addresses_outnumber_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tally, "DEFAULT_CAPACITY", 500)
    result = scan_lines(rotating(20_000), ScanConfig())
    assert result.approximate and result.summarised > 0
    assert len(result.candidates) <= 500
    top = [(c.ip, c.count, c.approximate) for c in result.candidates[:3]]
    assert top == [(ip, n, False) for ip, n in HEAVY.items()]


def test_an_address_folded_away_is_never_under_counted() -> None:
    counts = Counts(16)
    counts.get("203.0.113.9", 0).count = 3
    for i in range(200):                    # pushes 203.0.113.9 out of the exact table
        t = counts.get(f"45.0.{i >> 8}.{i & 255}", i + 1)
        t.count = 5
    assert "203.0.113.9" not in counts.tallies and counts.approximate
    back = counts.get("203.0.113.9", 500)
    assert back.approx and back.count >= 3


def test_merged_parts_keep_their_sketches(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = Counts(16), Counts(16)
    for part, base in ((a, 0), (b, 1000)):
        for i in range(100):
            part.get(f"45.1.{(base + i) >> 8}.{(base + i) & 255}", i).count = 1
    a.get("211.191.28.13", 0).count = 50
    b.get("211.191.28.13", 0).count = 70
    a.merge(b, 0)
    assert a.tallies["211.191.28.13"].count == 120 and a.approximate
    assert a.folded == a.folded and len(a.tallies) <= 16


def test_memory_does_not_grow_with_distinct_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the bound every address kept ~1 KB (counters and its evidence line): 20,000 more
    # addresses would add ~20 MB. With it (and the parsing caches full) they cost next to nothing.
    monkeypatch.setattr(tally, "DEFAULT_CAPACITY", 1000)
    peaks = []
    for n in (20_000, 40_000):
        for cached in (addresses.normalise, addresses.parse_token, addresses._v4, addresses._v6):
            cached.cache_clear()        # both runs fill the (bounded) parsing caches alike
        tracemalloc.start()
        lines = rotating(n)
        base = tracemalloc.get_traced_memory()[0]
        scan_lines(iter(lines), ScanConfig())
        peaks.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()
        del lines
    assert peaks[1] - peaks[0] < 6_000_000, peaks


def test_big_files_say_when_counts_are_approximate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tally, "DEFAULT_CAPACITY", 300)
    monkeypatch.setattr(scanner, "BULK_MIN_BYTES", 1000)
    log = tmp_path / "rotating.log"
    log.write_text("\n".join(rotating(6000)) + "\n")
    result = scan_paths([log], ScanConfig())
    assert result.approximate
    assert [(c.ip, c.count) for c in result.candidates[:3]] == list(HEAVY.items())
