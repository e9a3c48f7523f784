"""Line shapes: what the scan remembers of a line's structure, so that lines alike are read alike.

A shape's key is the line's bytes without digits and month names (``plain_keys``), its IPv6 tokens'
bodies masked where they would make every line a shape of its own (``shape_keys``). The ``Shape``
says how many address tokens (``addresses.TOKENS4``/``TOKENS6``) such a line has, which of them are
addresses, which were no address at all, and the roles of its addresses (``roles.Plan``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from bot.scan import addresses, roles
from bot.scan.addresses import Found

_DIGITS = b"0123456789"


class Shape(NamedTuple):
    """What a line shape says: its tokens, which of them are addresses, and their roles."""

    n4: int
    n6: int
    invalid: tuple[int, ...]            # tokens (TOKENS4 then TOKENS6) that were no address at all
    picks: tuple[int, ...]              # per address (find() order): its token
    own_named: tuple[bool, ...]         # per address: written after an own host name
    plan: roles.Plan | None             # None: no address on the line
    session: tuple[str, int] | None     # a program[pid] tag: (program, its "]:" is the n-th)


_SLOW = Shape(-1, -1, (), (), (), None, None)
# IPv6 tokens' bodies (after their first group) are masked in the shape key: their hex letters would
# otherwise make each address a shape of its own.
_V6_BODY = addresses.TOKENS6_ASCII


# Month names, and the day's padding after them: a log's lines differ by date, not by shape.
# (The letter before the name is checked after it, 4 characters back: a pattern that starts with
# its letters lets the regex engine skip the text that cannot start a name, three times faster.)
_MONTH = re.compile(rb"(?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec)(?<![A-Za-z]...)(?![a-z]) ?")


def undated(key: bytes) -> bytes:
    """A line's key (its bytes without digits) without month names."""
    return _MONTH.sub(b"\x01", key)


def plain_keys(data: bytes) -> list[bytes]:
    """The shape key of each line of ``data``: the line without digits and month names."""
    return _MONTH.sub(b"\x01", data.translate(None, _DIGITS)).split(b"\n")


def shape_keys(data: bytes) -> list[bytes]:
    """plain_keys, also without IPv6 tokens' bodies."""
    if b":" in data:
        data = _V6_BODY.sub(b":~", data)
    return plain_keys(data)


def shape_of(line: str, found: list[Found], own_named: tuple[bool, ...], plan: roles.Plan,
             session: tuple[str, int] | None) -> Shape:
    """The shape of a line whose addresses its tokens give exactly, else _SLOW."""
    spans = token_spans(line)
    n4 = sum(1 for s in spans if not s[3])
    parsed = [sp[2] for sp in spans]
    picks: list[int] = []
    for f in found:
        k = next((i for i, (a, b, _, _) in enumerate(spans)
                  if a < f.end and f.start < b and parsed[i] == (f.ip, f.port) and i not in picks), None)
        if k is None:
            return _SLOW
        picks.append(k)
    return Shape(n4, len(spans) - n4, tuple(i for i, p in enumerate(parsed) if p is None), tuple(picks),
                 own_named, plan, session)


def token_spans(line: str) -> list[tuple[int, int, tuple[str, int | None] | None, bool]]:
    """(start, end, (address, port) or None, is IPv6) of the tokens of ``line``, in the order the
    scan takes them (TOKENS4, then TOKENS6)."""
    out = []
    if "." in line:
        for m in addresses.TOKENS4.finditer(line):
            head = m.group(1) or m.group(2) or m.group(3) or ""
            out.append((m.start() - len(head), m.end(), addresses.token_value(m.groups(), False), False))
    if ":" in line:
        for m in addresses.TOKENS6.finditer(line):
            head = m.group(1) or m.group(2) or m.group(3) or m.group(4) or ""
            out.append((m.start() - len(head), m.end(), addresses.token_value(m.groups(), True), True))
    return out
