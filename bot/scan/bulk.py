"""The bulk path for big files: whole chunks at C speed instead of one line at a time.

Pass 1 runs one bytes regex over each chunk (``findall``) and counts (cue, address, arrow) tuples
with ``Counter``: no Python work per line. The cue is what is written right before the address
(``SRC=``, ``from ``, ``rhost=``, ``client ``, ``DST=``, ``to ``...), the arrow what follows it
(``A:p -> B``, tcpdump's ``A.p > B``) or a Common Log Format tail. Counts are of mentions, not of
lines, and the roles come from these cues only (the line path knows more rules).

Pass 2 reads the input from the start until the top candidates have their evidence lines, and from
the end until each has its last line: their first/last timestamps (input order is taken as time
order; logs are chronological). Evidence for the other candidates, when someone needs it (a report
of every address), comes from bot.scan.collect.collect_evidence: one more read for all of them.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

from bot.config import ScanConfig
from bot.errors import InputError
from bot.models import ScanResult
from bot.scan import addresses
from bot.scan.bulk_count import (
    MAX_PIECE,
    Range,
    count_parallel,
    ctx_role,
    iter_chunks,
    own_names_pattern,
    plain,
    plan,
)
from bot.scan.collect import line_text, mentions, usable
from bot.scan.ranking import OwnNetworks, Tally, rank, top_ips
from bot.scan.timestamps import Clock, zone

__all__ = ["count_parallel", "evidence", "plan", "roles_by_ip", "scan_bulk"]


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
                role = ctx_cache[ctx] = ctx_role(ctx)
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


def _drop_own_mentions(per_ip: dict[str, list[int]], own: Counter[bytes]) -> None:
    """Take out the mentions written after an own host name ("fw1.mydomain.com[ADDR]"), as the line
    path does; an address left with none is no candidate."""
    for raw, n in own.items():
        ip = addresses.normalise(raw.decode("ascii", "replace").rstrip(".:"))
        slot = per_ip.get(ip) if ip is not None else None
        if slot is None or ip is None:
            continue
        slot[0] -= n
        if slot[0] <= 0:
            del per_ip[ip]
        else:
            slot[1], slot[2] = min(slot[1], slot[0]), min(slot[2], slot[0])


def _line_at(data: bytes, pos: int) -> bytes:
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return data[start:end if end >= 0 else len(data)]


def evidence(paths: list[str], wanted: dict[str, tuple[set[bytes], int]], keep: int, keep_received: bool,
             on_line: Callable[[str, bytes, bool], None], size: int) -> None:
    """Pass 2: call ``on_line(ip, line, is_last)`` for the first lines (up to ``keep``, or the ip's
    mentions if fewer) and for the last line mentioning each wanted ip.

    ``wanted`` maps an ip to (its raw spellings, its mentions). The input is read forward until
    every ip has its first lines (or at least its first one after EVIDENCE_CHUNKS chunks), then
    backward until every ip has its last line: for the top candidates of a log that is one chunk
    at each end.
    """
    need = {ip: min(keep, n) for ip, (_, n) in wanted.items()}
    taken = dict.fromkeys(wanted, 0)
    for number, data in enumerate(_forward(paths, size)):
        todo = [ip for ip in wanted if taken[ip] < need[ip]]
        # Stop when all have their lines, or when all have a first line and a few chunks were read.
        if not todo or (number >= EVIDENCE_CHUNKS and all(taken.values())):
            break
        for ip in todo:
            for raw in wanted[ip][0]:
                pos = data.find(raw)
                while pos >= 0 and taken[ip] < need[ip]:
                    line = _line_at(data, pos)
                    if usable(line, keep_received) and mentions(line, ip):
                        taken[ip] += 1
                        on_line(ip, line, False)
                    nxt = data.find(b"\n", pos)
                    pos = data.find(raw, nxt) if nxt >= 0 else -1
    found_last: set[str] = set()
    for data in _backward(paths, size):
        todo = [ip for ip in wanted if ip not in found_last]
        if not todo:
            break
        for ip in todo:
            best: tuple[int, bytes] | None = None
            for raw in wanted[ip][0]:
                pos = data.rfind(raw)
                while pos >= 0:
                    line = _line_at(data, pos)
                    if usable(line, keep_received) and mentions(line, ip):
                        if best is None or pos > best[0]:
                            best = (pos, line)
                        break
                    pos = data.rfind(raw, 0, pos)
            if best is not None:
                found_last.add(ip)
                on_line(ip, best[1], True)


def _forward(paths: list[str], size: int) -> Iterator[bytes]:
    for p in paths:
        yield from iter_chunks(Range(p, 0, os.path.getsize(p)), size)


def _backward(paths: list[str], size: int) -> Iterator[bytes]:
    """The input in pieces of about ``size`` bytes cut at line ends, last piece first."""
    for p in reversed(paths):
        with open(p, "rb") as fh:
            end = os.path.getsize(p)
            head = b""          # the start of the line cut at the previous piece's beginning
            while end > 0:
                start = max(0, end - size)
                fh.seek(start)
                data = fh.read(end - start) + head
                end = start
                cut = data.find(b"\n") if start > 0 else -1
                if cut >= MAX_PIECE:
                    cut = -1            # a huge line: give it in pieces rather than keep it whole
                if cut >= 0:
                    head, data = data[:cut + 1], data[cut + 1:]
                else:
                    head = b""
                if data:
                    yield plain(data)
                if start == 0 and head:
                    yield plain(head)


def scan_bulk(paths: list[str], cfg: ScanConfig, *, keep_received: bool, allow_non_global: bool,
              now: datetime | None = None, chunk_size: int = 1 << 23, workers: int = 0) -> ScanResult:
    """The scan of big files: same result type as scan_lines, counts are of mentions.

    ``workers`` processes share pass 1 (0: one per CPU, up to 2, for inputs of PARALLEL_MIN bytes).
    """
    keep = max(0, cfg.excerpt_lines)
    names = tuple(h for h in cfg.own_hostnames if addresses.normalise(h) is None)
    acc = count_parallel(paths, chunk_size, keep_received, workers, own_names_pattern(names))
    if acc.lines == 0:
        raise InputError("the input is empty")
    per_ip, raws = roles_by_ip(acc.tuples)
    _drop_own_mentions(per_ip, acc.own)
    own = OwnNetworks(cfg.own_networks, cfg.own_hostnames)
    tallies: dict[str, Tally] = {}
    for order, (ip, (n, src, dst)) in enumerate(per_ip.items()):   # roughly first appearance
        if ip in own:
            continue
        t = tallies[ip] = Tally(order)
        t.count, t.source_count, t.dest_count = n, src, dst
    top = {ip: (raws[ip], tallies[ip].count)
           for ip in top_ips(tallies, EVIDENCE_FOR, allow_non_global=allow_non_global)}
    clock = Clock(zone(cfg.timezone), now)

    def on_line(ip: str, raw_line: bytes, is_last: bool) -> None:
        line = line_text(raw_line)
        t = tallies[ip]
        when = clock.parse(line)
        if is_last:
            t.last = when
        else:
            if not t.lines:
                t.first = when
            t.lines.append(line)

    evidence(paths, top, keep, keep_received, on_line, chunk_size)
    cands = rank(tallies, allow_non_global=allow_non_global)
    return ScanResult(candidates=tuple(cands), lines_read=acc.lines, lines_used=acc.lines - acc.received,
                      lines_skipped_received=acc.received)


EVIDENCE_FOR = 10    # candidates that get evidence lines and first/last seen on the bulk path
EVIDENCE_CHUNKS = 2  # chunks read for evidence lines once every candidate has its first line
