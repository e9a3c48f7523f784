"""Files of the incident store: safe names from untrusted text, atomic writes, names never reused,
and the orig_email.txt format."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

SEGMENT_MAX = 100
# Names the store itself uses at the top of the incident folder: never a domain's folder.
_RESERVED = {"unmatched", "index.sqlite"}


def safe_segment(name: str, fallback: str = "unknown") -> str:
    """An untrusted name (a domain from a registry answer) as one harmless path segment."""
    text = name.strip().lower()
    with contextlib.suppress(UnicodeError, ValueError):
        text = text.encode("idna").decode("ascii")  # an IDN keeps a readable, unique ASCII form
    text = re.sub(r"[^a-z0-9._-]+", "_", text)      # no '/', '\\', NUL, spaces, control characters
    text = re.sub(r"\.{2,}", ".", text)              # no '..'
    text = text.strip("._-")                         # no leading dot (hidden file) or empty label
    text = text[:SEGMENT_MAX].rstrip("._-")
    if text in _RESERVED or text.startswith("index.sqlite"):
        text = f"{text}_domain"  # never the index or the unmatched folder
    return text or fallback


def json_bytes(items: list[object]) -> bytes:
    """A readable UTF-8 JSON list, one item a line (json's C encoder: an indented dump is written by
    its pure-Python one, ten times slower on a bulk run's thousand findings files); escaped
    (\\udcXX) where registry text holds what UTF-8 cannot write (a lone surrogate), rather than
    failing to write the incident."""
    try:
        lines = [json.dumps(item, ensure_ascii=False, default=str) for item in items]
        return ("[\n" + ",\n".join(lines) + "\n]\n").encode()
    except UnicodeEncodeError:
        return ("[\n" + ",\n".join(json.dumps(item, default=str) for item in items) + "\n]\n").encode()


def atomic_write(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename: a reader sees
    the old file or the new one, never half of one. ``sync=False`` for a copy of what the index holds
    (no fsync: after a power cut it may be missing, never torn, and the index still has it)."""
    tmp = staged(path.parent, data, sync=sync)
    try:
        os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise


def staged(folder: Path, data: bytes, *, sync: bool = True) -> Path:
    """`data` in a new hidden temporary file of `folder` (synced unless ``sync=False``), to be renamed
    into place (``os.replace``) when the time comes, or ``discard``-ed."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=str(folder))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        discard(Path(tmp))
        raise
    return Path(tmp)


def discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_fresh(path: Path, data: bytes) -> None:
    """Write `data` to `path` in a folder just made for it (``mkdir`` succeeded: nobody else writes
    there, and nothing lists it until the index does): created exclusively, no temporary file and
    rename, which cost a second directory change per file (a new incident has a dozen files)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_new(folder: Path, stem: str, suffix: str, data: bytes) -> Path:
    """Write `data` under a name not used before (stem, stem-2, stem-3...), atomically."""
    for n in range(1, 10_000):
        path = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)  # the name is ours; fill it atomically
        atomic_write(path, data)
        return path
    raise FileExistsError(f"no free name for {stem}{suffix} in {folder}")  # pragma: no cover


def orig_email_text(subject: str, body: str, to: Sequence[str]) -> str:
    """The report as written, in the old tool's orig_email.txt spirit: headers, blank line, body."""
    return f"To: {', '.join(to)}\nSubject: {subject}\n\n{body}"


def read_orig_email(text: str) -> tuple[list[str], str, str]:
    """(to, subject, body) back from orig_email_text's format."""
    head, _, body = text.partition("\n\n")
    fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
    to = [a.strip() for a in fields.get("To", "").split(",") if a.strip()]
    return to, fields.get("Subject", ""), body
