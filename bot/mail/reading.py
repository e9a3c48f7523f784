"""Reading any mail, safely: replies, bounces and alert mails alike.

``read_mail(source)`` takes raw bytes or a binary stream and returns a ``Mail`` (a parsed view: the
headers, every MIME part with its decoded body, bounded) or a ``Rejected`` (a one-line reason, and
the headers as far as they could be read, so the mail can still be matched and kept). It never
raises for anything a sender can put in a mail, and a mail costs bounded memory and time:

- size: a mail over ``max_bytes`` is rejected unparsed; a stream is read in chunks (bot/mail/spool.py)
  and, with ``keep_in``, kept whole on disk for the caller;
- nesting: the email library's parser recurses once per MIME level (a thousand levels raise
  RecursionError). It is fed in small slices and its open levels are counted between them, so
  parsing stops soon after ``max_depth`` levels, far from the interpreter's limit;
- parts and lines: a mail of a million empty parts or of millions of short lines takes the parser
  minutes and gigabytes; parsing stops at ``max_parts`` (rejected) and at ``max_lines`` (the rest is
  not read: ``Mail.truncated`` says so);
- bodies: each part's body is decoded up to ``max_part_bytes`` and its text up to ``max_text_chars``;
  a broken charset falls back to UTF-8 or Windows-1252 (bot/mail/headers.py), NUL becomes U+FFFD;
- headers: parsed with ``compat32`` and decoded by bot/mail/headers.py (no lazy header parsing that
  can raise on an odd Message-ID).

Known traps handled here, once: a ``message/delivery-status`` part holds a *list* of header blocks
(``get_content()`` would return the first only) and ``walk()`` yields those blocks as text/plain
parts; here they are ``Part.fields``, never parts, so no block is lost and none is taken for text.
"""

from __future__ import annotations

import binascii
import logging
import re
from dataclasses import dataclass, field, replace
from email import policy
from email.message import Message
from email.parser import BytesFeedParser, BytesHeaderParser
from pathlib import Path
from typing import BinaryIO

from bot.mail.headers import Headers, decode_bytes, decode_value
from bot.mail.spool import Raw, take
from bot.text import single_line

log = logging.getLogger(__name__)
MB = 1024 * 1024
_SLICE = 64 * 1024           # bytes fed to the parser at once
_FINE_SLICE = 1024           # ... where a slice is dense with Content-Type headers (deep nesting)
_HEADER_LINE = re.compile(rb"^(?:From |[!-9;-~]+:)")
_MAIL_FIELDS = ("from", "to", "subject", "date", "message-id", "sender", "received", "return-path")


@dataclass(frozen=True)
class Limits:
    """The caps of one read; every one is a parameter with a default fit for a mailbox bot."""

    max_bytes: int = 50 * MB            # larger: rejected (kept whole on disk when `keep_in` is given)
    max_keep_bytes: int = 2048 * MB     # written to `keep_in` at most
    max_header_bytes: int = 256 * 1024  # read of a rejected mail, for its headers
    max_depth: int = 50                 # MIME levels (a message/rfc822 counts two: the part and the mail)
    max_parts: int = 1000               # MIME entities (delivery-status blocks included)
    max_lines: int = 500_000            # lines parsed; the rest of the mail is not read
    max_part_bytes: int = 10 * MB       # decoded body kept per part
    max_text_chars: int = 1_000_000     # decoded text kept per text part


LIMITS = Limits()


@dataclass(frozen=True)
class Part:
    """One MIME entity. ``parts[0]`` of a Mail is the mail itself; the others follow in order."""

    index: int
    parent: int                 # index of the enclosing part; -1 for the mail itself
    depth: int                  # 1 for the mail itself
    enclosure: int              # index of the nearest enclosing message/* part; -1: the mail's own
    content_type: str           # "text/plain": lowercased, the default when none is declared
    mime: Headers               # the part's own header fields (for parts[0]: the mail's headers)
    filename: str = ""          # one printable line
    disposition: str = ""       # "attachment", "inline" or ""
    charset: str = ""
    encoded_size: int = 0       # bytes of body in the mail (0 for multipart containers)
    data: bytes = b""           # the decoded body, at most max_part_bytes
    cut: bool = False           # `data` (or `text`) holds only the start of the body
    text: str = ""              # text/* bodies decoded with their charset, line ends "\n"
    enclosed: Headers | None = None   # message/rfc822 and text/rfc822-headers: the enclosed headers
    fields: tuple[Headers, ...] = ()  # message/delivery-status: its blocks, every one

    @property
    def is_attachment(self) -> bool:
        return self.disposition == "attachment" or (bool(self.filename) and self.disposition != "inline")


@dataclass(frozen=True)
class Mail:
    headers: Headers
    parts: tuple[Part, ...]
    size: int                   # bytes of the mail
    truncated: str = ""         # "" or why only the start of the mail was parsed
    defects: tuple[str, ...] = ()   # what the parser found malformed (names, each once)
    kept: Path | None = None    # the bytes read, on disk, when read from a stream with keep_in
    kept_whole: bool = False    # `kept` holds the whole mail

    def children(self, index: int) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.parent == index)

    def own_parts(self) -> tuple[Part, ...]:
        """The parts of the mail itself, not those of a message enclosed in it."""
        return tuple(p for p in self.parts if p.enclosure == -1)


