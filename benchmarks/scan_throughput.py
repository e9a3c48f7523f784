"""Scanner speed and memory against the classic shell pipeline, on the same generated log.

    python benchmarks/scan_throughput.py                 # about 100 MB
    python benchmarks/scan_throughput.py --size-mb 1000  # 1 GB: the peak-memory check
    python benchmarks/scan_throughput.py --distinct 3000000  # 3 million distinct addresses

Generates (deterministically, seed fixed) mixed syslog - snort, sshd, iptables, nginx; IPv4 and IPv6;
a few heavy hitters among thousands of addresses - in a temporary directory, then times, in the same
run, finding the top attacker with

    LC_ALL=C grep -oE '([0-9]{1,3}\\.){3}[0-9]{1,3}' FILE | sort | uniq -c | sort -rn | head

and with ``incident``'s scanner (scan_paths, in a child process whose peak RSS is measured with
getrusage). Prints both times and peak memory; the last line is ``ratio=<pipeline time / scanner time>``.

With ``--distinct N`` the log is instead N lines, each from another address (an attacker rotating
through an IPv6 /64, and IPv4 scanners), among which three heavy hitters: the scanner's memory must
stay bounded (exact counts for the busiest, a bounded sketch for the rest) and the heavy hitters
must still come first with their exact counts (the IPv6 one, in the documentation range 2001:db8::/32,
after every global address: nobody can be told about it, so the scanner ranks it last by design). It
prints the peak memory and whether the counts were reported approximate.
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = "LC_ALL=C grep -oE '([0-9]{1,3}\\.){3}[0-9]{1,3}' \"$1\" | sort | uniq -c | sort -rn | head"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _v4(rng: random.Random) -> str:
    return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _v6(rng: random.Random) -> str:
    return f"2001:db8:{rng.randint(0, 0xffff):x}:{rng.randint(0, 0xffff):x}::{rng.randint(1, 0xffff):x}"


def generate(path: Path, size_mb: int, seed: int = 20011) -> None:
    """Write about ``size_mb`` MB of mixed syslog to ``path`` (same bytes for the same arguments)."""
    rng = random.Random(seed)
    crowd = [_v4(rng) for _ in range(5000)] + [_v6(rng) for _ in range(1000)]
    heavy = ["211.191.28.13", "166.188.17.76", "2001:db8:bad::66"]
    ours = [f"198.51.100.{i}" for i in range(1, 30)] + ["2001:db8:10::1", "2001:db8:10::2"]
    target = size_mb * 1_000_000
    written = 0
    with open(path, "w", encoding="ascii") as fh:
        while written < target:
            buf = []
            for _ in range(2000):
                src = rng.choice(heavy) if rng.random() < 0.08 else rng.choice(crowd)
                dst = rng.choice(ours)
                if ":" in src and ":" not in dst:
                    dst = "2001:db8:10::1"
                elif ":" not in src and ":" in dst:
                    dst = "198.51.100.7"
                ts = f"{rng.choice(MONTHS)} {rng.randint(1, 28):2d} {rng.randint(0, 23):02d}:" \
                     f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
                kind = rng.randrange(4)
                sport, dport = rng.randint(1024, 65535), rng.choice((22, 25, 53, 80, 443, 8080, 3389))
                if kind == 0:
                    a = f"[{src}]" if ":" in src else src
                    b = f"[{dst}]" if ":" in dst else dst
                    buf.append(f"{ts} fw1.mydomain.com snort[16526]: [1:2003:8] SCAN attempt "
                               f"[Classification: Attempted Information Leak] [Priority: 2] {{TCP}} "
                               f"{a}:{sport} -> {b}:{dport}\n")
                elif kind == 1:
                    buf.append(f"{ts} mail.mydomain.com sshd[{rng.randint(100, 99999)}]: Failed password for "
                               f"invalid user admin from {src} port {sport} ssh2\n")
                elif kind == 2:
                    buf.append(f"{ts} fw1.mydomain.com kernel: [UFW BLOCK] IN=eth0 OUT= "
                               f"MAC=00:16:3e:5e:6c:00:00:1b:21:0a:0b:0c:08:00 SRC={src} DST={dst} LEN=40 "
                               f"TOS=0x00 TTL=242 ID=54321 PROTO=TCP SPT={sport} DPT={dport} WINDOW=1024 "
                               f"SYN URGP=0\n")
                else:
                    buf.append(f"{ts} www.mydomain.com nginx: {src} - - [10/Oct/2024:13:55:36 +0000] "
                               f"\"GET /wp-login.php HTTP/1.1\" 404 153 \"-\" \"Mozilla/5.0 (zgrab/0.x)\"\n")
            chunk = "".join(buf)
            fh.write(chunk)
            written += len(chunk)


def generate_distinct(path: Path, distinct: int, seed: int = 20011) -> dict[str, int]:
    """``distinct`` lines, each from a new address, plus three heavy hitters; their line counts."""
    rng = random.Random(seed)
    heavy = {"211.191.28.13": 0, "166.188.17.76": 0, "2001:db8:bad::66": 0}
    names = list(heavy)
    with open(path, "w", encoding="ascii") as fh:
        buf = []
        for n in range(distinct):
            if n % 2:
                src = f"2a0e:97c0:{n >> 32 & 0xffff:x}:{n >> 16 & 0xffff:x}:{n & 0xffff:x}::" \
                      f"{rng.randint(1, 0xffff):x}"
            else:
                src = f"{1 + (n >> 24) % 223}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            buf.append(f"Mar  1 04:{n // 60 % 60:02d}:{n % 60:02d} h sshd[{n % 30000 + 1000}]: Failed "
                       f"password for root from {src} port {rng.randint(1024, 65535)} ssh2\n")
            if n % 50 == 0:
                ip = names[n // 50 % 3]
                heavy[ip] += 1
                buf.append(f"Mar  1 04:00:00 h sshd[99]: Failed password for root from {ip} port 22 ssh2\n")
            if len(buf) >= 10000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    return heavy


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_pipeline(path: Path) -> tuple[float, str, float]:
    """Wall time, top line, and CPU seconds of the shell pipeline."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    out = subprocess.run(["sh", "-c", PIPELINE, "sh", str(path)], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t0
    return elapsed, out.stdout.splitlines()[0].strip() if out.stdout else "", _children_cpu() - cpu0


