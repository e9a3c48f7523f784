"""Scanning one input on both paths: line by line, and in bulk (shape by shape, as big inputs are)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ScanConfig
from bot.models import ScanResult
from bot.scan import scan_paths, scanner

# (read once: a test may scan many files, and the monkeypatch holds until the test ends)
LINE_PATH = scanner.BULK_MIN_BYTES


def on_both_paths(log: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ScanResult, ScanResult]:
    """``log`` scanned by the line path, then by the bulk path (taken from 1,000 bytes on)."""
    out = []
    for bulk_from in (LINE_PATH, 1000):
        monkeypatch.setattr(scanner, "BULK_MIN_BYTES", bulk_from)
        out.append(scan_paths([log], ScanConfig(), allow_non_global=True))
    return out[0], out[1]