@dataclass(frozen=True)
class Rejected:
    reason: str                 # one line: "nested deeper than 50 levels", "larger than 50 MB"...
    headers: Headers = field(default_factory=Headers)   # as far as they could be read
    size: int = 0
    kept: Path | None = None
    kept_whole: bool = False


class _Stop(Exception):
    """Parsing must stop: `reason` says why (raised from the parser's message factory too)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _mb(n: int) -> str:
    return f"{n / MB:g} MB"


def read_mail(source: bytes | BinaryIO, limits: Limits = LIMITS, *,
              keep_in: Path | None = None) -> Mail | Rejected:
    """Read one mail within `limits` (see the module docstring). Never raises for bad input.

    From a stream with `keep_in`, every byte read is also written to a new file in that folder
    (``Mail.kept``/``Rejected.kept``, up to ``max_keep_bytes``): the caller moves it where it keeps
    mail, or deletes it."""
    raw = take(source, max_bytes=limits.max_bytes, max_header_bytes=limits.max_header_bytes,
               max_keep_bytes=limits.max_keep_bytes, keep_in=keep_in)

    def rejected(reason: str, headers: Headers | None = None) -> Rejected:
        return Rejected(reason, headers or Headers(), raw.size, raw.kept, raw.whole)

    if not raw.head.strip():
        return rejected(raw.error or "empty: no mail")
    if not _HEADER_LINE.match(raw.head.lstrip(b"\r\n")):
        return rejected("not a mail: no header")
    headers = header_block(raw.head, limits)
    if not any(name.lower() in _MAIL_FIELDS for name, _ in headers.fields):
        return rejected("not a mail: no From, To, Subject, Date or Message-ID", headers)
    if raw.over:
        return rejected(f"larger than {_mb(limits.max_bytes)}", headers)
    if raw.error and not raw.ended:
        return rejected(raw.error, headers)
    try:
        root, truncated = _parse(raw, limits)
        parts, defects = _parts(root, limits)
    except _Stop as stop:
        return rejected(stop.reason, headers)
    except RecursionError:  # not expected within the limits; a mail must never cost the process
        return rejected(f"nested deeper than {limits.max_depth} levels", headers)
    except Exception as exc:  # the email library on hostile input: it costs this mail, never the caller
        log.exception("mail parser failed")
        return rejected(f"unreadable mail ({exc.__class__.__name__})", headers)
    return Mail(parts[0].mime, parts, raw.size, truncated, defects, raw.kept, raw.whole)


def header_block(data: bytes, limits: Limits = LIMITS) -> Headers:
    """The header fields at the start of `data` (which may be cut anywhere), decoded."""
    end = min((i for i in (data.find(b"\n\n"), data.find(b"\r\n\r\n")) if i >= 0), default=len(data))
    block = data[: min(end, limits.max_header_bytes)]
    try:
        msg = BytesHeaderParser(policy=policy.compat32).parsebytes(block)
    except Exception:  # see read_mail: never raised in practice, and never the caller's problem
        log.exception("header parser failed")
        return Headers()
    return Headers.of(msg.raw_items())


def _parse(raw: Raw, limits: Limits) -> tuple[Message, str]:
    made = 0

    def factory(*args: object, **kwargs: object) -> Message:
        nonlocal made
        made += 1
        if made > limits.max_parts + 1:  # +1: FeedParser calls the factory once to probe it
            raise _Stop(f"more than {limits.max_parts} MIME parts")
        return Message(policy.compat32)

    parser = BytesFeedParser(factory, policy=policy.compat32)
    open_levels = getattr(parser, "_msgstack", None)
    lines = 0
    truncated = ""
    for chunk in raw.chunks:
        for start in range(0, len(chunk), _SLICE):
            piece = chunk[start:start + _SLICE]
            lines += piece.count(b"\n") + piece.count(b"\r") - piece.count(b"\r\n")
            if lines > limits.max_lines:
                truncated = f"only the first {limits.max_lines} lines were read"
                break
            step = _FINE_SLICE if piece.lower().count(b"content-type") > 8 else _SLICE
            for at in range(0, len(piece), step):
                parser.feed(piece[at:at + step])
                if open_levels is not None and len(open_levels) > limits.max_depth:
                    raise _Stop(f"nested deeper than {limits.max_depth} levels")
        if truncated:
            break
    return parser.close(), truncated


def _param(msg: Message, name: str, header: str = "content-type") -> str:
    try:
        value = msg.get_param(name, header=header)
    except (ValueError, TypeError, LookupError, AttributeError):
        return ""
    if isinstance(value, tuple):  # RFC 2231: (charset, language, value)
        charset, _, text = value
        return decode_bytes(str(text).encode("utf-8", "surrogateescape"), str(charset or ""))
    return decode_value(value or "", 1000)


def _content_type(msg: Message, parent_type: str) -> str:
    value = decode_value(msg.get("content-type", ""), 1000).split(";")[0].strip().lower()
    if value.count("/") == 1 and all(value.split("/")):
        return value
    return "message/rfc822" if parent_type == "multipart/digest" else "text/plain"


def _body(payload: str, cte: str, cap: int) -> tuple[bytes, bool]:
    """The first `cap` bytes of a base64 or quoted-printable body, decoded, and whether that is not all
    of it. Only the needed start of the text is decoded: a 40 MB attachment costs `cap`, not 40 MB."""
    if cte == "base64":
        need = (cap // 3 + 1) * 4
        span = need + need // 40 + 1024  # line breaks
        clean = re.sub(rb"[^A-Za-z0-9+/]", b"", payload[:span].encode("ascii", "ignore"))[:need]
        if len(clean) % 4 == 1:
            clean = clean[:-1]
        data = binascii.a2b_base64(clean + b"=" * (-len(clean) % 4)) if clean else b""
        return data[:cap], len(data) > cap or len(payload) > span
    text = payload[: 3 * cap]  # quoted-printable: at most three characters a byte
    data = binascii.a2b_qp(text.encode("utf-8", "surrogateescape"))
    return data[:cap], len(data) > cap or len(text) < len(payload)


def _payload(msg: Message) -> object:
    """The parsed payload: a list of parts, or the body as the parser kept it. get_payload() decodes
    8-bit text with the declared charset and raises TypeError for an RFC 2231 charset: avoid it."""
    if msg.is_multipart():
        return msg.get_payload()
    raw = getattr(msg, "_payload", None)
    return raw if isinstance(raw, str) else ""


def _blocks(msg: Message) -> tuple[Headers, ...]:
    payload = _payload(msg)
    if isinstance(payload, list):
        return tuple(Headers.of(b.raw_items()) for b in payload if isinstance(b, Message))
    # message/global-delivery-status (and a block list the parser kept as text): split it ourselves
    text = payload if isinstance(payload, str) else ""
    blocks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return tuple(header_block(b.encode("utf-8", "surrogateescape")) for b in blocks[:1000] if b.strip())


def _parts(root: Message, limits: Limits) -> tuple[tuple[Part, ...], tuple[str, ...]]:
    parts: list[Part] = []
    defects: dict[str, None] = {}
    stack: list[tuple[Message, int, int, int, str]] = [(root, -1, 1, -1, "")]
    while stack:
        msg, parent, depth, enclosure, parent_type = stack.pop()
        if depth > limits.max_depth:
            raise _Stop(f"nested deeper than {limits.max_depth} levels")
        index = len(parts)
        defects.update((d.__class__.__name__, None) for d in getattr(msg, "defects", ())[:20])
        ctype = _content_type(msg, parent_type)
        mime = Headers.of(msg.raw_items())
        disposition = decode_value(msg.get("content-disposition", ""), 200).split(";")[0].strip().lower()
        filename = _param(msg, "filename", "content-disposition") or _param(msg, "name")
        base = Part(index=index, parent=parent, depth=depth, enclosure=enclosure, content_type=ctype,
                    mime=mime, filename=single_line(filename, 200),
                    disposition=disposition if disposition in ("attachment", "inline") else "",
                    charset=single_line(_param(msg, "charset"), 40).lower())
        payload = _payload(msg)
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            parts.append(replace(base, fields=_blocks(msg)))
            continue
        if isinstance(payload, list):
            inner = [p for p in payload if isinstance(p, Message)]
            enclosed = Headers.of(inner[0].raw_items()) if ctype.startswith("message/") and inner else None
            parts.append(replace(base, enclosed=enclosed))
            child_enclosure = index if ctype.startswith("message/") else enclosure
            stack.extend((p, index, depth + 1, child_enclosure, ctype) for p in reversed(inner))
            continue
        text_payload = payload if isinstance(payload, str) else ""
        cte = decode_value(msg.get("content-transfer-encoding", ""), 100).strip().lower()
        if cte in ("base64", "quoted-printable"):
            data, cut = _body(text_payload, cte, limits.max_part_bytes)
        else:  # 7bit, 8bit, binary, unknown: the bytes as sent
            whole = text_payload[: limits.max_part_bytes].encode("utf-8", "surrogateescape")
            data, cut = whole[: limits.max_part_bytes], len(text_payload) > limits.max_part_bytes
        text = ""
        enclosed_headers = None
        if ctype == "text/rfc822-headers":
            enclosed_headers = header_block(data, limits)
        if ctype.startswith("text/"):
            text = decode_bytes(data, base.charset)
            if len(text) > limits.max_text_chars:
                text, cut = text[: limits.max_text_chars], True
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
        parts.append(replace(base, encoded_size=len(text_payload), data=data, cut=cut, text=text,
                             enclosed=enclosed_headers))
    return tuple(parts), tuple(defects)
