"""Evidence for named addresses on a big input: one more read, for as many addresses as asked.

The bulk path (bot.scan.bulk) gives evidence lines and first/last seen to its top candidates only;
whoever reports more of them (``incident report -A``) asks here for the rest, once for all of them.
The input is read in chunks with the scanner's token patterns (addresses.TOKENS4/TOKENS6); each
address written is normalised (cached by its few surrounding bytes) and looked up in the wanted set:
no per-address search and no per-line Python work for lines that mention none of them. Memory stays
bounded: per address a counter, at most ``excerpt_lines`` lines and its latest line. The lines
kept are the ones the scan counted (``Engine.counts_for``), asked of the few lines kept only.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import ScanConfig
from bot.errors import InputError
from bot.models import Evidence
from bot.scan import addresses
from bot.scan.chunks import Range, iter_chunks
from bot.scan.engine import RECORD_CHARS, RECORD_LINES, RECORD_OPEN, Engine
from bot.scan.ranking import clip
from bot.scan.tally import Tally
from bot.scan.timestamps import Clock, zone

__all__ = ["Records", "collect_evidence", "evidence_at", "line_starts", "line_text", "pieces_read",
           "records_in"]

CHUNK = 1 << 23
LAST_TRIES = 16      # counted lines read back from the end for the last time (lines without one skipped)
# Bytes before an address's first '.' (IPv4) or ':' (IPv6) that decide where its text starts: the
# first group (up to 3 digits or 4 hex digits) and the byte before it. Cache keys carry them.
_BEFORE = {False: 4, True: 5}
_V4_TAIL = re.compile(r"(?:\.\d{1,3}){3}(?!\d)")


@dataclass(frozen=True)
class Records:
    """The JSON records printed over several lines in a piece of input: where each starts and ends
    (the end of its last line), in order; and where one still open at the piece's end starts."""

    starts: list[int]
    ends: list[int]
    open_at: int | None = None


# A line that opens a record (engine.RECORD_OPEN, the whole line bar its line end), after the line
# end before it: a pattern that starts with a fixed string is searched for fast
_OPEN_LINE = re.compile("\n" + re.escape(RECORD_OPEN) + r"\r?(?=\n|\Z)")


def records_in(data: str) -> Records | None:
    """The multi-line JSON records of ``data`` (whole lines, taken to start outside any record), as
    the engine reads them: opened by a line that is only "{", closed where its braces and brackets
    close; one longer than RECORD_LINES lines or RECORD_CHARS characters is read line by line, and
    so is one still open at the end of ``data`` (its start is ``open_at``: the input's next piece
    may close it). One pass; None when there is none."""
    openers = [m.start() + 1 for m in _OPEN_LINE.finditer(data)]
    if _OPEN_LINE.match("\n" + data[:len(RECORD_OPEN) + 2]):
        openers.insert(0, 0)    # (the first line)
    starts: list[int] = []
    ends: list[int] = []
    open_at = None
    after = 0
    for opener in openers:
        if opener < after:
            continue            # (a "{" line inside the record just read)
        at, depth, chars, lines = opener, 0, 0, 0
        while True:
            end = data.find("\n", at)
            end = len(data) if end < 0 else end
            line = data[at:end]
            depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
            chars += len(line)
            lines += 1
            if depth <= 0:
                starts.append(opener)
                ends.append(end)
                break
            if lines >= RECORD_LINES or chars > RECORD_CHARS:
                break
            if end == len(data):
                open_at = opener
                break
            at = end + 1
        after = end
    return Records(starts, ends, open_at) if starts or open_at is not None else None


def pieces_read(raw_pieces: Iterable[bytes]) -> Iterator[tuple[str, Records | None]]:
    """Pieces of input (whole lines, in order) decoded, with their records: a record left open at a
    piece's end is moved to the start of the next piece, so that it is seen whole."""
    carry = ""
    for raw in raw_pieces:
        data = carry + raw.decode("utf-8", "replace")
        records = records_in(data)
        if records is not None and records.open_at is not None:
            data, carry = data[:records.open_at], data[records.open_at:]
        else:
            carry = ""
        yield data, records
    if carry:       # (still open at the end of the input: read line by line, as the engine does)
        yield carry, records_in(carry)


def evidence_at(data: str, start: int, records: Records | None) -> tuple[int, int, str]:
    """The evidence text at the line starting at ``start``: that line, or the multi-line JSON record
    it belongs to (``records``: records_in(data)) joined as the engine joins it; as (where the text
    starts, where the next line starts, the text)."""
    if records is not None:
        k = bisect_right(records.starts, start) - 1
        if k >= 0 and start <= records.ends[k]:
            first, end = records.starts[k], records.ends[k]
            return first, end + 1, " ".join(x.strip() for x in data[first:end].split("\n"))
    end = data.find("\n", start)
    end = len(data) if end < 0 else end
    return start, end + 1, data[start:end]


def line_text(text: str) -> str:
    """An evidence line as kept: without its line end, cut to ranking.MAX_EVIDENCE_CHARS."""
    return clip(text.rstrip("\r\n"))


@dataclass
class _Seen:
    count: int = 0
    lines: list[str] = field(default_factory=list)
    found: bool = False         # a line the scan counted for it
    times: Tally = field(default_factory=lambda: Tally(0))   # (its first and last seen)


