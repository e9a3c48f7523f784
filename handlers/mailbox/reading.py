"""Reading an alert mail: its log text, and whether it is an automatic answer rather than an alert.

The seam between the mailbox and the mail library (bot/mail/): the rest of handlers/mailbox only
calls ``read(raw)``. The log text is taken from the body and the attachments, never from the
intake mail's own headers (its ``Received:`` lines are not evidence): text/plain parts, quoted
``>`` lines unquoted, an attached ``message/rfc822`` (its body), attached text, ``.log`` and
``.gz`` files (decompressed within a cap). Everything is capped: parts walked, MIME depth, text
kept, bytes decompressed; a mail beyond the caps is refused with the reason, never a crash.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from bot.errors import InputError

MAX_DEPTH = 20            # MIME nesting
MAX_PARTS = 500
MAX_TEXT = 8 * 1024 * 1024          # characters of log text kept from one mail
MAX_GUNZIP = 32 * 1024 * 1024       # bytes one .gz attachment may decompress to
_BOUNDARY = re.compile(rb'boundary\s*=\s*"?([^";\r\n]{1,200})', re.IGNORECASE)
_QUOTE = re.compile(r"^(?:\s{0,3}>)+ ?")
_TEXT_NAMES = re.compile(r"\.(?:log|txt|text|out|csv|json|syslog|messages)(?:\.\d+)?$", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]{1,250}>")
_TICKET = re.compile(r"\[\s*(?:ticket|abuse|case|incident|request|ref)\s*#\s*:?\s*([A-Za-z0-9-]{3,40})\s*\]",
                     re.IGNORECASE)
_BOUNCE_FROM = re.compile(r"^(?:mailer-daemon|postmaster|mail delivery (?:sub)?system)\b|mailer-daemon@",
                          re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(r"undeliver|delivery (?:status|failure|has failed)|returned mail|"
                             r"failure notice|mail delivery failed|non[- ]?delivery", re.IGNORECASE)


@dataclass(frozen=True)
class Mail:
    message: EmailMessage
    message_id: str         # "" when it has none
    sender: str
    subject: str
    kind: str               # as a reply: "bounce", "auto_ack" (any automatic answer) or "human"
    automatic: str          # "bounce", "auto-reply" or "": never read as an alert when set
    reply: bool             # written as an answer to something (In-Reply-To, References, "Re:")
    references: tuple[str, ...]   # the Message-IDs it answers (In-Reply-To, References)
    ticket: str             # a desk's ticket number in the subject ("[Ticket#2026112812345]"), or ""
    text: str               # the log text: body and attachments, never its own headers


def _depth(raw: bytes) -> int:
    """How deeply the multiparts nest, from their declared boundaries (cheap: no parsing)."""
    depth = 0
    for found in _BOUNDARY.finditer(raw[:4 * 1024 * 1024]):
        depth += 1
        if depth > MAX_DEPTH or raw.count(b"--" + found.group(1).strip()) == 0:
            break
    return depth


def _header(msg: Message, name: str) -> str:
    try:
        return " ".join(str(v) for v in (msg.get_all(name) or []))
    except (ValueError, TypeError, IndexError, AttributeError):  # a header the library cannot decode
        return " ".join(str(v) for k, v in msg.raw_items() if k.lower() == name.lower())


def read(raw: bytes) -> Mail:
    """The mail's facts and log text; InputError (one line) when it cannot be read as a mail."""
    if not raw.strip():
        raise InputError("an empty message")
    if _depth(raw) > MAX_DEPTH:
        raise InputError(f"MIME parts nested more than {MAX_DEPTH} deep")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except (RecursionError, ValueError, TypeError, LookupError) as exc:
        raise InputError(f"cannot be parsed as a mail ({exc.__class__.__name__})") from exc
    assert isinstance(msg, EmailMessage)
    found = _MSGID.search(_header(msg, "Message-ID"))
    subject = " ".join(_header(msg, "Subject").split())
    answered = _header(msg, "In-Reply-To") + " " + _header(msg, "References")
    refs = tuple(dict.fromkeys(_MSGID.findall(answered)))
    reply = bool(refs or re.match(r"^\s*(?:re|aw|sv|antw|odp)\s*:", subject, re.IGNORECASE))
    ticket = _TICKET.search(subject)
    automatic = _automatic(msg, subject)
    return Mail(msg, found.group(0) if found else "", " ".join(_header(msg, "From").split())[:200],
                subject[:300], _kind(msg, automatic), automatic, reply, refs[:50],
                ticket.group(1) if ticket else "", _text(msg))


