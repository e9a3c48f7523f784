"""The scan itself: lines in, ranked attacker candidates with their evidence out.

Input is read as a stream (files in binary chunks), so memory does not grow with the input: only
per-address counters and a capped excerpt are kept. Invalid UTF-8 is replaced, NUL bytes are kept
as data, very long lines are cut into pieces of at most ``MAX_LINE`` bytes.
"""

from __future__ import annotations

import codecs
import gzip
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from bot.config import ScanConfig
from bot.errors import InputError
from bot.models import Role, ScanResult
from bot.scan import addresses, bulk, roles
from bot.scan.ranking import OwnNetworks, Tally, rank
from bot.scan.timestamps import Clock, zone

BULK_MIN_BYTES = 8 << 20    # from this input size on (and without a selector), the bulk path is used
MAX_LINE = 1 << 20          # bytes; a longer line is cut (the rest is read as further lines)
CHUNK = 1 << 20
RECEIVED = "Received:"
GZIP_MAGIC = b"\x1f\x8b"
# A cheap test that a line may hold an address at all: a digit-dot-digit or two colons.
_MAYBE = re.compile(r"\d\.\d|:[0-9A-Fa-f]*:")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _Scan:
    """State of one scan (one call of scan_lines); never shared between scans."""

    def __init__(self, cfg: ScanConfig, select: str | None, keep_received: bool,
                 now: datetime | None) -> None:
        self.keep = max(0, cfg.excerpt_lines)
        self.keep_received = keep_received
        self.own = OwnNetworks(cfg.own_networks, cfg.own_hostnames)
        names = [h for h in cfg.own_hostnames if addresses.normalise(h) is None]
        # "fw1.mydomain.com[1.2.3.4]": a whole name (or a subdomain of it), not "notmydomain.com"
        alts = "|".join(re.escape(h) for h in names)
        self.own_names = re.compile(r"(?i)(?<![\w-])(?:" + alts + r")\s*[\[(]\s*$") if names else None
        self.clock = Clock(zone(cfg.timezone), now)
        self.tallies: dict[str, Tally] = {}
        self.lines_read = 0
        self.lines_used = 0
        self.skipped_received = 0
        self.nonblank = False
        self.selected_ip: str | None = None
        self.select_string: str | None = None
        self.fields: tuple[str, ...] = ()
        self.needle: re.Pattern[str] | None = None
        if select:
            ip = addresses.normalise(select)
            if ip is not None:
                if ip in self.own:
                    raise InputError(f"{select} is in your own networks (config scan.own_networks)")
                self.selected_ip = ip
                # A quick test before parsing a line: its IPv4 text, leading zeros allowed
                # ("010.001.002.003"). IPv6 has too many spellings (case, zeros, "::" anywhere or
                # nowhere, as Java writes it): addresses.find decides.
                if ":" not in ip:
                    self.needle = re.compile(r"(?<!\d)" + r"\.".join(f"0{{0,2}}{o}" for o in ip.split("."))
                                             + r"(?!\d)")
            else:
                self.select_string = select

    def feed(self, line: str) -> None:
        self.lines_read += 1
        if not self.nonblank and line.strip():
            self.nonblank = True
        if not self.keep_received and RECEIVED in line:
            self.skipped_received += 1
            return
        if line.startswith("#Fields:"):     # W3C extended log header (IIS): names the columns
            self.fields = tuple(line[8:].split())     # (kept when a selector isolates other lines)
        if self.select_string is not None and self.select_string not in line:
            return
        if self.needle is not None and self.needle.search(line) is None:
            return
        if not _MAYBE.search(line):
            if self.selected_ip is None:
                self.lines_used += 1
            return
        if "\x1b" in line:
            line = _ANSI.sub("", line)      # terminal colours (Gitea, Docker logs) are not text
        found = addresses.find(line)
        if self.selected_ip is not None and not any(f.ip == self.selected_ip for f in found):
            return
        self.lines_used += 1
        if not found:
            return
        self._count(line, found)

    def _count(self, line: str, found: list[addresses.Found]) -> None:
        scored = roles.score_line(line, found)
        if self.fields:
            scored = roles.by_fields(line, scored, self.fields)
        top = roles.attacker_index(scored)
        when = self.clock.parse(line)
        text = line.rstrip("\r\n")
        seen: dict[str, Tally] = {}
        top_ip = scored[top].found.ip if top is not None else None
        for s in scored:
            ip = s.found.ip
            if ip in self.own or self._after_own_name(line, s.found):
                continue
            t = seen.get(ip)
            if t is None:
                t = self.tallies.get(ip)
                if t is None:
                    t = self.tallies[ip] = Tally(self.lines_read)
                t.add(text, when, self.keep)
                seen[ip] = t
                if ip == top_ip:
                    t.source_count += 1
                elif s.role is Role.DESTINATION:
                    t.dest_count += 1

    def _after_own_name(self, line: str, f: addresses.Found) -> bool:
        return self.own_names is not None and bool(self.own_names.search(line, 0, f.start))

    def result(self, allow_non_global: bool) -> ScanResult:
        if not self.nonblank:
            raise InputError("the input is empty")
        cands = rank(self.tallies, allow_non_global=allow_non_global, first=self.selected_ip)
        if self.selected_ip is not None and self.selected_ip not in self.tallies:
            cands = [*rank({self.selected_ip: Tally(0)}, allow_non_global=True), *cands]
        return ScanResult(
            candidates=tuple(cands), lines_read=self.lines_read, lines_used=self.lines_used,
            lines_skipped_received=self.skipped_received, selected=self.selected_ip,
            select_string=self.select_string,
        )


