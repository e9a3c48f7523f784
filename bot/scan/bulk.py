"""Big files: the same per-line rules (``engine``), counted without keeping lines, in two processes.

Pass 1 runs the scan engine over the input without keeping evidence lines or times; inputs of
PARALLEL_MIN bytes and more are split in two at a line start and a forked worker process counts the
second half while this one counts the first (a session or a mail header block cut by the split is
read as two). Pass 2 reads the input from the start until the top candidates have their evidence
lines (the first ENGINE_BYTES with the engine, keeping lines as the line path does, where pass 1
counted a session's address-less lines or a mail's source hop), and from the end until each has
its last line with a time: their first/last timestamps (input order is taken as time order; logs
are chronological). Evidence for the other candidates, when someone needs it (a report of every
address), comes from bot.scan.collect.collect_evidence: one more read for all of them.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from bot.config import ScanConfig
from bot.errors import InputError
from bot.models import ScanResult
from bot.scan import batch
from bot.scan.chunks import MAX_PIECE, Range, iter_chunks, plain, plan
from bot.scan.collect import LAST_TRIES, evidence_at, line_text, pieces_read, records_in
from bot.scan.engine import RECEIVED, Engine
from bot.scan.ranking import top_ips
from bot.scan.tally import Counts
from bot.scan.timestamps import Clock, zone

__all__ = ["Counted", "count_parallel", "evidence", "plan", "scan_bulk"]

PARALLEL_MIN = 48 << 20   # bytes; smaller inputs are counted in this process
EVIDENCE_FOR = 10    # candidates that get evidence lines and first/last seen from the scan itself
EVIDENCE_PIECE = 1 << 20   # bytes read at a time for evidence lines (the top candidates' are near the ends)
EVIDENCE_BYTES = 16 << 20  # read for evidence lines at most, once every candidate has its first line
ENGINE_BYTES = 2 << 20     # of which read by the engine itself (the line path's lines, sessions' too)


@dataclass
class Counted:
    """Pass 1's result for a part of the input."""

    counts: Counts
    lines: int = 0
    used: int = 0
    received: int = 0
    ambiguous: int = 0
    crowded: int = 0
    credited: int = 0
    nonblank: bool = False


def count_ranges(ranges: list[Range], cfg: ScanConfig, size: int, keep_received: bool,
                 now: datetime | None = None) -> Counted:
    """Pass 1 over some ranges of the input."""
    engine = Engine(cfg, keep_received=keep_received, now=now, keep_lines=False, times=False)
    feed = engine.feed_chunk if keep_received else partial(batch.feed_chunk, engine)
    for r in ranges:
        pos = r.start
        try:
            for data in iter_chunks(r, size):
                feed(data, pos)
                pos += len(data)
        except OSError as exc:
            raise InputError(f"{r.path}: cannot read ({exc.strerror or exc})") from exc
    engine.finish(ranges[-1].end if ranges else 0)
    return Counted(engine.counts, engine.lines_read, engine.lines_used, engine.skipped_received,
                   engine.ambiguous, engine.crowded, engine.credited, engine.nonblank)


def count_parallel(paths: list[str], cfg: ScanConfig, size: int, keep_received: bool, workers: int,
                   now: datetime | None = None) -> Counted:
    """Pass 1, split over processes for big inputs: this one counts the first part while worker
    processes count the others; the parts are merged in input order."""
    total = sum(os.path.getsize(p) for p in paths)
    if workers <= 0:
        workers = min(2, os.cpu_count() or 1) if total >= PARALLEL_MIN else 1
    parts = [p for p in plan(paths, workers) if p] if workers > 1 else []
    if len(parts) <= 1:
        return count_ranges([Range(p, 0, os.path.getsize(p)) for p in paths], cfg, size, keep_received, now)
    # Imported here: multiprocessing pulls in socket, and the scanner imports no network module.
    import multiprocessing

    # fork is fast, but not safe once other threads run (the bot's servers): then spawn.
    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() \
        else "spawn"
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(len(parts) - 1) as pool:
        pending = [pool.apply_async(count_ranges, (p, cfg, size, keep_received, now)) for p in parts[1:]]
        acc = count_ranges(parts[0], cfg, size, keep_received, now)
        for job in pending:
            more: Counted = job.get()
            acc.counts.merge(more.counts, 0)
            acc.lines += more.lines
            acc.used += more.used
            acc.received += more.received
            acc.ambiguous += more.ambiguous
            acc.crowded += more.crowded
            acc.credited += more.credited
            acc.nonblank = acc.nonblank or more.nonblank
    return acc


