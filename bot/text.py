"""Untrusted text made safe for where it goes: the one module with those rules.

Log lines, mail, registry answers and chat messages are written by strangers. Each function here
is the rule for one destination; callers pick by destination, never write their own:

- ``single_line``: a header value, a registry field, a probe banner, a chat field. Control, format
  and separator characters (CR, LF, ESC, C1 controls, bidi overrides, U+2028...) become spaces, runs
  of white space one space, cut to ``limit``. It can neither add a line nor hide text.
- ``log_line``: one line of a log excerpt in a report: the same characters (tabs too) become
  spaces, but the line's own spacing (columns, indentation) is kept.
- ``visible_line`` / ``visible_text``: what reaches a person's terminal. Such characters are shown
  as escapes (``\\x1b``) instead, so that they are seen and cannot drive the terminal.
- ``mrkdwn`` / ``mrkdwn_line``: text for a Slack message. ``&``, ``<`` and ``>`` are escaped, so
  ``<!channel>``, ``<@U123>`` or ``<https://evil|bank.com>`` arrive as the characters they are and
  can neither ping anyone nor show a link under a false name; backticks become a look-alike (U+02CB)
  so that a line cannot close the code block it is shown in and format the rest; hidden characters
  become spaces. Send it in a text object with ``verbatim: true`` (no automatic links or mentions).
- ``utf8_safe``: text that UTF-8 can write (a lone surrogate from a non-UTF-8 terminal or a JSON
  ``\\udcXX`` escape becomes U+FFFD).
"""

from __future__ import annotations

import re
import unicodedata

# Categories that are never shown as themselves: controls, format (bidi, zero-width), surrogates,
# private use, unassigned, line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SURROGATE = re.compile("[\ud800-\udfff]")
# The characters of a log line that could fake lines or reorder text in a plain-text mail.
_LOG_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def utf8_safe(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so that it can be written as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def single_line(text: object, limit: int | None = None) -> str:
    """Untrusted text as one printable line (see the module docstring); ``""`` for a non-string."""
    if not isinstance(text, str):
        return ""
    if limit is not None:
        text = text[:limit * 2]  # enough to fill ``limit`` after collapsing; never scan megabytes
    cleaned = "".join(" " if not ch.isprintable() else ch for ch in utf8_safe(text))
    joined = " ".join(cleaned.split())
    return joined[:limit].rstrip() if limit is not None else joined


def log_line(text: str) -> str:
    """One log line for a report's excerpt: hidden characters and tabs become spaces, columns stay."""
    return _LOG_CONTROL.sub(" ", utf8_safe(text)).rstrip()


def _visible(ch: str) -> str:
    if ch != "\t" and unicodedata.category(ch) in _HIDDEN:
        return ch.encode("unicode_escape").decode("ascii")
    return ch


def visible_line(text: object) -> str:
    """Untrusted text as one line for a terminal: hidden characters, line ends too, as escapes."""
    return "".join(_visible(ch) for ch in str(text))


def visible_text(text: str) -> str:
    """Untrusted text for a terminal with its line ends kept (a report body, an excerpt)."""
    return "\n".join(visible_line(line) for line in text.split("\n"))


# Characters that would let text break out of, or reorder, what a chat client shows: hidden ones
# become spaces, line ends are kept (an excerpt is several lines).
_CHAT_HIDDEN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e"
                          r"\u2060-\u2069\ufeff]")
_MRKDWN_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "\u02cb"})


def mrkdwn(text: str) -> str:
    """Untrusted text (lines kept) for a Slack mrkdwn text object; see the module docstring."""
    return _CHAT_HIDDEN.sub(" ", utf8_safe(text)).translate(_MRKDWN_ESCAPES)


def mrkdwn_line(text: object, limit: int | None = None) -> str:
    """Untrusted text as one line for Slack mrkdwn: ``single_line`` first (cut to ``limit``), then
    escaped, so that the cut never splits an escape."""
    return mrkdwn(single_line(text, limit))
