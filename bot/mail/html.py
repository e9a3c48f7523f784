"""HTML mail bodies as plain text, with the standard library's tolerant parser.

Only the text is kept: tags go, block elements (p, div, br, tr, li, h1-h6, pre...) end lines,
table cells are separated by a space, script/style/head content is dropped, entities are decoded.
A log pasted into an HTML mail keeps its lines. Never raises; the input is cut at `limit`.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_BLOCK = frozenset({"p", "div", "br", "tr", "li", "ul", "ol", "table", "pre", "blockquote", "h1", "h2", "h3",
                    "h4", "h5", "h6", "hr", "dd", "dt", "section", "article", "header", "footer", "address"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
_TAG = re.compile(r"<[^>]*>")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.pre = 0
        self.quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "hr":  # Outlook separates a forwarded message so: read it as its plain-text rule
            self.out.append("\n" + "_" * 32 + "\n")
        elif tag in _BLOCK:
            self.out.append("\n")
            self.pre += tag == "pre"
            if tag == "blockquote":
                self.quote += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.out.append("\n")
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if not self.pre:
            data = re.sub(r"[ \t\r\n]+", " ", data)
        if self.quote:  # quoted text of an HTML reply reads as "> " lines, as in a plain-text one
            data = data.replace("\n", "\n> ")
            if not self.out or self.out[-1].endswith("\n"):
                data = "> " + data
        self.out.append(data)


def html_to_text(html: str, limit: int = 2_000_000) -> str:
    """The text of an HTML document, one line per block; quoted (blockquote) text as "> " lines."""
    parser = _Text()
    try:
        parser.feed(html[:limit])
        parser.close()
        text = "".join(parser.out)
    except (AssertionError, ValueError, IndexError):  # old parser bugs on odd markup: strip tags instead
        text = unescape(_TAG.sub(" ", html[:limit]))
    lines = [line.strip(" ") for line in text.replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