def _decode(line: str | bytes) -> str:
    if isinstance(line, bytes):
        return line.decode("utf-8", "replace")
    return line


def scan_lines(lines: Iterable[str | bytes], cfg: ScanConfig, *, select: str | None = None,
               keep_received: bool | None = None, allow_non_global: bool | None = None,
               now: datetime | None = None) -> ScanResult:
    """Scan ``lines`` for attacker candidates.

    ``select`` is the old tool's optional argument: an IP names the attacker (its evidence is the
    lines that mention it), any other string keeps only the lines containing it. ``keep_received``
    and ``allow_non_global`` default to the config. ``now`` fixes the clock used to infer the year
    of syslog timestamps (tests). Raises InputError when the input is empty.
    """
    scan = _Scan(cfg, select, cfg.keep_received if keep_received is None else keep_received, now)
    feed = scan.feed
    for raw in lines:
        feed(_decode(raw))
    return scan.result(cfg.allow_non_global if allow_non_global is None else allow_non_global)


def is_utf16(head: bytes) -> bool:
    """The start of a file is UTF-16 text: a byte order mark, then ASCII-range characters (a NUL in
    each pair), as PowerShell 5's ">" and Windows exports write it."""
    if head[:2] == codecs.BOM_UTF16_LE:
        pairs = head[2:66]
        return len(pairs) >= 2 and pairs[1::2].count(0) >= len(pairs) // 4
    if head[:2] == codecs.BOM_UTF16_BE:
        pairs = head[2:66]
        return len(pairs) >= 2 and pairs[0::2].count(0) >= len(pairs) // 4
    return False


def read_lines(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The lines of a file as bytes (gzip is uncompressed, UTF-16 text turned into UTF-8), read in
    chunks; raises InputError for what cannot be read."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path}: is a directory")
    try:
        raw = open(p, "rb")  # noqa: SIM115 (closed below; a generator keeps it open while read)
        fh: BinaryIO | gzip.GzipFile = raw
        if raw.peek(2)[:2] == GZIP_MAGIC:     # a rotated log ("auth.log.2.gz") is read uncompressed
            fh = gzip.GzipFile(fileobj=raw, mode="rb")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    with raw, fh:
        rest = b""
        decoder: codecs.IncrementalDecoder | None = None
        first = True
        while True:
            try:
                chunk = fh.read(CHUNK)
            except (OSError, EOFError, zlib.error) as exc:   # gzip: a bad or truncated file
                raise InputError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from exc
            if not chunk:
                break
            if first and is_utf16(chunk):
                decoder = codecs.getincrementaldecoder("utf-16")("replace")
            first = False
            if decoder is not None:
                chunk = decoder.decode(chunk).encode("utf-8", "surrogatepass")
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            yield from parts
            while len(rest) > MAX_LINE:
                yield rest[:MAX_LINE]
                rest = rest[MAX_LINE:]
        if rest:
            yield rest


def _needs_decoding(path: str | os.PathLike[str]) -> bool:
    """Gzip or UTF-16 input takes the line path, which decodes it (the bulk path reads bytes)."""
    if not Path(path).is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(66)
    except OSError:
        return False
    return head[:2] == GZIP_MAGIC or is_utf16(head)


def scan_paths(paths: Iterable[str | os.PathLike[str]], cfg: ScanConfig, *, select: str | None = None,
               keep_received: bool | None = None, allow_non_global: bool | None = None,
               now: datetime | None = None) -> ScanResult:
    """scan_lines over the files ``paths`` (``-`` is not special here), read as one stream.

    Inputs of BULK_MIN_BYTES and more, without ``select``, take the bulk path (bot.scan.bulk): the
    same result, computed on whole chunks; counts are of mentions and only the top candidates get
    evidence lines and first/last seen (collect_evidence gives them for any others).
    """
    paths = list(paths)
    if not paths:
        raise InputError("no input file given")
    for p in paths:
        if Path(p).is_dir():
            raise InputError(f"{p}: is a directory")
        if not Path(p).exists():
            raise InputError(f"{p}: no such file")

    total = sum(Path(p).stat().st_size for p in paths if Path(p).is_file())
    # The bulk path reads files by size and position: pipes (<(zcat x.gz), /dev/stdin) take the line path.
    if select is None and total >= BULK_MIN_BYTES and all(Path(p).is_file() for p in paths) \
            and not any(_needs_decoding(p) for p in paths):
        return bulk.scan_bulk(
            [str(p) for p in paths], cfg,
            keep_received=cfg.keep_received if keep_received is None else keep_received,
            allow_non_global=cfg.allow_non_global if allow_non_global is None else allow_non_global,
            now=now)

    def stream() -> Iterator[bytes]:
        for p in paths:
            yield from read_lines(p)

    return scan_lines(stream(), cfg, select=select, keep_received=keep_received,
                      allow_non_global=allow_non_global, now=now)
