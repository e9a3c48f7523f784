"""Evidence for named addresses on a big input: one more read, for as many addresses as asked.

The bulk path (bot.scan.bulk) gives evidence lines and first/last seen to its top candidates only;
whoever reports more of them (``incident report -A``) asks here for the rest, once for all of them.
The input is read in chunks with the scanner's token patterns (addresses.TOKENS4/TOKENS6); each
address written is normalised (cached by its few surrounding bytes) and looked up in the wanted set:
no per-address search and no per-line Python work for lines that mention none of them. Memory stays
bounded: per address a counter, at most ``excerpt_lines`` lines and its latest line.
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
from bot.scan.ranking import clip
from bot.scan.timestamps import Clock, zone

__all__ = ["collect_evidence", "line_text", "mentions", "usable"]

CHUNK = 1 << 23
# Bytes before an address's first '.' (IPv4) or ':' (IPv6) that decide where its text starts: the
# first group (up to 3 digits or 4 hex digits) and the byte before it. Cache keys carry them.
_BEFORE = {False: 4, True: 5}


def usable(line: bytes, keep_received: bool) -> bool:
    """A line that may be evidence: mail headers (``Received:``) only when asked to keep them."""
    return keep_received or b"Received:" not in line


def mentions(line: bytes, ip: str) -> bool:
    """The line really writes ``ip`` (addresses.find agrees with the bytes regex)."""
    return any(f.ip == ip for f in addresses.find(line.decode("utf-8", "replace")))


def line_text(raw: bytes) -> str:
    """An evidence line as kept: decoded, without its line end, cut to ranking.MAX_EVIDENCE_CHARS."""
    return clip(raw.decode("utf-8", "replace").rstrip("\r\n"))


@dataclass
class _Seen:
    count: int = 0
    lines: list[bytes] = field(default_factory=list)
    first: bytes | None = None
    last: bytes | None = None


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


def _line(data: str, start: int) -> bytes:
    end = data.find("\n", start)
    return data[start:end if end >= 0 else len(data)].encode("utf-8", "surrogatepass")


def _dedupe(starts: list[int]) -> list[int]:
    return [s for i, s in enumerate(starts) if i == 0 or s != starts[i - 1]]


def collect_evidence(paths: Iterable[str | os.PathLike[str]], cfg: ScanConfig, ips: Collection[str], *,
                     keep_received: bool | None = None, now: datetime | None = None,
                     chunk_size: int = CHUNK) -> dict[str, Evidence]:
    """Evidence for each address of ``ips`` (normalised text forms) found in ``paths``, read once.

    Per address: its first ``cfg.excerpt_lines`` usable lines that mention it (``Received:`` lines
    only with ``keep_received``, default from the config), the number of usable lines mentioning it,
    and first/last seen from its first and last such line (input order is taken as time order, as
    on the bulk path; syslog years and zones as ``cfg.timezone`` and ``now`` say). Addresses not
    found are left out. Raises InputError if a file cannot be read.
    """
    keep = max(0, cfg.excerpt_lines)
    keep_rec = cfg.keep_received if keep_received is None else keep_received
    wanted = frozenset(ips)
    seen: dict[str, _Seen] = {}
    cache: dict[str, str | None] = {}
    if not wanted:
        return {}
    for p in paths:
        try:
            chunks = iter_chunks(Range(os.fspath(p), 0, os.path.getsize(p)), chunk_size)
            for raw in chunks:
                data = raw.decode("utf-8", "replace")
                for ip, starts in _line_starts(data, wanted, keep_rec, cache).items():
                    s = seen.get(ip)
                    if s is None:
                        s = seen[ip] = _Seen()
                    s.count += len(starts)
                    for start in starts:
                        if s.first is not None and len(s.lines) >= keep:
                            break
                        line = _line(data, start)
                        if mentions(line, ip):
                            if s.first is None:
                                s.first = line
                            if len(s.lines) < keep:
                                s.lines.append(line)
                    for start in reversed(starts):
                        line = _line(data, start)
                        if mentions(line, ip):
                            s.last = line
                            break
                if len(cache) > 200_000:
                    cache.clear()
        except OSError as exc:
            raise InputError(f"{os.fspath(p)}: cannot read ({exc.strerror or exc})") from exc
    clock = Clock(zone(cfg.timezone), now)
    out = {}
    for ip, s in seen.items():
        lines = tuple(line_text(raw) for raw in s.lines)
        first = clock.parse(line_text(s.first)) if s.first is not None else None
        last = clock.parse(line_text(s.last)) if s.last is not None else None
        out[ip] = Evidence(lines=lines, total_lines=s.count, first_seen=first, last_seen=last)
    return out
