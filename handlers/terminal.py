"""What reaches the person's terminal: text from logs, registries, mail and servers is untrusted.

Control and format characters (escape sequences, C1 controls, bidi overrides, line separators)
appear as visible escapes (``\\x1b``), so they can neither drive the terminal nor fake output lines.
"""

from __future__ import annotations

import unicodedata

_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _visible(ch: str) -> str:
    if ch != "\t" and unicodedata.category(ch) in _HIDDEN:
        return ch.encode("unicode_escape").decode("ascii")
    return ch


def one_line(text: object) -> str:
    """Untrusted text as one printable line: line ends too become visible escapes."""
    return "".join(_visible(ch) for ch in str(text))


def shown(text: str) -> str:
    """Untrusted text for the terminal with its line ends kept (a report body, an excerpt)."""
    return "\n".join(one_line(line) for line in text.split("\n"))
