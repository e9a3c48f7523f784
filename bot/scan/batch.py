"""Big chunks of a log, counted shape by shape: the engine's rules, applied to many lines at once.

A chunk's lines are grouped by shape (``engine.Shape``: the line without its digits). For a known
shape every line of the group is checked as the engine checks one line (the same tokens, the same
ones valid) and its addresses are read from its tokens (``columns``: all lines' k-th tokens at
once); the lines that pass are counted together, per column, with ``Counter`` (the counting in C).
A line that does not pass, and the lines of a shape not seen yet, go through the engine one by one.
Which address is the attacker side is the shape's plan (``roles.plan_line``); where it depends on
values (ports, trusted proxies), the lines are sub-grouped by those values and ``roles.resolve``
decides once per sub-group. ASCII lines are read as bytes; the others are decoded.

Session events (``program[pid]``) are collected and applied in input order at the chunk's end.
"""

from __future__ import annotations

import gc
import re
from collections import Counter, deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, combinations, count, repeat
from operator import add, eq, itemgetter
from typing import Any

from bot.scan import addresses, columns, roles
from bot.scan.addresses import Found
from bot.scan.engine import RECEIVED, RECORD_OPEN, Engine
from bot.scan.ranking import NO_HOST
from bot.scan.sessions import SessionEvents
from bot.scan.sessions import tag as session_tag
from bot.scan.shapes import _DIGITS, _SLOW, _V6_BODY, Shape, undated

_RECEIVED = RECEIVED.encode()
_SIX_COLONS = re.compile(rb"(?:[A-Fa-f]*:){6}")
_FIRST = itemgetter(0)
# The shape keys of a line that is only "{" (Engine.RECORD_OPEN): found among the chunk's keys for
# free, where a search of the chunk's bytes for it cost a few percent of the counting time.
_RECORD_KEYS = (RECORD_OPEN.encode(), RECORD_OPEN.encode() + b"\r")
_RARE = 8        # lines of a shape in a chunk below which its IPv6 tokens are masked in its key


def feed_chunk(engine: Engine, data: bytes, pos: int) -> None:
    """Count ``data`` (whole lines, terminal colours removed; input position ``pos``) into
    ``engine``: the same counts as Engine.feed_chunk, without evidence lines and times.

    The cycle collector is paused meanwhile: counting a chunk makes no reference cycles, but it
    allocates tuples and lists by the hundred thousand, and each collection they set off walked
    the chunk's big lists again (about a tenth of the CPU time). It runs again after the chunk."""
    if not gc.isenabled():
        _feed_chunk(engine, data, pos)
        return
    gc.disable()
    try:
        _feed_chunk(engine, data, pos)
    finally:
        gc.enable()


def _feed_chunk(engine: Engine, data: bytes, pos: int) -> None:
    keys = data.translate(None, _DIGITS).split(b"\n")
    raw = data.split(b"\n")
    if data.endswith(b"\n"):
        keys.pop()
        raw.pop()
    by_key = _indexes_by(keys)
    if engine.record or any(k in by_key for k in _RECORD_KEYS):
        # a multi-line JSON record is joined by the engine's line reading
        engine.feed_chunk(data, pos)
        return
    lines = columns.Lines(raw)
    engine.lines_read += len(raw)
    if not engine.nonblank and data.strip():
        engine.nonblank = True
    # Lines of rare keys with a colon are keyed again with their IPv6 tokens masked (each IPv6
    # address would otherwise be a shape of its own); lines of one shape on other dates are one
    # group (engine.shape_keys, plain_keys).
    groups: dict[bytes, list[int]] = {}
    rare: list[int] = []
    for key, idxs in by_key.items():
        if len(idxs) < _RARE and b":" in key:
            rare += idxs
            continue
        shape_key = undated(key)
        if shape_key in groups:
            groups[shape_key] = sorted(groups[shape_key] + idxs)
        else:
            groups[shape_key] = idxs
    if rare:
        rare.sort()
        masked = _masked_keys(b"\n".join([raw[i] for i in rare]))
        for key, js in _indexes_by(masked).items():
            got = groups.setdefault(key, [])
            got += map(rare.__getitem__, js)
    engine.events = SessionEvents()
    shapes = engine.shapes
    work: list[tuple[bytes, list[int]]] = []
    acc = _Chunk(values=engine.token_values)
    for key, idxs in groups.items():
        if b"Received:" in key:
            keep = [i for i in idxs if _RECEIVED not in raw[i]]
            engine.skipped_received += len(idxs) - len(keep)
            idxs = keep
            if not idxs:
                continue
        if key not in shapes:       # a new shape: its first line teaches it (and is counted)
            engine._full(lines[idxs[0]], key, pos + idxs[0], True)
            idxs = idxs[1:]
        if idxs:
            work.append((key, idxs))
    # Session correlation costs a tag per line: it is done for the programs whose address-less
    # lines this chunk holds (and kept up from chunk to chunk while they write such lines).
    programs = set()
    for key, _ in work:
        shape = shapes.get(key)
        if shape is not None and shape.plan is None and shape.session:
            programs.add(shape.session[0])
    engine.session_programs = programs
    for key, idxs in work:
        shape = shapes.get(key)
        if shape is None or shape is _SLOW:     # (None: the shape cache was full and cleared)
            for i in idxs:
                engine._full(lines[i], key, pos + i, False)
        else:
            _group(engine, acc, shape, key, raw, idxs, pos)
    _add(engine, acc, pos)
    engine.replay_sessions()