def evidence(paths: list[str], wanted: dict[str, int], keep: int, reader: Engine | None, judge: Engine,
             on_line: Callable[[str, str, bool], bool], size: int) -> bool:
    """Pass 2: call ``on_line(ip, text, is_last)`` for the first lines (up to ``keep``, or the ip's
    mentions if fewer) and for the last line mentioning each wanted ip, in pieces of ``size`` bytes.
    ``wanted`` maps an ip to its mentions.

    The first ENGINE_BYTES are read by ``reader`` (if any), an engine that keeps lines: there the
    lines are the line path's own, lines it counted for an address they do not write included (a
    session's address-less lines, a mail's source hop). An input no bigger is read whole, and then
    True is returned: ``reader``'s tallies are the line path's, times included, and nothing else is
    read. From there on (or from the start, where pass 1 counted no such line, and a search finds
    the same lines faster), the lines that write a wanted ip are searched for (_spellings), and one
    is taken when the scan counted it for the ip
    (``judge.counts_for``), a JSON record printed over several lines as one (collect.evidence_at);
    until every ip has its first lines (or at least its first one after EVIDENCE_BYTES). Then the
    input is read backward until every ip has its last line: ``on_line`` says whether that line had
    a time, and if not the one before it is given, and so on for up to LAST_TRIES lines. For the
    top candidates of a log that is a piece at each end.
    """
    need = {ip: min(keep, n) for ip, n in wanted.items()}
    taken = dict.fromkeys(wanted, 0)
    read = 0
    pieces = _forward(paths, size)
    if reader is not None:
        whole = sum(os.path.getsize(p) for p in paths) <= ENGINE_BYTES

        def kept(ip: str) -> list[str]:
            t = reader.counts.tallies.get(ip)
            return t.lines or [] if t is not None else []

        for raw in pieces:
            reader.feed_chunk(raw, read)
            read += len(raw)
            if not whole and (read >= ENGINE_BYTES or all(len(kept(ip)) >= need[ip] for ip in wanted)):
                break
        else:
            reader.finish(read)     # (a JSON record still open at the end is read line by line)
        for ip in wanted:
            for text in kept(ip)[:need[ip]]:
                taken[ip] += 1
                on_line(ip, text, False)
        if whole:
            return True
    spelling = {ip: _spellings(ip) for ip in wanted}
    for data, records in pieces_read(pieces):
        todo = {ip for ip in wanted if taken[ip] < need[ip]}
        # Stop when all have their lines, or when all have a first line and enough was read.
        if not todo or (read >= EVIDENCE_BYTES and all(taken.values())):
            break
        read += len(data)
        low = _lowered(data) if any(":" in ip for ip in todo) else data
        for ip in todo:
            after = 0
            for start in _starts(low, spelling[ip]):
                if taken[ip] >= need[ip]:
                    break
                if start < after:
                    continue        # (a line of the record just taken)
                _, after, text = evidence_at(data, start, records)
                if judge.counts_for(text, ip):
                    taken[ip] += 1
                    on_line(ip, text, False)
    _last_lines(paths, spelling, judge, on_line, size)
    return False


def _last_lines(paths: list[str], spelling: dict[str, tuple[str, ...]], judge: Engine,
                on_line: Callable[[str, str, bool], bool], size: int) -> None:
    """evidence's last step: the input read backward until each ip (its spellings) has its last
    counted line with a time, or LAST_TRIES counted lines without one."""
    wanted = spelling.keys()
    found_last: set[str] = set()
    tries = dict.fromkeys(wanted, 0)
    for raw in _backward(paths, size):
        todo = {ip for ip in wanted if ip not in found_last}
        if not todo:
            break
        data = raw.decode("utf-8", "replace")
        records = records_in(data)
        low = _lowered(data) if any(":" in ip for ip in todo) else data
        for ip in todo:
            before = len(data) + 1
            for start in _starts(low, spelling[ip], backward=True):
                if start >= before:
                    continue        # (a line of the record just read)
                before, _, text = evidence_at(data, start, records)
                if judge.counts_for(text, ip):
                    tries[ip] += 1
                    if on_line(ip, text, True) or tries[ip] >= LAST_TRIES:
                        found_last.add(ip)
                        break


