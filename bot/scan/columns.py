"""The address tokens of many lines at once, as columns: one ``re.split`` over the lines' joined
text gives, for the k-th token of every line, its text, its port and what it was read as.

Used by batch.py for lines of one known shape. ASCII text is split as bytes (addresses.SPLIT4_ASCII,
TOKENS6_ASCII: the same tokens as the text patterns find, a fifth faster); what a distinct token
text was read as is remembered from chunk to chunk.
"""

from __future__ import annotations

import re
from itertools import repeat
from operator import add, itemgetter, or_
from typing import Any

from bot.scan import addresses, cues

_PARSE = addresses.parse_token
_VALUES_MAX = 50_000
_UNREAD = -1       # (a value no token has: not read yet)
_TAIL3 = itemgetter(slice(-3, None))
_V4_AT_END = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}\Z")


class Lines:
    """The lines of a chunk as text, each decoded when asked for: most are only read as bytes."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[bytes]) -> None:
        self.raw = raw

    def __getitem__(self, i: int) -> str:
        return self.raw[i].decode("utf-8", "replace")


class Split:
    """The tokens of a group of lines, from one ``re.split`` over their joined text (str, or
    bytes for ASCII text)."""

    def __init__(self, parts: list[Any], per_line: int, step: int) -> None:
        self.parts = parts
        self.stride = per_line * step
        self.step = step

    def group(self, k: int, g: int) -> list[Any]:
        """Group ``g`` (1-based; 0: the text before the token) of token ``k`` of every line."""
        return self.parts[k * self.step + g::self.stride]


def split(pattern: re.Pattern[Any], joined: str | bytes, n_lines: int, per_line: int,
          groups: int) -> Split | None:
    """Split ``joined`` at the tokens of ``pattern``; None unless every line has ``per_line``."""
    parts: list[Any] = pattern.split(joined)
    step = groups + 1
    tokens = (len(parts) - 1) // step
    if tokens != n_lines * per_line:
        return None
    # The text between tokens holds the line ends: exactly one after every per_line-th token. The
    # joined text has n_lines - 1 of them, and there are as many such places: if each holds one,
    # no other text between tokens holds any.
    stride = per_line * step
    if n_lines > 1:
        between = parts[stride:-1:stride]
        # (bytes: "10 in part", the byte value; a bytes needle is tried as a number first)
        if not all(map(bytes.__contains__, between, repeat(10)) if isinstance(joined, bytes)
                   else map(str.__contains__, between, repeat("\n"))):
            return None
    return Split(parts, per_line, step)


def values(read: dict[object, tuple[str, int | None] | None], t4: Split | None, t6: Split | None,
            n4: int, k: int) -> list[tuple[str, int | None] | None]:
    """The (address, port written in the address text) of token ``k`` of every line, None where
    it is no address. ``read``: what distinct tokens were read as (kept from chunk to chunk)."""
    col: list[object]
    if k < n4:
        assert t4 is not None
        # An IPv4 token's first octet (1-3 digits after a separator) ends the text before it: its
        # last 3 characters and the rest of the token (".2.3.4") say the address, as one string.
        col = list(map(add, map(_TAIL3, t4.group(k, 0)), t4.group(k, 1)))
    else:
        assert t6 is not None
        col = list(zip(t6.group(k - n4, 1), t6.group(k - n4, 2), t6.group(k - n4, 3), t6.group(k - n4, 4),
                       t6.group(k - n4, 5), strict=True))
    values = list(map(read.get, col, repeat(_UNREAD)))
    if _UNREAD in values:
        if len(read) > _VALUES_MAX:
            read.clear()
        for j, v in enumerate(values):
            if v is _UNREAD:
                t = col[j]
                v = read.get(t, _UNREAD)
                if v is _UNREAD:
                    v = read[t] = _PARSE(_token_text(t))
                values[j] = v
    return values  # type: ignore[return-value]  # (no _UNREAD left)


def _token_text(token: object) -> str:
    """The address text of a token as values keys it: str or bytes (IPv4), or IPv6's groups."""
    if isinstance(token, tuple):
        groups = [g.decode("ascii") if isinstance(g, bytes) else g for g in token]
        return f"{groups[0] or groups[1] or groups[2] or groups[3] or ''}:{groups[4]}"
    text = token.decode("ascii") if isinstance(token, bytes) else str(token)
    found = _V4_AT_END.search(text)
    return found.group() if found else text


def ports(t4: Split | None, t6: Split | None, n4: int,
          k: int) -> tuple[list[str | bytes | None], list[str | bytes | None]]:
    """The two port groups (":port", ".port") of token ``k`` of every line (None when not written)."""
    if k < n4:
        assert t4 is not None
        return t4.group(k, 2), t4.group(k, 3)
    assert t6 is not None
    return t6.group(k - n4, 6), t6.group(k - n4, 7)


def port_of(text: str | bytes | None) -> int | None:
    return int(text) if text else None


class _PortClasses(dict[str | bytes | None, int]):
    """What the port rule reads of a port's text: 0 none, 1 a service port, 2 an ephemeral one (a
    table filled as ports are met: at most 111,110 texts of 1 to 5 digits, as str and as bytes)."""

    def __missing__(self, text: str | bytes | None) -> int:
        port = int(text) if text else -1
        value = self[text] = 0 if port < 0 else 1 if port in cues.SERVICE_PORTS or port < 1024 else 2
        return value


_PORT_CLASS = _PortClasses()


def port_classes(colon: list[str | bytes | None], dot: list[str | bytes | None]) -> list[object]:
    """The port class of each line of a column from its two port groups (at most one written)."""
    classes = _PORT_CLASS.__getitem__
    if dot.count(None) == len(dot):         # (the usual case: one notation in a column)
        return list(map(classes, colon))
    if colon.count(None) == len(colon):
        return list(map(classes, dot))
    return list(map(or_, map(classes, colon), map(classes, dot)))