def _group(engine: Engine, acc: _Chunk, shape: Shape, key: bytes, raw: list[bytes], idxs: list[int],
           pos: int) -> None:
    """Count the lines ``idxs`` of one known shape, all at once: their text joined, each token
    pattern run once over it, and each line checked to hold exactly the shape's tokens."""
    n4, n6 = shape.n4, shape.n6
    lines = columns.Lines(raw)
    if n4 == 0 and n6 == 0:
        _one_by_one(engine, shape, key, lines, idxs, pos)
        return
    joined_bytes = b"\n".join(map(raw.__getitem__, idxs))
    # ASCII text is split as bytes (the same tokens, found faster); other text is decoded first.
    ascii_only = joined_bytes.isascii()
    joined: str | bytes = joined_bytes if ascii_only else joined_bytes.decode("utf-8", "replace")
    if n6 and not _may_hold_v6(shape, key, joined):
        n6 = 0     # (its IPv6 tokens were no address, and none of these lines can hold one)
    split4, split6 = (addresses.SPLIT4_ASCII, addresses.TOKENS6_ASCII) if ascii_only \
        else (addresses.SPLIT4, addresses.TOKENS6)
    if shape.n6 == 0 and _compressed(joined):
        # The group's key masked no IPv6 address (its key was common), so "2001::7" can share it
        # with "12:34:56": lines with a "::" are read under their own masked key, as the engine
        # keys every line.
        pairs = [i for i in idxs if b"::" in raw[i]]
        _masked_one_by_one(engine, raw, lines, pairs, pos)
        idxs = [i for i in idxs if b"::" not in raw[i]]
        if not idxs:
            return
        _group(engine, acc, shape, key, raw, idxs, pos)
        return
    t4 = columns.split(split4, joined, len(idxs), n4, 3) if n4 else None
    t6 = columns.split(split6, joined, len(idxs), n6, 7) if n6 else None
    if (n4 and t4 is None) or (n6 and t6 is None):
        _one_by_one(engine, shape, key, lines, idxs, pos)
        return
    bad: set[int] = set()
    for k in shape.invalid:
        if k >= n4 + n6:
            continue
        vals = columns.values(acc.values, t4, t6, n4, k)
        if vals.count(None) != len(vals):
            bad.update(j for j, v in enumerate(vals) if v is not None)
    cols: list[list[tuple[str, int | None] | None]] = []
    for k in shape.picks:
        vals = columns.values(acc.values, t4, t6, n4, k)
        if None in vals:
            bad.update(j for j, v in enumerate(vals) if v is None)
        cols.append(vals)
    plan = shape.plan
    values_rule = plan is not None and plan.fixed is None
    ports = [columns.ports(t4, t6, n4, k) for k in shape.picks] if values_rule else []   # (colon, dot) groups
    if bad:
        _one_by_one(engine, shape, key, lines, [idxs[j] for j in sorted(bad)], pos)
        good = [j for j in range(len(idxs)) if j not in bad]
        idxs = [idxs[j] for j in good]
        cols = [[col[j] for j in good] for col in cols]
        ports = [([a[j] for j in good], [b[j] for j in good]) for a, b in ports]
        if not idxs:
            return
    if plan is not None and plan.ambiguous:
        engine.ambiguous += len(idxs)
        return
    engine.lines_used += len(idxs)
    if plan is None:
        if shape.session:
            for i in idxs:
                engine._session_line(lines[i], shape.session, pos + i)
        return
    ips: list[list[str]] = [list(map(_FIRST, col)) for col in cols]  # type: ignore[arg-type]
    tags = None
    if shape.session and shape.session[0] in engine.session_programs:
        text = joined.decode("ascii") if isinstance(joined, bytes) else joined
        tags = _tags(None if bad else text, lines, idxs, shape.session)
    if plan.fixed is not None:
        _count(engine, acc, shape, idxs, ips, tags, plan.scores, plan.fixed, pos)
        return
    # The attacker side depends on values: sub-group the lines by what the plan's value rules read.
    trusted = engine.trusted
    listed = sorted({i for lst in plan.lists for i in lst}
                    | ({plan.peer} if plan.peer is not None else set()))
    keyed: list[list[object]] = [columns.port_classes(a, b) for a, b in ports] if plan.port_rule else []
    keyed += [list(map(trusted, ips[k])) for k in listed]
    if keyed and all(col.count(col[0]) == len(col) for col in keyed):
        by_values = {(): list(range(len(idxs)))}     # (the usual case: one sub-group)
    else:
        by_values = _indexes_by(list(zip(*keyed, strict=True)))
    for js in by_values.values():
        j0 = js[0]
        found = [Found(ips[k][j0], 0, 0, columns.port_of(ports[k][0][j0] or ports[k][1][j0])
                       or cols[k][j0][1])  # type: ignore[index]
                 for k in range(len(cols))]
        scores = roles.resolve(plan, found, trusted)
        if len(js) == len(idxs):
            _count(engine, acc, shape, idxs, ips, tags, scores, roles.best(scores), pos)
        else:
            sub = [[col[j] for j in js] for col in ips]
            _count(engine, acc, shape, [idxs[j] for j in js], sub, [tags[j] for j in js] if tags else None,
                   scores, roles.best(scores), pos)


