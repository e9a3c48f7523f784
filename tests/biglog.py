"""A generated log big enough for the scanner's bulk path (bot.scan.scanner.BULK_MIN_BYTES), with
attackers ranked far beyond the few that the bulk path gives evidence to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.scan.scanner import BULK_MIN_BYTES

BLOCKS = 120


def attacker_line(block: int, ip: str, n: int) -> str:
    return (f"Mar  1 {block // 60:02d}:{block % 60:02d}:{n % 60:02d} www.mydomain.com sshd[{4000 + n}]: "
            f"Failed password for root from {ip} port {20000 + n} ssh2")


def write_big_log(path: Path, ips: Sequence[str], size: int = BULK_MIN_BYTES + (1 << 20)) -> dict[str, int]:
    """Write about ``size`` bytes to ``path``: private-address noise (never reportable) in BLOCKS
    blocks, and ``4 + i`` sshd failures of ``ips[i]`` spread over the whole file. Returns the lines
    per address."""
    per_block = size // BLOCKS // 104 + 1
    at: dict[int, list[str]] = {}
    counts = {}
    for i, ip in enumerate(ips):
        counts[ip] = 4 + i
        for j in range(counts[ip]):
            at.setdefault((j * BLOCKS // counts[ip] + i) % BLOCKS, []).append(ip)
    with open(path, "w", encoding="ascii") as fh:
        for block in range(BLOCKS):
            ts = f"Mar  1 {block // 60:02d}:{block % 60:02d}:00"
            noise = [f"{ts} gw.mydomain.com kernel: [UFW ALLOW] IN=eth1 SRC=10.0.{block}.{n % 20 + 1} "
                     f"DST=192.168.7.1 PROTO=UDP" for n in range(per_block)]
            fh.write("\n".join(noise) + "\n")
            fh.write("".join(attacker_line(block, ip, n) + "\n" for n, ip in enumerate(at.get(block, []))))
    return counts
