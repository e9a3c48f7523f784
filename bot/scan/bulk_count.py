"""Pass 1 of the bulk path: whole chunks counted at C speed, optionally in two processes.

One bytes regex per address family runs over each chunk (``findall``) and the (context, address,
arrow) tuples are counted with ``Counter``: no Python work per line. The patterns start at the first
``.`` (IPv4) or ``:`` (IPv6) of an address, literals the regex engine finds fast; the first octet or
group, and the few bytes of context written before it, come from fixed-width lookbehinds.
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.scan import roles

# Bytes of context kept before an address (enough for "client ", "rhost=", "SRC="), only when they
# end in a word and a separator: a cue. Other contexts (ports, arrows) are not kept, so that the
# number of distinct (context, address) pairs stays small.
CTX = 7


def _v4_pattern() -> bytes:
    # Starts at the first dot: a literal, which the regex engine finds fast. The first octet and the
    # context before it are taken with fixed-width lookbehinds (one per octet width).
    alts = []
    for w in (3, 2, 1):
        d = rb"\d{%d}" % w
        alts.append(rb"(?<=([\s\S]{%d}[A-Za-z=:\"'][^\w.:\n]%s)\.)" % (CTX - 2, d))
        # A ':' may come before ("ipv4:1.2.3.4", "ip:1.2.3.4"), but not as the end of an IPv6
        # run ("::ffff:1.2.3.4" is the IPv6 pattern's).
        alts.append(rb"(?<=(?<![\w.])(?:(?<!:)|(?<!::)(?<!:[0-9A-Fa-f]:)(?<!:[0-9A-Fa-f]{2}:)"
                    rb"(?<!:[0-9A-Fa-f]{3}:)(?<!:[0-9A-Fa-f]{4}:))(%s)\.)" % d)
    return (rb"\.(?=\d{1,3}\.\d{1,3}\.\d{1,3}(?!\d))(?:" + b"|".join(alts)
            + rb")(\d{1,3}\.\d{1,3}\.\d{1,3})(?![\w~]|-[A-Za-z]|\.\d(?!\d{0,4}(?:\s>|:\s)))" + _TAIL)


def _v6_pattern() -> bytes:
    # Starts at the first colon, for the same reason; the hex group before it comes from a lookbehind.
    alts = []
    for w in (4, 3, 2, 1, 0):
        h = (rb"[0-9A-Fa-f]{%d}" % w) if w else b""
        alts.append(rb"(?<=([\s\S]{%d}[A-Za-z=:\"'][^\w.:%%\n]%s):)" % (CTX - 2, h))
        alts.append(rb"(?<=(?<![\w.:%%])(%s):)" % h)
    rest = rb"(?:[0-9A-Fa-f:]{1,30}?(?<=:)\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f:]{1,44})"
    # Cheap exclusions first: the colon must be the first of its run (not inside a MAC or inside
    # an address already rejected), and not the one of a time.
    return (rb":(?=[0-9A-Fa-f]{0,4}:)"
            rb"(?<!:[0-9A-Fa-f]:)(?<!:[0-9A-Fa-f]{2}:)(?<!:[0-9A-Fa-f]{3}:)(?<!:[0-9A-Fa-f]{4}:)"
            rb"(?!\d\d:\d\d(?::\d\d)?(?![:0-9A-Fa-f]))"
            rb"(?![0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}:)"
            rb"(?:" + b"|".join(alts) + rb")(" + rest + rb")" + _TAIL)


# After the address: an optional port, then what tells its role from the right: an arrow
# ("A:p -> B", tcpdump "A.p > B") or the rest of a Common Log Format head ("A - user [date").
_TAIL = rb"\]?(?:[:.]\d{1,5})?(\s?-{1,2}>|\s>\s| - \S+ \[)?"
V4 = re.compile(_v4_pattern())
V6 = re.compile(_v6_pattern())
# Terminal colours (Docker, Gitea logs) are not text: "\x1b[33m1.2.3.4" hides the address from the
# patterns. The line path drops them too (scanner._ANSI).
_ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")


def plain(data: bytes) -> bytes:
    """``data`` without terminal colour sequences."""
    return _ANSI.sub(b"", data) if b"\x1b" in data else data


def split_key(key: tuple[bytes, ...], v6: bool) -> tuple[bytes, bytes, bytes]:
    """(context, raw address, arrow) of one findall tuple.

    The lookbehind groups come in pairs per width: (context + first part) of the alternative with
    context, then (first part) of the one without.
    """
    ctx = head = b""
    for i, g in enumerate(key[:-2]):
        if g:
            if i % 2 == 0:
                ctx, head = g[:CTX], g[CTX:]
            else:
                head = g
            break
    return ctx, head + (b":" if v6 else b".") + key[-2], key[-1]


Key = tuple[bytes, ...]


@dataclass
class Counted:
    """Pass 1's result for a part of the input: mentions per (context, raw address, arrow), and line
    counts. Keys come roughly in order of first appearance (IPv4 before IPv6 within a part)."""

    tuples: Counter[tuple[bytes, bytes, bytes]] = field(default_factory=Counter)
    lines: int = 0
    received: int = 0
    own: Counter[bytes] = field(default_factory=Counter)   # raw addresses written after an own name

    def merge(self, other: Counted) -> None:
        """Add the counts of ``other`` (the input that follows this one)."""
        self.lines += other.lines
        self.received += other.received
        self.tuples.update(other.tuples)
        self.own.update(other.own)


def own_names_pattern(names: tuple[str, ...]) -> bytes | None:
    """A bytes pattern for "fw1.mydomain.com[ADDR]" (the address is group 1), as the line path reads
    own host names; None when no names are given."""
    if not names:
        return None
    alts = b"|".join(re.escape(n.encode("utf-8", "replace")) for n in names)
    return rb"(?i)(?<![\w-])(?:" + alts + rb")\s*[\[(]\s*([0-9A-Fa-f:.]{2,45})"


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


def count_ranges(ranges: list[Range], size: int, keep_received: bool,
                 own_names: bytes | None = None) -> Counted:
    """Pass 1 over some ranges of the input (``own_names``: own_names_pattern())."""
    own_re = re.compile(own_names) if own_names else None
    raw4: Counter[Key] = Counter()
    raw6: Counter[Key] = Counter()
    acc = Counted()
    roles_of: dict[bytes, bytes] = {}
    for r in ranges:
        for data in iter_chunks(r, size):
            acc.lines += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            if not keep_received and b"Received:" in data:
                kept = [line for line in data.split(b"\n") if b"Received:" not in line]
                acc.received += data.count(b"\n") + 1 - len(kept)
                data = b"\n".join(kept)
            # Counter.update with a list counts in C, straight into the totals.
            raw4.update(V4.findall(data))
            if b":" in data:
                raw6.update(V6.findall(data))
            if own_re is not None:
                acc.own.update(own_re.findall(data))
            if len(raw4) + len(raw6) > FOLD_AT:     # contexts that vary a lot (user names...)
                _fold(raw4, False, acc, roles_of)
                _fold(raw6, True, acc, roles_of)
    _fold(raw4, False, acc, roles_of)
    _fold(raw6, True, acc, roles_of)
    return acc


FOLD_AT = 200_000   # distinct raw keys held before they are folded into (role, address, arrow)
ROLE_MARK = {1: b"from ", -1: b"to ", 0: b""}   # what a folded context says


def ctx_role(ctx: bytes) -> int:
    """+1 (source), -1 (destination) or 0 for the context bytes written before an address."""
    # the context may reach into the previous line: only this line's part counts
    score = roles.context_score(ctx.rsplit(b"\n", 1)[-1].decode("utf-8", "replace"))
    if score is None or -2 < score < 3:
        return 0
    return 1 if score > 0 else -1


# A product name right before ("Chrome/121.0.0.0"): a version, as addresses._PRODUCT_BEFORE says.
# Only names that fit in the CTX bytes are seen here.
_PRODUCT_CTX = re.compile(rb"(?:^|[^A-Za-z])[A-Z][a-z]+/$")
_NOT_AN_ADDRESS = b"\0"


def _fold(totals: Counter[Key], v6: bool, acc: Counted, roles_of: dict[bytes, bytes]) -> None:
    """Move raw counts into ``acc.tuples``, their context reduced to the role it gives."""
    out = acc.tuples
    for k, n in totals.items():
        ctx, raw, arrow = split_key(k, v6)
        mark = roles_of.get(ctx)
        if mark is None:
            mark = roles_of[ctx] = _NOT_AN_ADDRESS if not v6 and _PRODUCT_CTX.search(ctx) \
                else ROLE_MARK[ctx_role(ctx)]
        if mark is not _NOT_AN_ADDRESS:
            out[(mark, raw, arrow)] += n
    totals.clear()


MAX_PIECE = 1 << 24


PARALLEL_MIN = 48 << 20   # bytes; smaller inputs are counted in this process


def count_parallel(paths: list[str], size: int, keep_received: bool, workers: int,
                   own_names: bytes | None = None) -> Counted:
    """Pass 1, split over processes for big inputs: this one counts the first part while worker
    processes count the others; the parts are merged in input order."""
    total = sum(os.path.getsize(p) for p in paths)
    if workers <= 0:
        workers = min(2, os.cpu_count() or 1) if total >= PARALLEL_MIN else 1
    parts = [p for p in plan(paths, workers) if p] if workers > 1 else []
    if len(parts) <= 1:
        return count_ranges([Range(p, 0, os.path.getsize(p)) for p in paths], size, keep_received, own_names)
    # Imported here: multiprocessing pulls in socket, and the scanner imports no network module.
    import multiprocessing

    # fork is fast, but not safe once other threads run (the bot's servers): then spawn.
    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() \
        else "spawn"
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(len(parts) - 1) as pool:
        pending = [pool.apply_async(count_ranges, (p, size, keep_received, own_names)) for p in parts[1:]]
        acc = count_ranges(parts[0], size, keep_received, own_names)
        for job in pending:
            acc.merge(job.get())
    return acc
