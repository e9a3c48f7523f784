"""benchmarks/eval_scan.py: the evaluation interface, run on a cases file of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_case_gets_a_prediction_even_an_unreadable_one(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.log").write_text("sshd[1]: Failed password for root from 203.0.113.9 port 2\n")
    cases = [{"id": "t", "source": "x", "granularity": "line", "text": "from 198.51.100.4 port 22"},
             {"id": "p", "source": "x", "granularity": "file", "path": "data/a.log"},
             {"id": "gone", "source": "x", "granularity": "file", "path": "data/missing.log"}]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "eval_scan.py"),
                           str(tmp_path / "cases.jsonl")], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    preds = [json.loads(line) for line in proc.stdout.splitlines()]
    assert preds == [{"id": "t", "ips": ["198.51.100.4"]}, {"id": "p", "ips": ["203.0.113.9"]},
                     {"id": "gone", "ips": []}]
    assert "data/missing.log" in proc.stderr
