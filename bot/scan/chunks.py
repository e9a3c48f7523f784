"""Reading big inputs by byte ranges: whole lines in chunks, split at line starts for parallel work."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_PIECE = 1 << 24     # a line longer than this is given in pieces
# Terminal colours (Docker, Gitea logs) are not text: "\x1b[33m1.2.3.4" hides the address.
_ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")


def plain(data: bytes) -> bytes:
    """``data`` without terminal colour sequences."""
    return _ANSI.sub(b"", data) if b"\x1b" in data else data


@dataclass(frozen=True)
class Range:
    path: str
    start: int
    end: int


def plan(paths: list[str], parts: int) -> list[list[Range]]:
    """Split the input into ``parts`` consecutive, newline-aligned byte ranges (one list per part)."""
    sizes = [os.path.getsize(p) for p in paths]
    total = sum(sizes)
    cuts = [total * i // parts for i in range(1, parts)]
    out: list[list[Range]] = [[] for _ in range(parts)]
    part = 0
    pos = 0   # position in the concatenated input
    for path, size in zip(paths, sizes, strict=True):
        start = 0
        while part < parts - 1 and cuts[part] < pos + size:
            cut = _next_line_start(path, cuts[part] - pos)
            if cut > start:
                out[part].append(Range(path, start, cut))
                start = cut
            part += 1
        if start < size:
            out[part].append(Range(path, start, size))
        pos += size
    return out


def _next_line_start(path: str, offset: int) -> int:
    with open(path, "rb") as fh:
        fh.seek(max(0, offset))
        while True:
            block = fh.read(1 << 16)
            if not block:
                return fh.tell()
            i = block.find(b"\n")
            if i >= 0:
                return fh.tell() - len(block) + i + 1


def iter_chunks(r: Range, size: int) -> Iterator[bytes]:
    """The bytes of ``r`` in pieces of about ``size`` bytes that end at a line end (or at the end),
    terminal colour sequences removed."""
    with open(r.path, "rb") as fh:
        fh.seek(r.start)
        left = r.end - r.start
        rest = b""
        while left > 0:
            data = fh.read(min(size, left))
            if not data:
                break
            left -= len(data)
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0 and len(data) < MAX_PIECE and left > 0:
                rest = data
                continue
            if cut < 0:
                cut = len(data) - 1
            rest = data[cut + 1:]
            yield plain(data[:cut + 1])
        if rest:
            yield plain(rest)
