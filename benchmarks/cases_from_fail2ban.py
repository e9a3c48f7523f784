"""Cases for eval_scan.py from fail2ban's own test logs: an independent check on formats we never saw.

    git clone https://github.com/fail2ban/fail2ban /tmp/fail2ban
    python benchmarks/cases_from_fail2ban.py /tmp/fail2ban /tmp/f2b
    python benchmarks/eval_scan.py /tmp/f2b/lines.jsonl > /tmp/f2b/lines.pred
    python ../shared/eval/score.py --cases /tmp/f2b/lines.jsonl --pred /tmp/f2b/lines.pred

fail2ban's filter tests (``fail2ban/tests/files/logs/<filter>``) write, before a log line, the host
its filter must find in it: ``# failJSON: { "time": ..., "match": true , "host": "192.0.2.1" }``.
Each such line with an address for a host becomes a line case; each test log becomes a file case
whose expected top is the host its lines name most (the data stays where it is: fail2ban's licence is
not ours, and this is evaluation data, not the product's).

Writes ``lines.jsonl`` and ``files.jsonl`` (with the file inputs beside them) in the eval set's
format. Lines that hold no address at all (a session's later lines, which fail2ban ties to their
address by its own multi-line rules) are kept: as line cases they cannot be answered, and the
scorer's ``P`` column shows how the answerable ones fare.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections import Counter
from pathlib import Path

_FAIL_JSON = re.compile(r"#\s*failJSON:\s*(\{.*\})\s*$")


def _address(host: object) -> str | None:
    """The normalised address of a failJSON host, or None for a name (or nothing)."""
    if not isinstance(host, str):
        return None
    parts = host.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        host = ".".join(str(int(p)) for p in parts)      # "192.030.0.6" is written with a leading 0
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def read_log(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The log lines of a test file (comments dropped) and (line, host) for each failJSON match."""
    body: list[str] = []
    cases: list[tuple[str, str]] = []
    pending: dict[str, object] | None = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _FAIL_JSON.match(line)
        if m:
            try:
                pending = json.loads(m.group(1))
            except json.JSONDecodeError:
                pending = None
            continue
        if line.startswith("#") or not line.strip():
            continue
        body.append(line)
        if pending is not None:
            ip = _address(pending.get("host")) if pending.get("match") else None
            if ip is not None:
                cases.append((line, ip))
            pending = None
    return body, cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fail2ban", type=Path, help="a checkout of github.com/fail2ban/fail2ban")
    ap.add_argument("out", type=Path, help="folder to write lines.jsonl, files.jsonl and the file inputs")
    args = ap.parse_args()
    logs = args.fail2ban / "fail2ban" / "tests" / "files" / "logs"
    if not logs.is_dir():
        print(f"no {logs}: give the root of a fail2ban checkout", file=sys.stderr)
        return 2
    inputs = args.out / "files"
    inputs.mkdir(parents=True, exist_ok=True)
    n_lines = n_files = 0
    with open(args.out / "lines.jsonl", "w") as lines_out, open(args.out / "files.jsonl", "w") as files_out:
        for path in sorted(p for p in logs.iterdir() if p.is_file()):
            body, cases = read_log(path)
            for k, (line, ip) in enumerate(cases, 1):
                lines_out.write(json.dumps({
                    "id": f"fail2ban:{path.name}:{k}", "source": "fail2ban", "granularity": "line",
                    "format": path.name, "text": line, "expected": [ip], "expected_top": [ip],
                    "negative": False, "notes": f"fail2ban/tests/files/logs/{path.name}"}) + "\n")
                n_lines += 1
            if not cases:
                continue
            hosts = Counter(ip for _, ip in cases)
            most = max(hosts.values())
            (inputs / f"{path.name}.log").write_text("\n".join(body) + "\n")
            files_out.write(json.dumps({
                "id": f"fail2ban-file:{path.name}", "source": "fail2ban", "granularity": "file",
                "format": path.name, "path": f"files/{path.name}.log", "expected": list(hosts),
                "expected_top": [ip for ip, n in hosts.items() if n == most], "negative": False,
                "notes": f"fail2ban/tests/files/logs/{path.name}"}) + "\n")
            n_files += 1
    print(f"{n_lines} line cases, {n_files} file cases in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
