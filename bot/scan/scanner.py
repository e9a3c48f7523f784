"""The scan itself: lines in, ranked attacker candidates with their evidence out.

Every input goes through the same per-line rules (``engine``); what differs with the input's size
is only how much is kept along the way. Below BULK_MIN_BYTES every address keeps its first
``excerpt_lines`` lines and its first/last seen; from there on (a big file) the lines are counted
without keeping any, in two processes from PARALLEL_MIN bytes on (``bulk``), and the top candidates
get their evidence from a second, short read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from bot.config import ScanConfig
from bot.errors import InputError
from bot.models import ScanResult
from bot.scan import bulk
from bot.scan.chunks import Range, iter_chunks
from bot.scan.engine import Engine
from bot.scan.ranking import rank
from bot.scan.reading import needs_decoding, read_lines
from bot.scan.tally import Tally

__all__ = ["BULK_MIN_BYTES", "read_lines", "result_of", "scan_lines", "scan_paths"]

BULK_MIN_BYTES = 8 << 20    # from this input size on (and without a selector), no lines are kept
CHUNK = 1 << 23


def result_of(engine: Engine, allow_non_global: bool) -> ScanResult:
    """The ScanResult of a finished scan."""
    if not engine.nonblank:
        raise InputError("the input is empty")
    tallies = engine.counts.tallies
    selected = engine.selected_ip
    cands = rank(tallies, allow_non_global=allow_non_global, first=selected)
    unmatched = None
    if selected is not None and selected not in tallies:
        cands = [*rank({selected: Tally(0)}, allow_non_global=True), *cands]
        unmatched = f"no usable line of the input names {selected}"
    elif engine.select_string is not None and engine.lines_used == 0:
        unmatched = f"no line of the input contains {engine.select_string!r}"
    return ScanResult(
        candidates=tuple(cands), lines_read=engine.lines_read, lines_used=engine.lines_used,
        lines_skipped_received=engine.skipped_received, lines_ambiguous=engine.ambiguous,
        lines_crowded=engine.crowded, selected=selected,
        select_string=engine.select_string, unmatched_selector=unmatched,
        approximate=engine.counts.approximate, summarised=engine.counts.folded,
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
    engine = Engine(cfg, select=select, now=now,
                    keep_received=cfg.keep_received if keep_received is None else keep_received)
    engine.finish(engine.feed_lines(_decode(raw) for raw in lines))
    return result_of(engine, cfg.allow_non_global if allow_non_global is None else allow_non_global)


def scan_paths(paths: Iterable[str | os.PathLike[str]], cfg: ScanConfig, *, select: str | None = None,
               keep_received: bool | None = None, allow_non_global: bool | None = None,
               now: datetime | None = None) -> ScanResult:
    """scan_lines over the files ``paths`` (``-`` is not special here), read as one stream.

    Inputs of BULK_MIN_BYTES and more, without ``select``, are counted without keeping lines
    (bot.scan.bulk): only the top candidates get evidence lines and first/last seen
    (collect_evidence gives them for any others).
    """
    paths = list(paths)
    if not paths:
        raise InputError("no input file given")
    for p in paths:
        if Path(p).is_dir():
            raise InputError(f"{p}: is a directory")
        if not Path(p).exists():
            raise InputError(f"{p}: no such file")
    keep_rec = cfg.keep_received if keep_received is None else keep_received
    allow = cfg.allow_non_global if allow_non_global is None else allow_non_global
    files = all(Path(p).is_file() for p in paths) and not any(needs_decoding(p) for p in paths)
    total = sum(Path(p).stat().st_size for p in paths if Path(p).is_file())
    if select is None and files and total >= BULK_MIN_BYTES:
        return bulk.scan_bulk([str(p) for p in paths], cfg, keep_received=keep_rec, allow_non_global=allow,
                              now=now)
    engine = Engine(cfg, select=select, keep_received=keep_rec, now=now)
    if files:
        # regular files: read in chunks of whole lines, as the bulk path does
        pos = 0
        for p in paths:
            try:
                for data in iter_chunks(Range(str(p), 0, os.path.getsize(p)), CHUNK):
                    engine.feed_chunk(data, pos)
                    pos += len(data)
            except OSError as exc:
                raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from exc
        engine.finish(pos)
    else:
        # pipes (<(zcat x.gz), /dev/stdin), gzip and UTF-16 files: decoded as a stream of lines
        def stream() -> Iterator[str]:
            for p in paths:
                for raw in read_lines(p):
                    yield _decode(raw)
        engine.finish(engine.feed_lines(stream()))
    return result_of(engine, allow)
