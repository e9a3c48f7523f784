"""The bulk path for big files: whole chunks at C speed instead of one line at a time.

Pass 1 runs one bytes regex over each chunk (``findall``) and counts (cue, address, arrow) tuples
with ``Counter``: no Python work per line. The cue is what is written right before the address
(``SRC=``, ``from ``, ``rhost=``, ``client ``, ``DST=``, ``to ``...), the arrow what follows it
(``A:p -> B``, tcpdump's ``A.p > B``) or a Common Log Format tail. Counts are of mentions, not of
lines, and the roles come from these cues only (the line path knows more rules).

Pass 2 re-reads only the chunks that hold the first mentions and the last one of the top candidates,
for their evidence lines and their first/last timestamps (input order: logs are chronological).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from bot.config import ScanConfig
from bot.errors import InputError
from bot.models import ScanResult
from bot.scan import addresses, roles
from bot.scan.bulk_count import Chunk, count_parallel, plan

__all__ = ["count_parallel", "evidence", "plan", "roles_by_ip", "scan_bulk"]
from bot.scan.ranking import OwnNetworks, Tally, clip, rank
from bot.scan.timestamps import Clock, zone


def roles_by_ip(tuples: Counter[tuple[bytes, bytes, bytes]]) -> tuple[dict[str, list[int]],
                                                                     dict[str, set[bytes]]]:
    """ip -> [mentions, source mentions, destination mentions], and ip -> its raw spellings."""
    per_ip: dict[str, list[int]] = {}
    raws: dict[str, set[bytes]] = {}
    norm_cache: dict[bytes, str | None] = {}
    ctx_cache: dict[bytes, int] = {}
    for (ctx, raw, arrow), n in tuples.items():
        ip = norm_cache.get(raw, "")
        if ip == "":
            ip = addresses.normalise(raw.decode("ascii", "replace"))
            norm_cache[raw] = ip
        if ip is None:
            continue
        if arrow and not arrow.startswith(b" - "):
            role = 1
        elif arrow:
            role = 1         # Common Log Format: the client
        else:
            role = ctx_cache.get(ctx, 2)
            if role == 2:
                score = roles.context_score(ctx.decode("utf-8", "replace"))
                role = ctx_cache[ctx] = 0 if score is None or -2 < score < 3 else (1 if score > 0 else -1)
        slot = per_ip.get(ip)
        if slot is None:
            slot = per_ip[ip] = [0, 0, 0]
            raws[ip] = set()
        raws[ip].add(raw)
        slot[0] += n
        if role > 0:
            slot[1] += n
        elif role < 0:
            slot[2] += n
    return per_ip, raws


def _line_at(data: bytes, pos: int) -> bytes:
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return data[start:end if end >= 0 else len(data)]


def evidence(chunks: list[Chunk], first: dict[bytes, int], last: dict[bytes, int],
             wanted: dict[str, set[bytes]], keep: int, keep_received: bool,
             on_line: Callable[[str, bytes, bool], None]) -> None:
    """Pass 2: call ``on_line(ip, line, is_last)`` for up to ``keep`` first lines and the last line
    mentioning each wanted ip, re-reading only the chunks that hold them."""
    plan: dict[int, list[tuple[str, bytes, bool]]] = {}
    for ip, raws in wanted.items():
        for raw in raws:
            if raw in first:
                for n in range(first[raw], min(first[raw] + EVIDENCE_CHUNKS, last[raw] + 1)):
                    plan.setdefault(n, []).append((ip, raw, False))
            if raw in last:
                plan.setdefault(last[raw], []).append((ip, raw, True))
    taken: dict[str, int] = {}
    for n in sorted(plan):
        chunk = chunks[n]
        with open(chunk.path, "rb") as fh:
            fh.seek(chunk.offset)
            data = fh.read(chunk.length)
        for ip, raw, is_last in plan[n]:
            if is_last:
                pos = data.rfind(raw)
                while pos >= 0:
                    line = _line_at(data, pos)
                    if _usable(line, keep_received) and _mentions(line, ip):
                        on_line(ip, line, True)
                        break
                    pos = data.rfind(raw, 0, pos)
                continue
            pos = data.find(raw)
            while pos >= 0 and taken.get(ip, 0) < keep:
                line = _line_at(data, pos)
                if _usable(line, keep_received) and _mentions(line, ip):
                    taken[ip] = taken.get(ip, 0) + 1
                    on_line(ip, line, False)
                nxt = data.find(b"\n", pos)
                pos = data.find(raw, nxt) if nxt >= 0 else -1


def _usable(line: bytes, keep_received: bool) -> bool:
    return keep_received or b"Received:" not in line


def _mentions(line: bytes, ip: str) -> bool:
    return any(f.ip == ip for f in addresses.find(line.decode("utf-8", "replace")))


def scan_bulk(paths: list[str], cfg: ScanConfig, *, keep_received: bool, allow_non_global: bool,
              now: datetime | None = None, chunk_size: int = 1 << 23, workers: int = 0) -> ScanResult:
    """The scan of big files: same result type as scan_lines, counts are of mentions.

    ``workers`` processes share pass 1 (0: one per CPU, up to 2, for inputs of PARALLEL_MIN bytes).
    """
    keep = max(0, cfg.excerpt_lines)
    acc = count_parallel(paths, chunk_size, keep_received, workers)
    if acc.lines == 0:
        raise InputError("the input is empty")
    first_chunks, last_chunk = acc.first, acc.last
    per_ip, raws = roles_by_ip(acc.tuples)
    own = OwnNetworks(cfg.own_networks, cfg.own_hostnames)
    tallies: dict[str, Tally] = {}
    for ip, (n, src, dst) in per_ip.items():
        if ip in own:
            continue
        first = min(first_chunks[r] for r in raws[ip])
        t = tallies[ip] = Tally(first)
        t.count, t.source_count, t.dest_count = n, src, dst
    order = rank(tallies, allow_non_global=allow_non_global)
    top = {c.ip: raws[c.ip] for c in order[:EVIDENCE_FOR]}
    clock = Clock(zone(cfg.timezone), now)
    last_line: dict[str, str] = {}

    def on_line(ip: str, raw_line: bytes, is_last: bool) -> None:
        line = raw_line.decode("utf-8", "replace").rstrip("\r")
        if is_last:
            last_line[ip] = line
            return
        t = tallies[ip]
        if not t.lines:
            t.first = clock.parse(line)
        t.lines.append(clip(line))

    evidence(acc.chunks, first_chunks, last_chunk, top, keep, keep_received, on_line)
    for ip, line in last_line.items():
        t = tallies[ip]
        t.last = clock.parse(line)
        if t.first is None:
            t.first = t.last
    cands = rank(tallies, allow_non_global=allow_non_global)
    return ScanResult(candidates=tuple(cands), lines_read=acc.lines, lines_used=acc.lines - acc.received,
                      lines_skipped_received=acc.received)


EVIDENCE_FOR = 10    # candidates that get evidence lines and first/last seen on the bulk path
EVIDENCE_CHUNKS = 2  # chunks read, from an address' first one on, for its evidence lines
