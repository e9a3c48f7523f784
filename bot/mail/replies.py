"""Replies to sent reports: parse the mail, find its incident.

Matching, most reliable first: a Message-ID we recorded in In-Reply-To or References; then the
incident token (``[INC-YYYYMMDD-NNNN]``) in the subject; then the subject itself without its
``Re:``/``Fwd:``/``AW:``... prefixes; then, for bounces (delivery status notifications) and
forwarded copies, the Message-ID or token of a message enclosed as message/rfc822 or
text/rfc822-headers. Tokens and subjects only match incidents whose report went out (anyone can
write a token; a draft or a skipped report cannot be answered). The mail is attacker-influenced
text: it is only ever data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from bot.errors import InputError
from bot.models import Incident
from bot.store import ID_PATTERN, REPORTED, Store

MAX_BYTES = 50 * 1024 * 1024
_MSGID = re.compile(r"<[^<>\s]+>")
_HEADER_LINE = re.compile(rb"^(?:From |[!-9;-~]+:)")
_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|antw|odp|r|tr|rif)\s*(?:\[\d+\])?\s*:\s*)+",
                     re.IGNORECASE)


@dataclass(frozen=True)
class Match:
    incident: Incident | None
    how: str            # "message-id", "token", "subject" or "" when unmatched


def parse(raw: bytes, origin: str = "standard input") -> EmailMessage:
    """Parse a mail; InputError (one line) naming ``origin`` when it is not a mail at all."""
    if not raw.strip():
        raise InputError(f"no mail in {origin}")
    if len(raw) > MAX_BYTES:
        raise InputError(f"the mail is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if not _HEADER_LINE.match(raw.lstrip(b"\r\n")):
        raise InputError(f"{origin} is not a mail (it does not start with a header)")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    if not any(k.lower() in ("from", "subject", "message-id", "date", "to") for k in msg):
        raise InputError(f"{origin} is not a mail (no From, To, Subject, Date or Message-ID)")
    return msg


def _header(msg: EmailMessage, name: str) -> str:
    try:
        values = msg.get_all(name) or []
        return " ".join(str(v) for v in values)
    except (ValueError, TypeError, IndexError):  # a header the library cannot decode: use its raw form
        return " ".join(str(v) for _, v in msg.raw_items() if _.lower() == name.lower())


def referenced_ids(msg: EmailMessage) -> list[str]:
    """Message-IDs this mail answers: In-Reply-To first, then References from the newest."""
    ids = _MSGID.findall(_header(msg, "In-Reply-To"))
    ids += reversed(_MSGID.findall(_header(msg, "References")))
    return list(dict.fromkeys(ids))


def subject(msg: EmailMessage) -> str:
    return " ".join(_header(msg, "Subject").split())


def base_subject(text: str) -> str:
    """The subject without reply/forward prefixes (Re:, Fwd:, AW:, Re[2]:...)."""
    return _PREFIX.sub("", text).strip()


def _sent(store: Store, text: str) -> list[Incident]:
    """Incidents named by [INC-...] tokens in `text` whose report went out (or may have): ids are
    sequential and easy to write, and a report never sent cannot be answered."""
    ids = dict.fromkeys(f"INC-{t.group(1)}-{t.group(2)}".upper() for t in ID_PATTERN.finditer(text))
    found = [store.get(i) for i in ids if store.exists(i)]
    return [inc for inc in found if inc.state in REPORTED]


def subject_tokens(msg: EmailMessage, store: Store) -> list[str]:
    """The ids of sent incidents named by [INC-...] tokens in the subject, in order."""
    return [inc.id for inc in _sent(store, subject(msg))]


def match(msg: EmailMessage, store: Store) -> Match:
    for mid in referenced_ids(msg):
        found = store.by_message_id(mid)
        if found is not None:
            return Match(found, "message-id")
    subj = subject(msg)
    for inc in _sent(store, subj):
        return Match(inc, "token")
    base = base_subject(subj)
    if base:
        found = store.by_subject(base)
        if found is not None and found.state in REPORTED:
            return Match(found, "subject")
    for inner in enclosed(msg):
        for mid in [*_MSGID.findall(_header(inner, "Message-ID")), *referenced_ids(inner)]:
            found = store.by_message_id(mid)
            if found is not None:
                return Match(found, "enclosed message-id")
        for inc in _sent(store, subject(inner)):
            return Match(inc, "enclosed token")
    return Match(None, "")


def enclosed(msg: EmailMessage) -> list[EmailMessage]:
    """Messages (or header blocks) carried inside this one: what a bounce returns, what a forward holds."""
    found: list[EmailMessage] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        try:
            if ctype == "message/rfc822":
                found += [p for p in part.iter_parts() if isinstance(p, EmailMessage)]
            elif ctype == "text/rfc822-headers":
                raw = part.get_payload(decode=True)
                if isinstance(raw, bytes):
                    inner = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
                    if isinstance(inner, EmailMessage):
                        found.append(inner)
        except (ValueError, TypeError, LookupError):  # a broken part is skipped, never fatal
            continue
    return found
