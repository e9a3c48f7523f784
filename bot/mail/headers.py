"""Header fields of a received mail as plain decoded text, whatever the sender wrote.

The email library's ``policy.default`` parses some header values when they are read, and on Python
3.11 an odd ``Message-ID`` (``<>``, ``<``, ``<a@[b>``) raises IndexError, AttributeError or
UnboundLocalError there. Mail is therefore parsed with ``compat32`` (values kept as the raw text),
and this module decodes them itself, in ways that cannot raise:

- 8-bit bytes in a header (no RFC 2047 encoding) are read as UTF-8, else as Windows-1252;
- RFC 2047 encoded words are decoded with their charset; an unknown or broken one falls back the
  same way (``decode_bytes``);
- folded lines are joined; a value is cut at ``MAX_VALUE`` characters.

Values stay data: they may hold any character except CR and LF. Show them through
``bot.text.single_line``.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

MAX_VALUE = 16_384          # characters kept of one header value
MAX_FIELDS = 500            # header fields kept of one header block

_MSGID = re.compile(r"<[^<>\s]{1,900}>")
_ADDRESS = re.compile(r"[^\s<>,;:\"()\[\]\\]{1,200}@[^\s<>,;:\"()\[\]\\@]{1,255}")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(=\?)")
_FOLD = re.compile(r"\r\n|\r|\n")
# Codecs that exist in Python but are no mail charset; text in them is read with the fallback.
_NOT_CHARSETS = frozenset({"idna", "punycode", "raw_unicode_escape", "unicode_escape", "undefined"})


def _codec(charset: str) -> str | None:
    name = charset.strip().strip("\"'").lower()
    if not name or name in ("unknown-8bit", "x-unknown", "8bit", "default", "x-user-defined"):
        return None
    try:
        info = codecs.lookup(name)
        b"".decode(info.name)  # LookupError for a codec that is not a text encoding (rot13, zlib...)
    except (LookupError, ValueError):
        return None
    return None if info.name in _NOT_CHARSETS else info.name


def decode_bytes(data: bytes, charset: str = "") -> str:
    """Bytes as text in `charset`; when it is unknown, broken or says ASCII of 8-bit data: UTF-8, and
    bytes that are not UTF-8 as Windows-1252 (never raises; undecodable bytes become U+FFFD)."""
    name = _codec(charset)
    if name == "utf-8":
        return data.decode("utf-8", _MIXED)
    if name is not None and not (name == "ascii" and not data.isascii()):
        try:
            return data.decode(name, "replace")
        except (UnicodeError, ValueError, LookupError):  # some codecs fail on bad input even so
            pass
    return data.decode("utf-8", _MIXED)


def _as_cp1252(err: UnicodeError) -> tuple[str, int]:
    """Bytes that are not UTF-8 read as Windows-1252: mail that mixes both (an 8-bit Latin-1 word in
    a UTF-8 subject) stays readable."""
    if not isinstance(err, UnicodeDecodeError):
        raise err
    return err.object[err.start:err.end].decode("cp1252", "replace"), err.end


_MIXED = "incident-bot-utf8-else-cp1252"
codecs.register_error(_MIXED, _as_cp1252)


def _encoded_word(match: re.Match[str]) -> str:
    charset, kind, text = match.group(1).partition("*")[0], match.group(2).lower(), match.group(3)
    try:
        if kind == "b":
            raw = text.encode("ascii", "ignore")
            raw += b"=" * (-len(raw) % 4)
            data = binascii.a2b_base64(raw)
        else:
            data = binascii.a2b_qp(text.replace("_", " ").encode("ascii", "ignore"))
    except (binascii.Error, ValueError):
        return match.group(0)
    return decode_bytes(data, charset)


def decode_value(raw: object, limit: int = MAX_VALUE) -> str:
    """A raw header value (as the parser keeps it) as text: unfolded, decoded, at most `limit` chars."""
    text = str(raw)[: limit * 4]
    if any("\udc80" <= ch <= "\udcff" for ch in text):  # 8-bit bytes kept as surrogates by the parser
        text = decode_bytes(text.encode("utf-8", "surrogateescape"))
    text = _FOLD.sub(" ", text)
    if "=?" in text:
        text = _ENCODED_WORD.sub(_encoded_word, _BETWEEN_WORDS.sub(r"\1\2", text))
    return _FOLD.sub(" ", text).strip()[:limit]


def message_ids(text: str) -> tuple[str, ...]:
    """The ``<...>`` Message-IDs in a header value, in order, each once."""
    return tuple(dict.fromkeys(_MSGID.findall(text)))


def addresses(text: str) -> tuple[str, ...]:
    """The mailbox addresses in a header value (display names, comments and groups aside), lowercased
    domains, each once. A plain pattern, not the email library's parser: it never raises."""
    found: list[str] = []
    for addr in _ADDRESS.findall(text):
        local, _, domain = addr.rpartition("@")
        found.append(f"{local}@{domain.lower().rstrip('.')}")
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Headers:
    """The header fields of one message (or MIME part, or delivery-status block), decoded, in order.

    Names keep their spelling; lookups ignore case. At most ``MAX_FIELDS`` fields are kept."""

    fields: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, raw_items: Iterable[tuple[str, object]], max_fields: int = MAX_FIELDS) -> Headers:
        kept: list[tuple[str, str]] = []
        for name, value in raw_items:
            if len(kept) >= max_fields:
                break
            kept.append((decode_value(name, 200), decode_value(value)))
        return cls(tuple(kept))

    def get_all(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(v for k, v in self.fields if k.lower() == wanted)

    def get(self, name: str, default: str = "") -> str:
        """The first field of that name (RFC 5322 allows one of most), or `default`."""
        values = self.get_all(name)
        return values[0] if values else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    @property
    def subject(self) -> str:
        return " ".join(self.get("Subject").split())

    @property
    def message_id(self) -> str:
        ids = message_ids(self.get("Message-ID"))
        return ids[0] if ids else ""

    @property
    def in_reply_to(self) -> tuple[str, ...]:
        return message_ids(" ".join(self.get_all("In-Reply-To")))

    @property
    def references(self) -> tuple[str, ...]:
        return message_ids(" ".join(self.get_all("References")))

    @property
    def from_address(self) -> str:
        found = addresses(self.get("From"))
        return found[0] if found else ""

    @property
    def to_addresses(self) -> tuple[str, ...]:
        return addresses(" , ".join(self.get_all("To") + self.get_all("Cc")))

    @property
    def return_path(self) -> str | None:
        """The Return-Path address, ``""`` for the null sender ``<>``, None when there is none."""
        values = self.get_all("Return-Path")
        if not values:
            return None
        value = values[0].strip()  # the newest is on top
        if value.replace(" ", "") in ("<>", ""):
            return ""
        found = addresses(value)
        return found[0] if found else value.strip("<>")

    @property
    def date(self) -> datetime | None:
        value = self.get("Date")
        if not value:
            return None
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
