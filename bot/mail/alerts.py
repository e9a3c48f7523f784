"""The log text of a forwarded alert mail, for the scanner: bodies and attachments, never its headers.

``log_text(mail)`` walks the parts of a mail read by bot/mail/reading.py and takes:

- text bodies: text/plain, or text/html turned to text when a part has no plain alternative;
  inline forwarded blocks ("---------- Forwarded message ---------", "Begin forwarded message:",
  "-----Original Message-----", "-------- Forwarded Message --------") lose their pseudo-header
  lines (From:, Date:, Subject:...), quoted ``>`` lines are unquoted, a signature is dropped;
- attached messages (message/rfc822): their bodies, the same way, never their header block (its
  Received: lines name relays, not attackers);
- attached text/*, ``.log``, ``.txt`` files (and application/octet-stream named so), and ``.gz``
  files gunzipped up to ``max_gunzip`` bytes (a gzip bomb stops there);
- never the intake mail's own headers, delivery-status blocks or header-only parts.

The total is capped at ``max_chars``; ``AlertText.taken`` lists every part with what was taken or
why it was not, for the log and for a person asking where a line came from.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from bot.mail.headers import decode_bytes
from bot.mail.html import html_to_text
from bot.mail.reading import Mail, Part

MAX_CHARS = 5_000_000
MAX_GUNZIP = 20 * 1024 * 1024
_FORWARD_MARK = re.compile(
    r"^\s*(?:-{3,}\s*(?:forwarded message|original message|weitergeleitete nachricht|"
    r"ursprüngliche nachricht|message transféré|message d'origine|mensaje reenviado|messaggio inoltrato)"
    r"\s*-{3,}|begin forwarded message:|anfang der weitergeleiteten nachricht:)\s*$", re.IGNORECASE)
_PSEUDO_HEADER = re.compile(r"^\s*[A-Za-zÀ-ÿ][\w .-]{0,30}:[ \t]")
_OUTLOOK_RULE = re.compile(r"^_{20,}\s*$")
_ATTRIBUTION = re.compile(r"^\s*(?:on|am|le|el|il|op|w dniu) .{0,300}"
                          r"(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef|napisał)\s*:\s*$",
                          re.IGNORECASE)
_QUOTE = re.compile(r"^[ \t]*((?:>[ \t]?)+)")
_TEXT_NAMES = re.compile(r"\.(?:log|txt|text|csv|out|err|json|xml)(?:\.\d+)?$", re.IGNORECASE)
_GZIP_TYPES = ("application/gzip", "application/x-gzip", "application/x-gunzip",
               "application/gzip-compressed")


@dataclass(frozen=True)
class Taken:
    part: str           # "1.2 text/plain auth.log": the part's position, type and file name
    what: str           # "body, 12 lines", "gunzipped 4096 bytes", "skipped: image/png"...
    chars: int = 0      # characters it added to the text


@dataclass(frozen=True)
class AlertText:
    text: str
    taken: tuple[Taken, ...]
    cut: bool = False   # the text stopped at max_chars (or a part was taken in part only)


def _label(mail: Mail, part: Part) -> str:
    path: list[int] = []
    node = part
    while node.parent >= 0:
        siblings = mail.children(node.parent)
        path.append(next(i for i, p in enumerate(siblings, 1) if p.index == node.index))
        node = mail.parts[node.parent]
    position = ".".join(str(n) for n in reversed(path)) or "mail"
    return " ".join(x for x in (position, part.content_type, part.filename) if x)


def clean_body(text: str) -> tuple[str, list[str]]:
    """Forwarded blocks without their pseudo-headers, quotes unquoted, a signature dropped.
    Returns the text and notes on what was done."""
    out: list[str] = []
    notes: list[str] = []
    in_headers = False
    seen_header = False
    in_signature = False
    unquoted = 0
    for line in text.split("\n"):
        if _FORWARD_MARK.match(line) or _OUTLOOK_RULE.match(line):
            in_headers, seen_header, in_signature = True, False, False
            notes.append("forwarded block")
            continue
        if in_headers:
            if not line.strip():
                if seen_header:
                    in_headers = False
                continue  # blank lines before the pseudo-headers (Apple Mail) or the one after them
            if _PSEUDO_HEADER.match(line) or (seen_header and line.startswith((" ", "\t"))):
                seen_header = True
                continue
            in_headers = False
        if _ATTRIBUTION.match(line):
            continue
        quote = _QUOTE.match(line)
        if quote:
            line = line[quote.end():]
            unquoted += 1
            in_signature = False
        elif line in ("-- ", "--"):
            in_signature = True
            continue
        if in_signature:
            continue
        out.append(line)
    if unquoted:
        notes.append(f"{unquoted} quoted lines unquoted")
    return "\n".join(out).strip("\n"), notes


def _gunzip(data: bytes, cap: int) -> tuple[bytes, bool]:
    """Decompressed gzip (several members too) up to `cap` bytes, and whether it went on past that."""
    out = bytearray()
    rest = data
    while rest and len(out) < cap:
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header
        try:
            out += inflater.decompress(rest, cap - len(out))
        except zlib.error:
            break
        if inflater.unconsumed_tail:
            return bytes(out), True
        rest = inflater.unused_data if inflater.eof else b""
    return bytes(out[:cap]), len(out) >= cap and bool(rest)


def _binary(text: str) -> bool:
    sample = text[:4096]
    odd = sum(1 for ch in sample if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\n\t\f\v"))
    return bool(sample) and odd > len(sample) // 20


def _plain_sibling(mail: Mail, part: Part) -> bool:
    parent = mail.parts[part.parent] if part.parent >= 0 else None
    return parent is not None and parent.content_type == "multipart/alternative" and any(
        p.content_type == "text/plain" and p.text.strip() for p in mail.children(parent.index))


def _part_text(mail: Mail, part: Part, max_gunzip: int) -> tuple[str | None, str]:
    """(text, what) for one leaf part; text None when the part is not taken (what says why). A
    gzip stopped at `max_gunzip` says "stopped at"."""
    ctype = part.content_type
    name = part.filename.lower()
    if ctype in ("text/rfc822-headers", "message/delivery-status", "message/global-delivery-status"):
        return None, "skipped: headers, not log text"
    if part.fields or ctype.startswith(("multipart/", "message/")):
        return None, ""
    if ctype in _GZIP_TYPES or name.endswith((".gz", ".gzip")) or part.data[:2] == b"\x1f\x8b":
        raw, more = _gunzip(part.data, max_gunzip)
        text = decode_bytes(raw).replace("\r\n", "\n").replace("\x00", "\ufffd")
        if not raw or _binary(text):
            return None, "skipped: not gzip of text"
        return text, f"gunzipped {len(raw)} bytes" + (f" (stopped at {max_gunzip})" if more else "")
    if ctype == "text/html":
        if _plain_sibling(mail, part):
            return None, "skipped: HTML alternative of a plain-text part"
        return html_to_text(part.text), "HTML turned to text"
    if ctype.startswith("text/"):
        return part.text, "attachment" if part.is_attachment else "body"
    if _TEXT_NAMES.search(name) and ctype in ("application/octet-stream", "application/x-log", ""):
        text = decode_bytes(part.data).replace("\r\n", "\n").replace("\x00", "\ufffd")
        return (None, "skipped: binary") if _binary(text) else (text, "attachment read as text")
    return None, f"skipped: {ctype}"


def log_text(mail: Mail, *, max_chars: int = MAX_CHARS, max_gunzip: int = MAX_GUNZIP) -> AlertText:
    """The text an alert mail carries (see the module docstring), at most `max_chars` characters."""
    pieces: list[str] = []
    taken: list[Taken] = []
    total = 0
    cut = False
    for part in mail.parts:
        text, what = _part_text(mail, part, max_gunzip)
        if text is None:
            if what:
                taken.append(Taken(_label(mail, part), what))
            continue
        text, notes = clean_body(text)
        if not text.strip():
            taken.append(Taken(_label(mail, part), f"{what}: empty"))
            continue
        room = max_chars - total
        if room <= 0:
            taken.append(Taken(_label(mail, part), "skipped: the text is full"))
            cut = True
            continue
        if len(text) > room:
            text, cut = text[:room].rsplit("\n", 1)[0], True
            notes.append(f"cut at {max_chars} characters in all")
        if part.cut:
            cut = True
            notes.append("only the start of the part was in the mail's bounds")
        if "stopped at" in what:
            cut = True
        where = "forwarded message body" if part.enclosure >= 0 else what
        lines = text.count("\n") + 1
        taken.append(Taken(_label(mail, part), ", ".join([f"{where}, {lines} lines", *notes]), len(text)))
        pieces.append(text)
        total += len(text) + 1
    return AlertText("\n".join(pieces), tuple(taken), cut)