def _may_hold_v6(shape: Shape, key: bytes, joined: str | bytes) -> bool:
    """Whether the lines of ``shape`` (group key ``key``, text ``joined``) may hold an IPv6 address:
    the shape reads one, or the text has what every IPv6 address has, a "::" or six colons between
    hex digits (eight groups, or six and an IPv4 tail). A key with masked IPv6 bodies may."""
    if any(k >= shape.n4 for k in shape.picks):
        return True
    return _compressed(joined) or b":~" in key or _SIX_COLONS.search(key) is not None


def _compressed(joined: str | bytes) -> bool:
    """Whether the text has a "::" (an IPv6 address written with one)."""
    return b"::" in joined if isinstance(joined, bytes) else "::" in joined


def _masked_one_by_one(engine: Engine, raw: list[bytes], lines: columns.Lines, idxs: list[int],
                       pos: int) -> None:
    """Lines read one by one under their keys with IPv6 bodies masked (``shapes.shape_keys``)."""
    if not idxs:
        return
    for i, key in zip(idxs, _masked_keys(b"\n".join([raw[i] for i in idxs])), strict=True):
        engine.read(lines[i], key, pos + i)


def _one_by_one(engine: Engine, shape: Shape, key: bytes, lines: columns.Lines, idxs: list[int],
                pos: int) -> None:
    for i in idxs:
        if not engine._known(lines[i], shape, pos + i):
            engine._full(lines[i], key, pos + i, False)




def _masked_keys(data: bytes) -> list[bytes]:
    """shapes.shape_keys of the lines ``data``, month names taken out once per distinct key (after
    the IPv6 bodies are masked, a few keys stand for many lines)."""
    if b":" in data:
        data = _V6_BODY.sub(b":~", data)
    keys = data.translate(None, _DIGITS).split(b"\n")
    plain = {k: undated(k) for k in dict.fromkeys(keys)}
    return list(map(plain.__getitem__, keys))


def _indexes_by(keys: Sequence[Hashable]) -> dict[Any, list[int]]:
    """The indexes of ``keys`` per distinct key, in order of first appearance (no Python loop per key:
    this runs once per line of a big input)."""
    out: dict[Any, list[int]] = {k: [] for k in dict.fromkeys(keys)}
    deque(map(list.append, map(out.__getitem__, keys), count()), maxlen=0)
    return out


@dataclass
class _Chunk:
    """What the groups of a chunk counted, added to the tallies once at the chunk's end."""

    mentions: list[Iterable[str]] = field(default_factory=list)
    source: list[list[str]] = field(default_factory=list)
    dest: list[Iterable[str]] = field(default_factory=list)
    places: list[tuple[list[str], list[int]]] = field(default_factory=list)   # (column, its lines)
    values: dict[object, tuple[str, int | None] | None] = field(default_factory=dict)