def _spellings(ip: str) -> tuple[str, ...]:
    """What to search for to find the lines that write ``ip`` (Engine.counts_for confirms each): an
    IPv4 address as it is (also the tail of ::ffff:a.b.c.d); an IPv6 address compressed, written
    out with and without leading zeros, and with its last 32 bits as IPv4, in lower case (searched
    for in the text lowered: any case). (Plain strings: a pattern of every spelling, zero runs
    compressed anywhere, was tried, and cost minutes on a log of three million rotating addresses.
    A spelling not here is counted, with its lines not shown.)"""
    if ":" not in ip:
        return (ip,)
    addr = ipaddress.IPv6Address(ip)
    groups = addr.exploded.split(":")
    full = ":".join(f"{int(g, 16):x}" for g in groups)
    tail = str(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    head = ipaddress.IPv6Address(int(addr) >> 32 << 32).compressed
    head = head if head.endswith("::") else head.removesuffix("0:0")
    forms = [addr.compressed, addr.exploded, full]
    forms += [head + tail, ":".join(groups[:6]) + ":" + tail, full.rsplit(":", 2)[0] + ":" + tail]
    return tuple(dict.fromkeys(forms))


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lowered(data: str) -> str:
    """``data`` in lower case, each character where it was (str.lower may turn one into two)."""
    return data.lower() if data.isascii() else data.translate(_ASCII_LOWER)


def _starts(data: str, forms: tuple[str, ...], backward: bool = False) -> Iterator[int]:
    """The starts of the lines of ``data`` that hold one of ``forms``, each once, in order
    (``backward``: last first); each stretch of text searched once, however many times a line
    holds them."""
    if backward and len(forms) == 1:
        end = len(data)
        while (hit := data.rfind(forms[0], 0, end)) >= 0:
            end = data.rfind("\n", 0, hit) + 1
            yield end
        return
    found = []
    nxt = {form: data.find(form) for form in forms}     # (each form's next place, kept)
    pos = 0
    while True:
        for form, at in nxt.items():
            if 0 <= at < pos:
                nxt[form] = data.find(form, pos)
        hits = [at for at in nxt.values() if at >= 0]
        if not hits:
            break
        hit = min(hits)
        start = data.rfind("\n", 0, hit) + 1
        if not backward:
            yield start
        found.append(start)
        end = data.find("\n", hit)
        if end < 0:
            break
        pos = end + 1
    if backward:
        yield from reversed(found)


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
    """The scan of big files: same rules and result type as scan_lines, lines kept for the top
    candidates only. ``workers`` processes share pass 1 (0: one per CPU, up to 2, for inputs of
    PARALLEL_MIN bytes)."""
    from bot.scan.scanner import result_of

    acc = count_parallel(paths, cfg, chunk_size, keep_received, workers, now)
    engine = Engine(cfg, keep_received=keep_received, now=now, keep_lines=False, times=False)
    engine.counts = acc.counts
    engine.lines_read, engine.lines_used, engine.skipped_received = acc.lines, acc.used, acc.received
    engine.ambiguous, engine.crowded = acc.ambiguous, acc.crowded
    engine.nonblank = acc.nonblank
    tallies = acc.counts.tallies
    keep = max(0, cfg.excerpt_lines)
    top = {ip: tallies[ip].count for ip in top_ips(tallies, EVIDENCE_FOR, allow_non_global=allow_non_global)}
    clock = Clock(zone(cfg.timezone), now)

    def on_line(ip: str, text: str, is_last: bool) -> bool:
        line = line_text(text)
        t = tallies[ip]
        when = clock.parse(line)
        if when is None and line.startswith(RECEIVED):
            when = clock.parse_rfc5322(line.rpartition(";")[2])     # (a mail's source hop: its date)
        t.seen(when)        # (the earliest and latest time of the lines read, as the line path keeps)
        if not is_last:
            if t.lines is None:
                t.lines = []
            t.lines.append(line)
        return when is not None

    reader = Engine(cfg, keep_received=keep_received, now=now) if acc.credited else None
    if evidence(paths, top, keep, reader, engine, on_line, min(chunk_size, EVIDENCE_PIECE)):
        assert reader is not None   # (it read the whole input: its times are the line path's)
        for ip in top:
            read = reader.counts.tallies.get(ip)
            if read is not None:
                tallies[ip].first, tallies[ip].last = read.first, read.last
    return result_of(engine, allow_non_global)
