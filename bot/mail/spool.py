"""Taking a mail in from bytes or a stream without ever holding more than a cap in memory.

A stream is read in chunks. Up to ``max_bytes`` the chunks are kept in memory for parsing; past
that only the first ``max_header_bytes`` stay (the header block, so that a rejected mail can still
be matched and filed). When the caller names a folder (``keep_in``), every byte read is also
written to a new file there, up to ``max_keep_bytes``, so an oversized mail is kept whole on disk
and never lost; the caller moves that file where it keeps mail (same file system: a rename).
Without ``keep_in`` reading stops one byte past ``max_bytes``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Raw:
    chunks: tuple[bytes, ...]   # the whole mail, when it is at most max_bytes; else ()
    head: bytes                 # its first max_header_bytes
    size: int                   # bytes read (the mail's size when `ended`)
    ended: bool                 # the source was read to its end
    kept: Path | None           # the bytes read, on disk (when asked for)
    error: str = ""             # why reading or keeping stopped early, one line

    @property
    def whole(self) -> bool:
        """`kept` holds the whole mail."""
        return self.kept is not None and self.ended and not self.error

    @property
    def over(self) -> bool:
        return not self.chunks and self.size > 0


def _open_keep(keep_in: Path) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(prefix="mail-", suffix=".eml.part", dir=keep_in)
    return fd, Path(name)


def take(source: bytes | BinaryIO, *, max_bytes: int, max_header_bytes: int, max_keep_bytes: int,
         keep_in: Path | None = None) -> Raw:
    """Read `source` within the caps (see the module docstring). Never raises for a bad stream or a
    folder that cannot be written: `error` says what happened and everything read so far is there."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return Raw((data,) if len(data) <= max_bytes else (), data[:max_header_bytes], len(data), True, None)
    chunks: list[bytes] = []
    head = b""
    size = 0
    ended = False
    error = ""
    fd: int | None = None
    kept: Path | None = None
    if keep_in is not None:
        try:
            fd, kept = _open_keep(keep_in)
        except OSError as exc:
            error = f"cannot keep the mail in {keep_in}: {exc.strerror or exc}"
    limit = max_keep_bytes if fd is not None else max_bytes + 1
    try:
        while size < limit:
            try:
                chunk = source.read(min(CHUNK, limit - size))
            except (OSError, ValueError) as exc:
                error = f"reading stopped after {size} bytes: {getattr(exc, 'strerror', None) or exc}"
                break
            if not chunk:
                ended = True
                break
            size += len(chunk)
            if len(head) < max_header_bytes:
                head += chunk[: max_header_bytes - len(head)]
            if size <= max_bytes:
                chunks.append(chunk)
            else:
                chunks.clear()  # over the cap: only the head (and the file on disk) are kept
            if fd is not None:
                try:
                    _write_all(fd, chunk)
                except OSError as exc:
                    error = f"cannot keep the mail in {keep_in}: {exc.strerror or exc}"
                    os.close(fd)
                    fd = None
                    if kept is not None:
                        kept.unlink(missing_ok=True)
                        kept = None
                    limit = max_bytes + 1
        if not ended and not error and size >= limit and fd is not None:
            error = f"kept only the first {size} bytes (limit {max_keep_bytes})"
    finally:
        if fd is not None:
            os.close(fd)
    if size > max_bytes:
        chunks = []
    return Raw(tuple(chunks), head, size, ended, kept, error)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
