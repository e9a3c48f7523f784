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
from collections.abc import Collection, Iterable
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

__all__ = ["collect_evidence", "evidence_at", "line_text", "opens_records", "record_at"]

CHUNK = 1 << 23
LAST_TRIES = 16      # counted lines read back from the end for the last time (lines without one skipped)
# Bytes before an address's first '.' (IPv4) or ':' (IPv6) that decide where its text starts: the
# first group (up to 3 digits or 4 hex digits) and the byte before it. Cache keys carry them.
_BEFORE = {False: 4, True: 5}


def record_at(data: str, start: int) -> tuple[int, int, str] | None:
    """The JSON record printed over several lines (engine.RECORD_OPEN) that holds the line starting
    at ``start`` of ``data``, as (its start, its end, its lines joined as the engine joins them), or
    None for a line read alone. The engine's reading is replayed from the earliest line within
    RECORD_LINES before (taken to be outside any record): a record that is too long is read line by
    line, as there; one cut by the edge of ``data`` is not seen."""
    lo = start
    for _ in range(RECORD_LINES):
        if lo == 0:
            break
        lo = data.rfind("\n", 0, lo - 1) + 1
    at = lo
    opened = -1
    depth = chars = lines = 0
    while at <= start or opened >= 0:
        end = data.find("\n", at)
        if end < 0:
            return None
        line = data[at:end]
        if opened < 0:
            if at > start:
                return None
            if line.rstrip("\r") == RECORD_OPEN:
                opened, depth, chars, lines = at, 0, 0, 0
        if opened >= 0:
            depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
            chars += len(line)
            lines += 1
            if depth <= 0:
                if opened <= start <= at:
                    return opened, end, " ".join(x.strip() for x in data[opened:end].split("\n"))
                opened = -1
            elif lines >= RECORD_LINES or chars > RECORD_CHARS:
                if opened <= start <= at:
                    return None
                opened = -1
        at = end + 1
    return None


def opens_records(data: str) -> bool:
    """Whether ``data`` has a line that opens a JSON record (engine.RECORD_OPEN)."""
    return any(f"\n{RECORD_OPEN}{end}" in data or data.startswith(RECORD_OPEN + end)
               for end in ("\n", "\r\n"))


def evidence_at(data: str, start: int, records: bool) -> tuple[int, str]:
    """The evidence text at the line starting at ``start``: that line, or (``records``: where
    opens_records(data)) the multi-line JSON record it belongs to (record_at); and where the next
    line to look at starts."""
    record = record_at(data, start) if records else None
    if record is not None:
        return record[1] + 1, record[2]
    end = data.find("\n", start)
    return (end + 1 if end >= 0 else len(data)), data[start:end if end >= 0 else len(data)]


def line_text(text: str) -> str:
    """An evidence line as kept: without its line end, cut to ranking.MAX_EVIDENCE_CHARS."""
    return clip(text.rstrip("\r\n"))


@dataclass
class _Seen:
    count: int = 0
    lines: list[str] = field(default_factory=list)
    found: bool = False         # a line the scan counted for it
    times: Tally = field(default_factory=lambda: Tally(0))   # (its first and last seen)


def _line_starts(data: str, wanted: Collection[str], keep_received: bool,
                 cache: dict[str, str | None]) -> dict[str, list[int]]:
    """For each wanted address in ``data`` (whole lines), the starts of the usable lines where the
    bytes regexes find it, in order, each line once."""
    out: dict[str, list[int]] = {}
    check_received = not keep_received and "Received:" in data
    for pattern, v6 in ((addresses.TOKENS4, False), (addresses.TOKENS6, True)):
        if v6 and ":" not in data:
            continue
        group = pattern.groups - 2          # the address's text after its first '.' or ':'
        before = _BEFORE[v6]
        for m in pattern.finditer(data):
            s = m.start()
            e = m.end(group)
            if s >= before:
                key = data[s - before:e]
                ip = cache.get(key, "")
                if ip == "":
                    ip = cache[key] = _normalise(m, v6)
            else:
                ip = _normalise(m, v6)
            if ip is None or ip not in wanted:
                continue
            start = data.rfind("\n", 0, s) + 1
            starts = out.get(ip)
            if starts is None:
                starts = out[ip] = []
            elif starts[-1] == start:
                continue                    # this line is already counted
            if check_received:
                end = data.find("\n", s)
                if data.find("Received:", start, end if end >= 0 else len(data)) >= 0:
                    continue
            starts.append(start)
    # IPv4 and IPv6 matches come in two runs (::ffff:a.b.c.d is an IPv4 address written by the second)
    return {ip: _dedupe(sorted(starts)) for ip, starts in out.items()}


def _normalise(m: re.Match[str], v6: bool) -> str | None:
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
            for raw in chunks:
                data = raw.decode("utf-8", "replace")
                records = opens_records(data)
                for ip, starts in _line_starts(data, wanted, keep_rec, cache).items():
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
                        after, text = evidence_at(data, start, records)
                        if judge.counts_for(text, ip):
                            s.found = True
                            s.times.seen(clock.parse(line_text(text)))
                            if len(s.lines) < keep:
                                s.lines.append(text)
                    tries = 0
                    for start in reversed(starts):      # the chunk's last counted line with a time
                        _, text = evidence_at(data, start, records)
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
