"""The `incident` entry point itself: help, version, and how errors reach a person."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _incident(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "handlers.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


def test_help_lists_every_command() -> None:
    proc = _incident("--help")
    assert proc.returncode == 0
    for name in ("scan", "lookup", "report", "followup"):
        assert f"    {name} " in proc.stdout


def test_an_error_naming_a_hostile_file_is_one_printable_line(tmp_path: Path) -> None:
    name = str(tmp_path / "evil\x1b[2J\nincident: sent to everyone")
    proc = _incident("scan", name)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "\x1b" not in proc.stderr
    assert proc.stderr.startswith("incident: error: ") and "\\x1b[2J\\n" in proc.stderr


def test_a_bad_config_is_a_one_line_error(tmp_path: Path) -> None:
    cfg = tmp_path / "incident.toml"
    cfg.write_text("[report]\nsuppress_by = 'moon'\n")
    proc = _incident("--config", str(cfg), "scan", str(ROOT / "examples" / "wingate.log"))
    assert proc.returncode == 2
    expected = f'incident: error: {cfg}: report.suppress_by: expected "ip" or "contact"'
    assert proc.stderr.strip().splitlines() == [expected]
