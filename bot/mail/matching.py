"""What a received mail offers for finding its incident: pure functions, the store does the lookups.

``match_keys(mail)`` gathers, most reliable first:

1. ``message_ids``: the Message-IDs it answers (In-Reply-To, then References newest first), then
   those of messages enclosed in it (a bounce's returned original, a forwarded reply). Ours carry a
   random part: a mail naming one has seen our report.
2. ``tokens``: ``INC-YYYYMMDD-NNNN`` ids in the subject. Easy to write: only incidents whose report
   went out may be claimed by one.
3. ``tickets``: the remote desk's ticket numbers (``ticket_numbers``), learnt from an earlier
   acknowledgement of the same desk.
4. ``subject_key``: the subject without reply/forward prefixes (many languages), tags such as
   ``[External]`` or ``*SPAM*``, incident tokens and ticket tags, case-folded (``subject_key``).
   Compare it with ``subject_key(report subject)``, and prefer incidents that were sent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.mail.headers import Headers, message_ids
from bot.mail.reading import Mail, Rejected
from bot.store import ID_PATTERN

# Reply and forward prefixes, as mail programs write them in their languages.
PREFIXES = (
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "vb", "vl", "fs", "antw", "antwort", "doorst", "odp", "pd",
    "odg", "tr", "ref", "réf", "rif", "r", "i", "rv", "res", "enc", "ynt", "ilt", "İlt", "vá", "továbbítás",
    "bls", "trs", "atb", "ответ", "переслать", "пересл", "απ", "σχετ", "πρθ", "השב", "הועבר", "رد",
    "回复", "回覆", "答复", "转发", "轉寄", "转", "返信", "転送", "회신", "전달", "답장",
)
# What auto-replies and non-delivery reports put in front of the subject they answer.
AUTO_PREFIXES = (
    "automatic reply", "autoreply", "auto reply", "auto-reply", "auto", "out of office", "abwesend",
    "automatische antwort", "réponse automatique", "respuesta automática", "risposta automatica",
    "undeliverable", "undelivered", "unzustellbar", "non remis", "non recapitabile", "no entregado",
    "delivery failure", "delivery delayed", "returned mail",
)
_PREFIX = re.compile(
    r"^\s*(?:" + "|".join(re.escape(p) for p in sorted(PREFIXES + AUTO_PREFIXES, key=len, reverse=True))
    + r")\s*(?:\[\d{1,3}\]|\(\d{1,3}\)|\^\d{1,3}|\d{1,3})?\s*:", re.IGNORECASE)
# Tags that gateways and filters put in front: [External], [EXT], *SPAM*, {Spam?}, (Fwd), "EXTERNAL:".
_TAG_WORDS = (r"(?:external|extern|externe|ext|spam|suspected spam|possible spam|spam\?|phishing|phish|"
              r"caution|fwd)")
_LEADING_TAG = re.compile(
    r"^\s*(?:\[[^\[\]]{1,80}\]|\{[^{}]{1,40}\}|\*{1,3}[^*]{1,30}\*{1,3}|\(\s*" + _TAG_WORDS + r"\s*\)|"
    + _TAG_WORDS + r"\s*:)", re.IGNORECASE)
_TRAILING_TAG = re.compile(r"\s*(?:\((?:fwd|fw)\)|\[[^\[\]]{1,80}#[^\[\]]{1,40}\])\s*$", re.IGNORECASE)
# Ticket numbers: "[Ticket#2026112812345]", "[abuse #123456]", "[rt.example.org #1234]" ...
_TICKET_TAG = re.compile(r"\[\s*(?P<label>[^\W\d_][\w.@-]{0,60}(?:\s[\w.@-]{1,40}){0,3}?)\s*#\s*"
                         r"(?P<num>[A-Za-z0-9][\w.-]{0,40})\s*\]")
# ... and "Ticket ID: ABC-123", "Case #12345", "Vorgangsnummer: 123", "(Ticket: 4711)" in text.
_TICKET_WORDS = (r"ticket|case|request|reference|ref|tracking|vorgang|vorgangsnummer|anfrage|"
                 r"ticketnummer|dossier|caso|incidencia|referencia|numéro de dossier")
_TICKET_TEXT = re.compile(
    r"\b(?P<label>" + _TICKET_WORDS + r")\s*(?:id|no\.?|nr\.?|number|nummer|numéro|número)?\s*"
    r"(?:is|lautet|est)?\s*[:#]\s*#?\s*(?P<num>[A-Za-z0-9][\w-]{2,40})", re.IGNORECASE)
_QUOTED = re.compile(r"^\s*>")


@dataclass(frozen=True)
class MatchKeys:
    message_ids: tuple[str, ...]        # answered (In-Reply-To, References newest first), then enclosed
    answered_ids: tuple[str, ...]       # the first part of message_ids: the mail's own headers
    tokens: tuple[str, ...]             # incident ids named in the subject, upper case
    tickets: tuple[str, ...]            # remote ticket numbers, canonical ("ticket #123")
    subject_key: str                    # see subject_key()
    enclosed_tokens: tuple[str, ...]    # incident ids in the subjects of enclosed messages


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def strip_prefixes(subject: str) -> str:
    """The subject without its leading reply/forward prefixes and gateway tags; case, the incident
    token and the rest kept (``"AW: [EXT] Re: [INC-...] Scan"`` -> ``"[INC-...] Scan"``)."""
    text = " ".join(_nfkc(subject).split())
    while True:
        stripped = _PREFIX.sub("", text, count=1).strip()
        tag = _LEADING_TAG.match(stripped)
        if tag and not ID_PATTERN.search(tag.group(0)):
            stripped = stripped[tag.end():].strip()
        if stripped == text:
            return text
        text = stripped


def subject_key(subject: str) -> str:
    """A subject reduced to what a desk's reply keeps of it: prefixes (Re:, AW:, SV:, 回复:, Re[2]:...),
    gateway tags ([External], *SPAM*...), incident tokens and ticket tags removed anywhere, spaces
    collapsed, case folded. Two subjects are the same conversation when their keys are equal."""
    text = " ".join(_nfkc(subject).split())
    for _ in range(50):  # each round removes at least one thing; a subject is short
        before = text
        text = _PREFIX.sub("", text, count=1).strip()
        text = _LEADING_TAG.sub("", text, count=1).strip()
        text = _TRAILING_TAG.sub("", text).strip()
        if text == before:
            break
    text = ID_PATTERN.sub(" ", text)
    text = _TICKET_TAG.sub(" ", text)
    text = re.sub(r"\[\s*\]|\(\s*\)", " ", text)
    return " ".join(text.split()).casefold()


def incident_tokens(text: str) -> tuple[str, ...]:
    """The incident ids (``INC-YYYYMMDD-NNNN``) named in `text`, upper case, in order, each once."""
    return tuple(dict.fromkeys(f"INC-{m.group(1)}-{m.group(2)}" for m in ID_PATTERN.finditer(text)))


def _canonical(label: str, number: str) -> str:
    return f"{' '.join(label.split()).casefold()} #{number}"


def ticket_numbers(subject: str, body: str = "", *, body_lines: int = 60) -> tuple[str, ...]:
    """Remote ticket numbers, canonical (``"ticket #2026112812345"``, ``"rt.example.org #1234"``,
    ``"abuse #123456"``): tags in the subject first, then tags and "Ticket ID: ..." phrases in the
    first `body_lines` lines of the body that are not quoted. A number needs a digit; our own
    incident ids are never taken for one."""
    found: list[str] = []
    lines = [ln for ln in body.split("\n")[: body_lines * 3] if not _QUOTED.match(ln)][:body_lines]
    for text in (_nfkc(subject), _nfkc("\n".join(lines))):
        hits = [(m.start(), m.group("label"), m.group("num")) for m in _TICKET_TAG.finditer(text)]
        hits += [(m.start(), m.group("label"), m.group("num")) for m in _TICKET_TEXT.finditer(text)]
        for _, label, number in sorted(hits):
            number = number.rstrip(".-")
            if any(c.isdigit() for c in number) and not ID_PATTERN.search(f"{label}-{number}"):
                found.append(_canonical("ticket" if label.lower() in ("ticket", "ticketnummer") else label,
                                        number))
    return tuple(dict.fromkeys(found))


def referenced_ids(headers: Headers) -> tuple[str, ...]:
    """The Message-IDs a mail answers: In-Reply-To first, then References from the newest."""
    return tuple(dict.fromkeys([*headers.in_reply_to, *reversed(headers.references)]))


def enclosed_ids(mail: Mail) -> tuple[str, ...]:
    """Message-IDs of the messages (or header blocks) enclosed in a mail, then the ones they answer:
    what a bounce returns, what a forwarded reply holds. Bodies of bounces that quote the original
    as plain text (qmail, Exim) are read too: a ``Message-ID:`` line there counts."""
    found: list[str] = []
    for part in mail.parts:
        if part.enclosed is not None:
            found += message_ids(part.enclosed.get("Message-ID"))
            found += referenced_ids(part.enclosed)
    for part in mail.own_parts():
        if part.content_type == "text/plain":
            found += re.findall(r"(?im)^[ \t]*message-id:[ \t]*(<[^<>\s]+>)", part.text[:200_000])
    own = set(referenced_ids(mail.headers)) | {mail.headers.message_id}
    return tuple(i for i in dict.fromkeys(found) if i not in own)


def match_keys(mail: Mail | Rejected, body: str = "") -> MatchKeys:
    """Everything above for one mail. `body` (the reply's first text, see classify) adds ticket
    numbers written in the body; a Rejected mail offers its headers only."""
    answered = referenced_ids(mail.headers)
    enclosed = enclosed_ids(mail) if isinstance(mail, Mail) else ()
    inner_tokens: list[str] = []
    if isinstance(mail, Mail):
        for part in mail.parts:
            if part.enclosed is not None:
                inner_tokens += incident_tokens(part.enclosed.subject)
    subject = mail.headers.subject
    return MatchKeys(
        message_ids=tuple(dict.fromkeys([*answered, *enclosed])), answered_ids=answered,
        tokens=incident_tokens(subject), tickets=ticket_numbers(subject, body),
        subject_key=subject_key(subject), enclosed_tokens=tuple(dict.fromkeys(inner_tokens)),
    )