def line_starts(data: str, wanted: Collection[str], keep_received: bool,
                 cache: dict[str, str | None]) -> dict[str, list[int]]:
    """For each wanted address in ``data`` (whole lines), the starts of the usable lines that write
    it, in order, each line once: found with the scanner's token patterns, and where an IPv6 token
    is none the scanner would read ("2001:db8::1:"), with addresses.find on its line."""
    out: dict[str, list[int]] = {}
    check_received = not keep_received and "Received:" in data
    bounds = [0, -1]                        # the line last looked at: [start, end]
    doubtful: list[int] = []

    def line_of(s: int) -> int:
        if s > bounds[1]:                   # (a line's text searched once, however many it holds)
            bounds[0] = data.rfind("\n", 0, s) + 1
            end = data.find("\n", s)
            bounds[1] = len(data) if end < 0 else end
        return bounds[0]

    def add(ip: str, start: int) -> None:
        starts = out.get(ip)
        if starts is None:
            starts = out[ip] = []
        elif starts and starts[-1] == start:
            return                          # this line is already counted
        if check_received and data.find("Received:", start, bounds[1]) >= 0:
            return
        starts.append(start)

    for pattern, v6 in ((addresses.TOKENS4, False), (addresses.TOKENS6, True)):
        if v6 and ":" not in data:
            continue
        group = pattern.groups - 2          # the address's text after its first '.' or ':'
        before = _BEFORE[v6]
        bounds[:] = [0, -1]
        for m in pattern.finditer(data):
            s = m.start()
            e = m.end(group)
            tail = _V4_TAIL.match(data, e) if v6 and data.startswith(".", e) else None
            if tail is not None:
                e = tail.end()              # ("::10.0.0.1", "64:ff9b::198.51.100.7")
            if s >= before:
                key = data[s - before:e]
                ip = cache.get(key, "")
                if ip == "":
                    ip = cache[key] = _normalise(m, v6, tail)
            else:
                ip = _normalise(m, v6, tail)
            if ip is None:
                if v6 and (not doubtful or doubtful[-1] != line_of(s)):
                    doubtful.append(line_of(s))
            elif ip in wanted:
                add(ip, line_of(s))
    bounds[:] = [0, -1]
    for start in doubtful:
        line_of(start)                      # (its end, for add)
        for f in addresses.find(data[start:bounds[1]]):
            if f.ip in wanted:
                add(f.ip, start)
    # (the runs are not in line order: ::ffff:a.b.c.d is an IPv4 address written by the second)
    return {ip: _dedupe(sorted(starts)) for ip, starts in out.items()}


def _normalise(m: re.Match[str], v6: bool, tail: re.Match[str] | None = None) -> str | None:
    if tail is not None:        # an IPv6 token whose last 32 bits may be written as IPv4
        g = m.groups()
        ip = addresses.normalise(f"{g[0] or g[1] or g[2] or g[3] or ''}:{g[4]}{tail.group()}")
        if ip is not None:
            return ip
    parsed = addresses.token_value(m.groups(), v6)
    return parsed[0] if parsed is not None else None


def _dedupe(starts: list[int]) -> list[int]:
    return [s for i, s in enumerate(starts) if i == 0 or s != starts[i - 1]]


def collect_evidence(paths: Iterable[str | os.PathLike[str]], cfg: ScanConfig, ips: Collection[str], *,
                     keep_received: bool | None = None, now: datetime | None = None,
                     chunk_size: int = CHUNK) -> dict[str, Evidence]:
    """Evidence for each address of ``ips`` (normalised text forms) found in ``paths``, read once.

    Per address: its first ``cfg.excerpt_lines`` lines that the scan counted for it (``Received:``
    lines only with ``keep_received``, default from the config; not the lines it set aside; a JSON
    record printed over several lines as one; address-less lines of its sessions are not found
    here), first/last seen from the earliest and latest time of those lines and of its last such
    line with a time (input order is taken as time order, as on the bulk path; syslog years and
    zones as ``cfg.timezone`` and ``now`` say), and the number of lines that write it (more than
    the scan's own count where lines were set aside or records span lines: that one is the
    candidate's).
    Addresses not found are left out. Raises InputError if a file cannot be read.
    """
    keep = max(0, cfg.excerpt_lines)
    keep_rec = cfg.keep_received if keep_received is None else keep_received
    wanted = frozenset(ips)
    seen: dict[str, _Seen] = {}
    cache: dict[str, str | None] = {}
    if not wanted:
        return {}
    judge = Engine(cfg, keep_received=keep_rec, keep_lines=False, times=False)
    clock = Clock(zone(cfg.timezone), now)
    for p in paths:
        try:
            chunks = iter_chunks(Range(os.fspath(p), 0, os.path.getsize(p)), chunk_size)
            for data, records in pieces_read(chunks):
                for ip, starts in line_starts(data, wanted, keep_rec, cache).items():
                    s = seen.get(ip)
                    if s is None:
                        s = seen[ip] = _Seen()
                    s.count += len(starts)
                    after = 0
                    for start in starts:
                        if s.found and len(s.lines) >= keep:
                            break
                        if start < after:
                            continue        # (a line of the record just taken)
                        _, after, text = evidence_at(data, start, records)
                        if judge.counts_for(text, ip):
                            s.found = True
                            s.times.seen(clock.parse(line_text(text)))
                            if len(s.lines) < keep:
                                s.lines.append(text)
                    tries = 0
                    before = len(data) + 1
                    for start in reversed(starts):      # the chunk's last counted line with a time
                        if start >= before:
                            continue        # (a line of the record just read)
                        before, _, text = evidence_at(data, start, records)
                        if judge.counts_for(text, ip):
                            when = clock.parse(line_text(text))
                            s.times.seen(when)
                            tries += 1
                            if when is not None or tries >= LAST_TRIES:
                                break
                if len(cache) > 200_000:
                    cache.clear()
        except OSError as exc:
            raise InputError(f"{os.fspath(p)}: cannot read ({exc.strerror or exc})") from exc
    return {ip: Evidence(lines=tuple(map(line_text, s.lines)), total_lines=s.count, first_seen=s.times.first,
                         last_seen=s.times.last) for ip, s in seen.items()}
