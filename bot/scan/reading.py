"""Reading input files: gzip-compressed and UTF-16 text decoded, very long lines cut.

Input is read as a stream (in binary chunks), so memory does not grow with the input. Invalid UTF-8
is replaced, NUL bytes are kept as data, lines longer than ``MAX_LINE`` bytes are cut into pieces.
"""

from __future__ import annotations

import codecs
import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from bot.errors import InputError

MAX_LINE = 1 << 20          # bytes; a longer line is cut (the rest is read as further lines)
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


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


def needs_decoding(path: str | os.PathLike[str]) -> bool:
    """Gzip or UTF-16 input takes the line path, which decodes it (the bulk path reads bytes)."""
    if not Path(path).is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(66)
    except OSError:
        return False
    return head[:2] == GZIP_MAGIC or is_utf16(head)
