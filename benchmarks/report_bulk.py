"""`incident report -A -b` over 1,000 attacker addresses in 100 networks, end to end.

Starts the local sandbox (synthetic RDAP networks, DNS, whois on 127.0.0.1, --latency seconds added to
every HTTP answer) and a local SMTP server (STARTTLS + AUTH, throwaway certificate), writes a firewall
log with 1,000 attacker addresses (10 in each of 100 synthetic networks, a few lines each, plus our own
traffic), runs the real `incident` command once, and prints the time spent in each step as the
command reports it (--timings), the number of mails received and, as the last line, ``seconds=<total>``
(wall time of the whole command, start-up included).

Note: the default per-registry rate limits (LACNIC 10 requests a minute) would make any 1,000-address
run take minutes against the real registries; this benchmark raises them in its own configuration
(printed below) because the sandbox is local. The target is under a minute.

    python benchmarks/report_bulk.py [--latency 0.05] [--networks 100] [--per-network 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sandbox import Sandbox  # noqa: E402
from tests.sandbox.core import to_toml  # noqa: E402
from tests.support.smtp import SmtpServer, make_cert  # noqa: E402

RAISED_LIMITS = {reg: {"concurrency": 8, "per_minute": 6000}
                 for reg in ("arin", "ripencc", "apnic", "lacnic", "afrinic")}


def write_log(path: Path, ips: list[str]) -> int:
    lines = []
    for n, ip in enumerate(ips):
        for k in range(2 + n % 3):
            lines.append(f"Sep  8 11:{n % 60:02d}:{k:02d} fw1.mydomain.com kernel: DROP IN=eth0 OUT= "
                         f"SRC={ip} DST=192.0.2.{1 + k} PROTO=TCP SPT={40000 + n} "
                         f"DPT={(22, 23, 3389)[k % 3]}")
        if n % 50 == 0:
            lines.append(f"Sep  8 11:{n % 60:02d}:30 fw1.mydomain.com sshd[1]: Accepted publickey for admin "
                         f"from 192.0.2.77 port 5{n:04d}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every HTTP answer")
    ap.add_argument("--networks", type=int, default=100)
    ap.add_argument("--per-network", type=int, default=10)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="report-bulk-") as tmpdir:
        tmp = Path(tmpdir)
        cert = make_cert(tmp)
        with Sandbox(latency=args.latency, synthetic_networks=args.networks) as sb, \
                SmtpServer(security="starttls", users={"bench": "bench-pw"}, cert=cert) as smtp:
            ips = [ip for net in sb.synthetic for ip in net.ips[:args.per_network]]
            log = tmp / "attacks.log"
            nlines = write_log(log, ips)
            (tmp / "pw").write_text("bench-pw\n")
            cfg = sb.config_dict(str(tmp))
            cfg["scan"] = {"own_networks": ["192.0.2.0/24"], "own_hostnames": ["mydomain.com"]}
            cfg["report"] = {**cfg.get("report", {}), "incident_dir": str(tmp / "incident"),
                             "reporter_email": "security@mydomain.example", "suppress_days": 0}
            cfg["smtp"] = smtp.config_dict(username="bench", password_file=str(tmp / "pw"))
            config = tmp / "incident.toml"
            limits = "".join(f"\n[gather.registries.{reg}]\nconcurrency = {v['concurrency']}\n"
                             f"per_minute = {v['per_minute']}\n" for reg, v in RAISED_LIMITS.items())
            config.write_text(to_toml(cfg) + limits, encoding="utf-8")
            print(f"input: {len(ips)} attacker addresses in {len(sb.synthetic)} networks, {nlines} lines; "
                  f"HTTP latency {args.latency:.3f}s")
            print(f"rate limits raised for this local run: {RAISED_LIMITS['lacnic']} per registry")
            script = Path(sys.executable).parent / "incident"
            cmd = [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]
            start = time.perf_counter()
            argv = [*cmd, "--config", str(config), "report", str(log), "-A", "-b", "--timings"]
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=str(tmp), check=False)
            total = time.perf_counter() - start
            requests = len(sb.http.requests)
            mails = len(smtp.messages)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        print(f"incident exited {proc.returncode}")
        return 1
    timing = next((line for line in proc.stderr.splitlines() if line.startswith("timings:")), "")
    for part in timing.split()[1:]:
        name, _, value = part.partition("=")
        print(f"  {name:<9} {value}")
    summary = next((line for line in proc.stdout.splitlines() if line.startswith("reports:")), "")
    print(f"{summary}; mails received {mails}; RDAP/HTTP requests {requests}")
    print(f"seconds={total:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