def _automatic(msg: EmailMessage, subject: str) -> str:
    ctype = msg.get_content_type()
    if ctype == "multipart/report" and "delivery-status" in str(msg.get_param("report-type", "")).lower():
        return "bounce"
    sender = _header(msg, "From")
    if _BOUNCE_FROM.search(sender.strip().strip('"')) and _BOUNCE_SUBJECT.search(subject):
        return "bounce"
    auto = _header(msg, "Auto-Submitted").strip().lower()
    if auto.startswith("auto-replied") or _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond"):
        return "auto-reply"
    if _header(msg, "Precedence").strip().lower() == "auto_reply":
        return "auto-reply"
    return ""


def _kind(msg: EmailMessage, automatic: str) -> str:
    """A reply's class: a bounce; an automatic answer (RFC 3834 Auto-Submitted other than "no",
    Precedence bulk/junk/list, X-Autoreply/X-Autorespond, an empty Return-Path); else a person's.
    X-Auto-Response-Suppress alone says nothing (ordinary Outlook mail carries it)."""
    if automatic == "bounce":
        return "bounce"
    auto = _header(msg, "Auto-Submitted").strip().lower()
    precedence = _header(msg, "Precedence").strip().lower()
    if (automatic or (auto and not auto.startswith("no"))
            or precedence in ("bulk", "junk", "list", "auto_reply")
            or _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond")
            or _header(msg, "Return-Path").strip() == "<>"):
        return "auto_ack"
    return "human"


def _text(msg: EmailMessage) -> str:
    """Log text from the body and attachments (a list of pieces joined, capped)."""
    pieces: list[str] = []
    size = 0
    stack: list[tuple[Message, int]] = [(msg, 0)]
    walked = 0
    while stack and size < MAX_TEXT and walked < MAX_PARTS:
        part, depth = stack.pop()
        walked += 1
        ctype = part.get_content_type()
        if part.is_multipart():
            if depth < MAX_DEPTH:
                payload = part.get_payload()
                kids = payload if isinstance(payload, list) else []
                stack += [(k, depth + 1) for k in reversed(kids) if isinstance(k, Message)]
            continue
        piece = _piece(part, ctype)
        if piece:
            pieces.append(piece)
            size += len(piece)
    return "\n".join(pieces)[:MAX_TEXT]


def _piece(part: Message, ctype: str) -> str:
    name = (part.get_filename() or "").strip()
    if ctype == "message/rfc822":
        return ""  # walked as a multipart above: its parts, never its own headers
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError, AssertionError):
        return ""
    if not isinstance(data, bytes):
        return ""
    if name.lower().endswith(".gz") or ctype in ("application/gzip", "application/x-gzip"):
        data = _gunzip(data)
    elif not (ctype == "text/plain" or (name and _TEXT_NAMES.search(name))
              or (ctype.startswith("text/") and ctype != "text/html")):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    return "\n".join(_QUOTE.sub("", line) for line in text.splitlines())


def _gunzip(data: bytes) -> bytes:
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while chunk := fh.read(1 << 20):
                out.write(chunk)
                if out.tell() > MAX_GUNZIP:
                    break
    except (OSError, EOFError, zlib.error):  # a broken archive: what came out before the break
        pass
    return out.getvalue()[:MAX_GUNZIP]