def _count(engine: Engine, acc: _Chunk, shape: Shape, idxs: list[int], ips: list[list[str]],
           tags: list[str | None] | None, scores: Sequence[int], top: int, pos: int) -> None:
    """Add lines ``idxs`` of one shape, whose addresses per column are ``ips``, with the attacker
    side in column ``top`` (-1: none)."""
    skip = [k for k in range(len(ips)) if shape.own_named[k]]
    cols = [col for k, col in enumerate(ips) if k not in skip]
    if not cols:
        return
    repeats = len(cols) > 1 and any(any(map(eq, a, b)) for a, b in combinations(cols, 2))
    if not repeats:
        acc.mentions.extend(cols)
    else:       # an address written twice on a line counts once
        acc.mentions.append(list(chain.from_iterable(set(row) for row in zip(*cols, strict=True))))
    acc.places.extend((col, idxs) for col in cols)
    top_col = ips[top] if top >= 0 and top not in skip else None
    if top_col is not None and not NO_HOST.isdisjoint(top_col):
        # (a line whose best is an address no host sends from: its best other one, as Engine._count)
        rows = list(zip(*ips, strict=True))
        alt = [row[top] if row[top] not in NO_HOST else
               (row[k] if (k := roles.host_best(scores, row)) >= 0 and k not in skip else None)
               for row in rows]
        top_col = alt   # type: ignore[assignment]
        acc.source.append([ip for ip in alt if ip is not None])
    elif top_col is not None:
        acc.source.append(top_col)
    # The hit side, as Engine._count reads it: an address at its first place on the line (where it
    # is written twice, its first column's role), and not the line's attacker side.
    for k, col in enumerate(ips):
        if k != top and k not in skip and scores[k] <= -2:
            earlier = [ips[e] for e in range(k) if e not in skip] if repeats else []
            if earlier or (top_col is not None and any(map(eq, col, top_col))):
                tops: Sequence[str | None] = top_col if top_col is not None else [None] * len(col)
                acc.dest.append([line[0] for line in zip(col, tops, *earlier, strict=True)
                                 if line[0] != line[1] and line[0] not in line[2:]])
            else:
                acc.dest.append(col)
    if tags is not None and top_col is not None:
        assert engine.events is not None
        positions = list(map(add, idxs, repeat(pos)))
        own = engine.own if engine.own_any else None
        if own is not None or None in tags or None in top_col:
            keep = [j for j, (t, ip) in enumerate(zip(tags, top_col, strict=True))
                    if t is not None and ip is not None and (own is None or ip not in own)]
            positions, tags, top_col = ([c[j] for j in keep] for c in (positions, tags, top_col))  # type: ignore[assignment]
        engine.events.columns.append((positions, tags, top_col))  # type: ignore[arg-type]


def _add(engine: Engine, acc: _Chunk, pos: int) -> None:
    """Add a chunk's counts to the tallies: one update per address."""
    mentions = Counter(chain.from_iterable(acc.mentions))
    if not mentions:
        return
    source = Counter(chain.from_iterable(acc.source))
    dest = Counter(chain.from_iterable(acc.dest))
    own = engine.own if engine.own_any else None
    counts = engine.counts
    tallies = counts.tallies
    # new addresses, and those the engine met first in this chunk (groups are not in input order)
    fresh = [ip for ip in mentions if (ip not in tallies and (own is None or ip not in own))
             or (ip in tallies and tallies[ip].first_pos >= pos)]
    first: dict[str, int] = {}
    if fresh:
        wanted = set(fresh)
        for col, idxs in acc.places:
            for ip, i in dict(zip(reversed(col), reversed(idxs), strict=True)).items():
                if ip in wanted and i < first.get(ip, 1 << 62):
                    first[ip] = i
    for ip, n in mentions.items():
        t = tallies.get(ip)
        if t is None:
            if own is not None and ip in own:
                continue
            t = counts.get(ip, pos + first[ip])
        elif ip in first and t.first_pos > pos + first[ip]:
            t.first_pos = pos + first[ip]
        t.count += n
        t.source_count += source.get(ip, 0)
        t.dest_count += dest.get(ip, 0)


_BRACKET_END = re.compile(r"\[([^\[\n]*)\]:")


def _tags(joined: str | None, lines: columns.Lines, idxs: list[int],
          session: tuple[str, int]) -> list[str | None]:
    """The session tag ("sshd[4242") of each line; ``joined``: the lines joined, if at hand."""
    prog, nth = session
    if joined is not None:
        per_line = lines[idxs[0]].count("]:")
        found = _BRACKET_END.findall(joined)
        if per_line and len(found) == per_line * len(idxs) and joined.count("]:") == len(found):
            return list(map(add, repeat(prog + "["), found[nth::per_line]))
    return [session_tag(lines[i], session) for i in idxs]
