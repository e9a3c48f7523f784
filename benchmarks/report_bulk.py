"""`incident report -A -b` over many attacker addresses (10 per network), end to end, as a user runs it.

Starts the local sandbox (SYNTHETIC networks made up by us: RDAP, DNS, whois on 127.0.0.1, with
--latency seconds added to every registry (HTTP) answer and --dns-latency to every DNS answer) and a
local SMTP server (STARTTLS + AUTH, throwaway certificate), writes a firewall log with --addresses
attacker addresses (10 in each synthetic network, a few lines each, plus our own traffic), runs the real
`incident` command once as a subprocess, and prints:

- the time spent in each step as the command reports it (`--timings`; when the command does not report
  a step, only the total is known and this says so),
- the mails the SMTP server received and the requests the sandbox served,
- the command's peak memory (maximum resident set size of the child process, from getrusage) and its
  CPU time (steadier than the wall time on a shared machine),
- as the last line, ``seconds=<total>`` (wall time of the whole command, start-up included).

NOTE: the default per-registry rate limits (LACNIC 10 requests a minute) would make any run over
thousands of addresses take hours against the real registries; this benchmark raises them in its own
configuration (printed below) because the sandbox is local, and sets gather.workers (printed too).
Targets: under 60 s and under 500 MB for 10,000 addresses.

    python benchmarks/report_bulk.py [--addresses 10000] [--latency 0.05] [--dns-latency 0.02]
                                     [--workers 32] [--verbose]

``--verbose`` runs the command with ``-v`` and prints its bulk lookup's phases (first address of each
/24 or /48, the others' reverse names, all) as it logs them.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sandbox import Sandbox  # noqa: E402
from tests.sandbox.core import to_toml  # noqa: E402
from tests.sandbox.synthetic import MAX_NETWORKS  # noqa: E402
from tests.support.smtp import SmtpServer, make_cert  # noqa: E402

PER_NETWORK = 10
RAISED_LIMITS = {reg: {"concurrency": 8, "per_minute": 60_000}
                 for reg in ("arin", "ripencc", "apnic", "lacnic", "afrinic")}


def write_log(path: Path, ips: list[str]) -> int:
    lines = []
    for n, ip in enumerate(ips):
        for k in range(2 + n % 3):
            lines.append(f"Sep  8 11:{n % 60:02d}:{k:02d} fw1.mydomain.com kernel: DROP IN=eth0 OUT= "
                         f"SRC={ip} DST=192.0.2.{1 + k} PROTO=TCP SPT={40000 + n % 20000} "
                         f"DPT={(22, 23, 3389)[k % 3]}")
        if n % 50 == 0:
            lines.append(f"Sep  8 11:{n % 60:02d}:30 fw1.mydomain.com sshd[1]: Accepted publickey for admin "
                         f"from 192.0.2.77 port 5{n % 10000:04d}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addresses", type=int, default=1000,
                    help=f"attacker addresses, {PER_NETWORK} per synthetic network (at most "
                         f"{MAX_NETWORKS * PER_NETWORK})")
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every HTTP answer")
    ap.add_argument("--dns-latency", type=float, default=0.02, help="seconds added to every DNS answer")
    ap.add_argument("--workers", type=int, default=32, help="gather.workers for the run")
    ap.add_argument("--verbose", action="store_true",
                    help="run the command with -v and print its bulk lookup's phase timings")
    args = ap.parse_args()
    networks = -(-args.addresses // PER_NETWORK)
    if not 1 <= networks <= MAX_NETWORKS:
        ap.error(f"--addresses: 1 to {MAX_NETWORKS * PER_NETWORK}")

    with tempfile.TemporaryDirectory(prefix="report-bulk-") as tmpdir:
        tmp = Path(tmpdir)
        cert = make_cert(tmp)
        with Sandbox(latency=args.latency, synthetic_networks=networks, dns_latency=args.dns_latency) as sb, \
                SmtpServer(security="starttls", users={"bench": "bench-pw"}, cert=cert) as smtp:
            ips = [ip for net in sb.synthetic for ip in net.ips[:PER_NETWORK]][:args.addresses]
            log = tmp / "attacks.log"
            nlines = write_log(log, ips)
            (tmp / "pw").write_text("bench-pw\n")
            cfg = sb.config_dict(str(tmp))
            cfg["gather"]["workers"] = args.workers
            cfg["scan"] = {"own_networks": ["192.0.2.0/24"], "own_hostnames": ["mydomain.com"]}
            cfg["report"] = {**cfg.get("report", {}), "incident_dir": str(tmp / "incident"),
                             "reporter_email": "security@mydomain.example", "suppress_days": 0}
            cfg["smtp"] = smtp.config_dict(username="bench", password_file=str(tmp / "pw"))
            config = tmp / "incident.toml"
            limits = "".join(f"\n[gather.registries.{reg}]\nconcurrency = {v['concurrency']}\n"
                             f"per_minute = {v['per_minute']}\n" for reg, v in RAISED_LIMITS.items())
            config.write_text(to_toml(cfg) + limits, encoding="utf-8")
            print(f"input: {len(ips)} attacker addresses in {len(sb.synthetic)} networks, {nlines} lines; "
                  f"latency {args.latency * 1000:g} ms per registry (HTTP) answer, "
                  f"{args.dns_latency * 1000:g} ms per DNS answer")
            print(f"config (this local run only): registry limits raised to {RAISED_LIMITS['lacnic']} per "
                  f"registry; gather.workers = {args.workers}")
            script = Path(sys.executable).parent / "incident"
            cmd = [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]
            argv = [*cmd, *(["-v"] if args.verbose else []), "--config", str(config), "report", str(log),
                    "-A", "-b", "--timings"]
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            before = usage.ru_maxrss
            start = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=str(tmp), check=False)
            total = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            peak_kb = after.ru_maxrss
            cpu = (after.ru_utime - usage.ru_utime, after.ru_stime - usage.ru_stime)
            requests = len(sb.http.requests)
            dns_queries = len(sb.dns.queries)
            mails = len(smtp.messages)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        print(f"incident exited {proc.returncode}")
        return 1
    if args.verbose:
        for line in proc.stderr.splitlines():
            if "bulk:" in line:
                print(f"  | {line.strip()}")
    timing = next((line for line in proc.stderr.splitlines() if line.startswith("timings:")), "")
    if timing:
        for part in timing.split()[1:]:
            name, _, value = part.partition("=")
            print(f"  {name:<9} {value}")
    else:
        print("  (the command printed no per-step timings: only the total below is measured)")
    summary = next((line for line in proc.stdout.splitlines() if line.startswith("reports:")), "")
    print(f"{summary}; mails received {mails}; HTTP requests {requests}; DNS queries {dns_queries} "
          f"({dns_queries / max(1, len(ips)):.2f} per address)")
    peak_note = "" if peak_kb > before else " (an earlier child of this process was larger)"
    print(f"peak memory of the command: {peak_kb / 1024:.0f} MB{peak_note}; "
          f"its CPU time: {cpu[0]:.1f} s user, {cpu[1]:.1f} s system")
    print(f"seconds={total:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
