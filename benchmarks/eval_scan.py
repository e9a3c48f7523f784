"""Run the scanner on every case of an evaluation cases file and print predictions (JSON lines).

    python benchmarks/eval_scan.py CASES.jsonl > PREDICTIONS.jsonl
    python3 /work/shared/eval/score.py --cases CASES.jsonl --pred PREDICTIONS.jsonl

Each case is {"id", "source", "text" | "path", ...}; a ``path`` is relative to the cases file. The
input fed to the scanner is the one score.py's case_text() builds (fail2ban '#' comment lines, which
hold the answers, are dropped). The scan runs with no own networks and with non-global addresses
ranked like global ones, as the evaluation asks. Output: {"id": ..., "ips": [best, next, ...]}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import ScanConfig  # noqa: E402
from bot.errors import InputError  # noqa: E402
from bot.scan import scan_lines  # noqa: E402


def case_text(case: dict[str, object], base: Path) -> str:
    if "text" in case:
        return str(case["text"]) + "\n"
    text = (base / str(case["path"])).read_text(encoding="utf-8", errors="replace")
    if case.get("source") == "fail2ban":
        text = "\n".join(line for line in text.split("\n") if not line.startswith("#"))
    return text


def predict(text: str, cfg: ScanConfig) -> list[str]:
    try:
        result = scan_lines(text.splitlines(), cfg, allow_non_global=True, keep_received=True)
    except InputError:
        return []
    return [c.ip for c in result.candidates]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: eval_scan.py CASES.jsonl > PREDICTIONS.jsonl\n")
        return 2
    cases_path = Path(argv[1])
    base = cases_path.resolve().parent
    cfg = ScanConfig(own_networks=(), own_hostnames=(), allow_non_global=True)
    out = sys.stdout
    with open(cases_path, encoding="utf-8") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            case = json.loads(raw)
            try:
                text = case_text(case, base)
            except OSError as exc:      # one unreadable case must not lose the predictions of the rest
                sys.stderr.write(f"eval_scan: {case['id']}: cannot read {case.get('path')}: "
                                 f"{exc.strerror or exc}\n")
                text = ""
            out.write(json.dumps({"id": case["id"], "ips": predict(text, cfg)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