def run_scanner(path: Path) -> tuple[float, str, float, float, float]:
    """Time the scanner in a child process; also its peak RSS in MB, and that of its largest worker
    process (big inputs are counted by two processes)."""
    # The child imports the package as an installed program does, from its cached bytecode: where
    # PYTHONDONTWRITEBYTECODE is set (as on the machines this is run on) every run would otherwise
    # compile the package's sources again (about 70 ms of the time measured).
    compileall.compile_dir(str(ROOT / "bot"), quiet=1)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    out = proc.stdout.read().strip().splitlines()
    top = out[0] if out else ""
    workers = next((float(x.split("=")[1]) for x in out if x.startswith("workers_maxrss_mb=")), 0.0)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"scanner child failed with exit code {proc.returncode}")
    cpu = usage.ru_utime + usage.ru_stime     # includes its worker processes (waited for)
    return elapsed, top, usage.ru_maxrss / 1024.0, workers, cpu


def child(path: str) -> int:
    sys.path.insert(0, str(ROOT))
    from bot.config import ScanConfig
    from bot.scan import scan_paths

    result = scan_paths([path], ScanConfig())
    top = result.attacker
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(f"{top.ip} count={top.count}" if top else "none")
    print(f"workers_maxrss_mb={workers:.0f}")
    print(f"approximate={result.approximate} summarised={result.summarised} "
          f"top3={','.join(f'{c.ip}:{c.count}' for c in result.candidates[:3])}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="leave the generated file in place")
    ap.add_argument("--distinct", type=int, default=0, metavar="N",
                    help="instead: N lines from N distinct addresses (the memory bound check)")
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    if args.distinct:
        return distinct_run(args.distinct, args.keep)
    tmp = Path(tempfile.mkdtemp(prefix="scan-bench-"))
    path = tmp / "mixed.log"
    try:
        t0 = time.perf_counter()
        generate(path, args.size_mb)
        size = path.stat().st_size / 1e6
        print(f"generated {size:.0f} MB in {time.perf_counter() - t0:.1f}s: {path}")
        t_pipe, top_pipe, cpu_pipe = run_pipeline(path)
        print(f"pipeline: {t_pipe:.2f}s (cpu {cpu_pipe:.2f}s)  top: {top_pipe}")
        t_scan, top_scan, rss, workers, cpu_scan = run_scanner(path)
        print(f"scanner:  {t_scan:.2f}s (cpu {cpu_scan:.2f}s, {size / t_scan:.0f} MB/s)  top: {top_scan}")
        print(f"scanner peak memory: {max(rss, workers):.0f} MB (largest maxrss of the scanner process "
              f"and its worker processes)")
        print(f"ratio={t_pipe / t_scan:.2f}")
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
            tmp.rmdir()
    return 0


def distinct_run(distinct: int, keep: bool) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="scan-bench-"))
    path = tmp / "distinct.log"
    try:
        t0 = time.perf_counter()
        heavy = generate_distinct(path, distinct)
        print(f"generated {distinct} distinct addresses, {path.stat().st_size / 1e6:.0f} MB in "
              f"{time.perf_counter() - t0:.1f}s: {path}")
        print("heavy hitters: " + ",".join(f"{ip}:{n}" for ip, n in heavy.items()))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True,
                              text=True, check=True)
        elapsed = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = proc.stdout.strip().splitlines()
        workers = next((float(x.split("=")[1]) for x in out if x.startswith("workers_maxrss_mb=")), 0.0)
        print(f"scanner: {elapsed:.1f}s  {next(x for x in out if x.startswith('approximate='))}")
        # RUSAGE_CHILDREN's maxrss is the largest of the children: the scanner, or a worker of it
        print(f"scanner peak memory: {max(usage.ru_maxrss / 1024.0, workers):.0f} MB")
    finally:
        if not keep:
            path.unlink(missing_ok=True)
            tmp.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
