"""Replies to sent reports: read the mail safely, find its incident (the ``incident followup`` path).

``parse`` reads with bot/mail/reading.py: any mail comes back, a ``Mail`` or, when too large or too
deeply nested to parse, a ``Rejected`` that still has its headers, so that it can be matched and
filed like any other (never lost). Only input that is no mail at all is an InputError.

``match`` looks the keys of bot/mail/matching.py up in the store, most reliable first: a Message-ID
we recorded in In-Reply-To or References; one of a message enclosed in it (a bounce's returned
original); the incident token in the subject; the subject without prefixes, tags and token (only
incidents whose report went out); a token in an enclosed message's subject. Tokens and subjects
only match incidents whose report went out (anyone can write a token; a draft or a skipped report
cannot be answered). A remote ticket number matches the incident its desk (the same sender domain)
gave it for in an earlier acknowledgement, after the token and before the subject.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import InputError
from bot.mail.headers import Headers
from bot.mail.matching import incident_tokens, match_keys, strip_prefixes, subject_key
from bot.mail.matching import referenced_ids as _referenced
from bot.mail.reading import LIMITS, Mail, Rejected, read_mail
from bot.models import Incident, State
from bot.store import REPORTED, Store, followups

MAX_BYTES = LIMITS.max_bytes


@dataclass(frozen=True)
class Match:
    incident: Incident | None
    how: str    # "message-id", "enclosed message-id", "token", "subject", "enclosed token" or ""


def parse(raw: bytes, origin: str = "standard input") -> Mail | Rejected:
    """Read a mail; InputError (one line) naming `origin` only when it is not a mail at all."""
    mail = read_mail(raw)
    if isinstance(mail, Rejected) and not mail.headers.fields:
        if mail.reason.startswith("empty"):
            raise InputError(f"no mail in {origin}")
        raise InputError(f"{origin} is not a mail ({mail.reason})")
    if isinstance(mail, Rejected) and mail.reason.startswith("not a mail"):
        raise InputError(f"{origin} is not a mail ({mail.reason.partition(': ')[2]})")
    return mail


def referenced_ids(msg: Mail | Rejected) -> list[str]:
    """Message-IDs this mail answers: In-Reply-To first, then References from the newest."""
    return list(_referenced(msg.headers))


def subject(msg: Mail | Rejected) -> str:
    return msg.headers.subject


def base_subject(text: str) -> str:
    """The subject without reply/forward prefixes and gateway tags (Re:, AW:, Re[2]:, [External]...)."""
    return strip_prefixes(text)


def _sent(store: Store, ids: tuple[str, ...]) -> list[Incident]:
    """The incidents among `ids` whose report went out (or may have): ids are sequential and easy to
    write, and a report never sent cannot be answered."""
    found = [store.get(i) for i in ids if store.exists(i)]
    return [inc for inc in found if inc.state in REPORTED]


def subject_tokens(msg: Mail | Rejected, store: Store) -> list[str]:
    """The ids of sent incidents named by [INC-...] tokens in the subject, in order."""
    return [inc.id for inc in _sent(store, incident_tokens(subject(msg)))]


def _by_subject_key(store: Store, key: str) -> Incident | None:
    """The newest incident whose report went out with a subject of this key, sent ones first (a
    report still `sending` may never have left). A scan of the reported incidents: the store
    should index the key instead (docs/mail.md)."""
    found = store.incidents(REPORTED)
    same = [inc for inc in found if subject_key(inc.subject) == key]
    if not same:
        return None
    return max(same, key=lambda inc: (inc.state is not State.SENDING, inc.created, inc.id))


def match(msg: Mail | Rejected, store: Store) -> Match:
    keys = match_keys(msg)
    for mid in keys.answered_ids:
        found = store.by_message_id(mid)
        if found is not None:
            return Match(found, "message-id")
    for mid in keys.message_ids[len(keys.answered_ids):]:
        found = store.by_message_id(mid)
        if found is not None:
            return Match(found, "enclosed message-id")
    for inc in _sent(store, keys.tokens):
        return Match(inc, "token")
    for ticket in keys.tickets:  # learnt from an earlier acknowledgement of the same desk
        inc_id = followups.by_ticket(store, ticket, msg.headers.from_address)
        if inc_id is not None:
            return Match(store.get(inc_id), "ticket")
    base = base_subject(subject(msg))
    if base:
        found = store.by_subject(base)
        if found is not None and found.state in REPORTED:
            return Match(found, "subject")
    if keys.subject_key:
        found = _by_subject_key(store, keys.subject_key)
        if found is not None:
            return Match(found, "subject")
    for inc in _sent(store, keys.enclosed_tokens):
        return Match(inc, "enclosed token")
    return Match(None, "")


def enclosed(msg: Mail | Rejected) -> list[Headers]:
    """Header blocks of the messages carried inside this one: what a bounce returns, what a forward holds."""
    if isinstance(msg, Rejected):
        return []
    return [p.enclosed for p in msg.parts if p.enclosed is not None]
