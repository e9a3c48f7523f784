"""DNS messages on the wire for the few questions the gatherer asks (pure: bytes in, values out).

Bulk lookups ask thousands of questions; building them with dnspython's message API and parsing the
answers with it cost about 1 ms of CPU each (for a 34-label IPv6 reverse name, more), more than all the
rest of a lookup. This module writes a query (one question, recursion desired) and reads an answer's
header, its records of the type asked and the SOA of a negative answer, nothing else. Answers are
untrusted bytes: every length and compression pointer is bounds-checked (pointers must point backwards,
so no loop), names are limited to 255 octets and labels to 63, and anything malformed raises
:class:`Malformed`. tests/gather/test_dnswire.py checks it against dnspython's parser.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}
QR, TC = 0x8000, 0x0200
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_SPECIAL = frozenset(b'"().;\\@$')


class Malformed(ValueError):
    """An answer that is not a well-formed DNS message."""


class Reply(NamedTuple):
    rcode: int
    truncated: bool
    values: tuple[str, ...]    # the records of the type asked, as text (see _rdata)
    ttl: float                 # the smallest TTL of those records, or a negative answer's SOA TTL
    has_soa: bool


def encode_name(name: str) -> bytes:
    """``www.example.net`` -> wire form (absolute). ValueError for a name DNS cannot hold."""
    text = name.rstrip(".")
    if name in (".", ""):
        return b"\x00"
    out = bytearray()
    for label in text.split("."):
        raw = label.encode("ascii") if label.isascii() else label.encode("idna")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad label in {name[:80]!r}")
        out += bytes((len(raw),)) + raw
    out += b"\x00"
    if len(out) > 255:
        raise ValueError(f"name too long: {name[:80]!r}")
    return bytes(out)


def query(qid: int, name: str, rdtype: str) -> tuple[bytes, bytes]:
    """(message, question section) for one question with recursion desired."""
    question = encode_name(name) + struct.pack("!HH", TYPES[rdtype], 1)
    return _HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + question, question


def _text(label: bytes) -> str:
    """A label as dnspython writes it: special characters escaped, others as \\DDD."""
    if label.isalnum() or all(33 <= b < 127 and b not in _SPECIAL for b in label):
        return label.decode("ascii")
    return "".join(chr(b) if 33 <= b < 127 and b not in _SPECIAL else
                   ("\\" + chr(b) if b in _SPECIAL else f"\\{b:03d}") for b in label)


def read_name(wire: bytes, pos: int) -> tuple[str, int]:
    """(name as text with its final dot, position after it in the record)."""
    labels: list[str] = []
    end = -1
    total = 1
    while True:
        if pos >= len(wire):
            raise Malformed("name runs past the message")
        length = wire[pos]
        if length >= 0xC0:
            if pos + 1 >= len(wire):
                raise Malformed("cut compression pointer")
            target = ((length & 0x3F) << 8) | wire[pos + 1]
            if target >= pos:
                raise Malformed("compression pointer that does not point back")
            if end < 0:
                end = pos + 2
            pos = target
            continue
        if length >= 0x40:
            raise Malformed("unknown label type")
        pos += 1
        if length == 0:
            break
        total += length + 1
        if total > 255 or pos + length > len(wire):
            raise Malformed("name too long or cut")
        labels.append(_text(wire[pos:pos + length]))
        pos += length
    return ".".join(labels) + ".", (end if end >= 0 else pos)


def _rdata(wire: bytes, rtype: int, start: int, end: int) -> str:
    data = wire[start:end]
    if rtype == 1:
        if len(data) != 4:
            raise Malformed("A record of the wrong length")
        return str(ipaddress.IPv4Address(data))
    if rtype == 28:
        if len(data) != 16:
            raise Malformed("AAAA record of the wrong length")
        return str(ipaddress.IPv6Address(data))
    if rtype in (2, 5, 12):
        name, after = read_name(wire, start)
        if after != end:
            raise Malformed("name record of the wrong length")
        return name
    if rtype == 15:
        if len(data) < 3:
            raise Malformed("cut MX record")
        name, after = read_name(wire, start + 2)
        if after != end:
            raise Malformed("MX record of the wrong length")
        return f"{struct.unpack('!H', data[:2])[0]} {name}"
    if rtype == 16:  # the character-strings joined, as RFC 7208 reads a TXT record
        chunks, pos = [], 0
        while pos < len(data):
            size = data[pos]
            if pos + 1 + size > len(data):
                raise Malformed("cut TXT string")
            chunks.append(data[pos + 1:pos + 1 + size])
            pos += 1 + size
        return b"".join(chunks).decode("utf-8", "replace")
    raise Malformed(f"no reader for type {rtype}")


def parse(wire: bytes, qid: int, question: bytes, rdtype: str) -> Reply | None:
    """The reply to our question, or None when ``wire`` answers something else (another id or question:
    not ours, keep waiting). Raises Malformed for a message that cannot be read."""
    if len(wire) < _HEADER.size:
        return None
    rid, flags, qdcount, ancount, nscount, _ = _HEADER.unpack_from(wire)
    end_q = _HEADER.size + len(question)
    asked = wire[_HEADER.size:end_q]
    if (rid != qid or not flags & QR or qdcount != 1 or asked[-4:] != question[-4:]
            or asked[:-4].lower() != question[:-4].lower()):
        return None
    rcode = flags & 0xF
    if flags & TC:
        return Reply(rcode, True, (), 0.0, False)
    wanted = TYPES[rdtype]
    values: list[str] = []
    ttls: list[int] = []
    negative: float | None = None
    pos = end_q
    for index in range(ancount + nscount):
        _, pos = read_name(wire, pos)
        if pos + _RR.size > len(wire):
            raise Malformed("cut record")
        rtype, rclass, ttl, size = _RR.unpack_from(wire, pos)
        pos += _RR.size
        if pos + size > len(wire):
            raise Malformed("record data runs past the message")
        if index < ancount and rtype == wanted and rclass == 1:
            values.append(_rdata(wire, rtype, pos, pos + size))
            ttls.append(ttl)
        elif index >= ancount and rtype == 6 and negative is None and size >= 20:
            minimum = struct.unpack_from("!I", wire, pos + size - 4)[0]
            negative = float(min(ttl, minimum))
        pos += size
    if ttls:
        return Reply(rcode, False, tuple(values), float(min(ttls)), negative is not None)
    return Reply(rcode, False, (), negative or 0.0, negative is not None)
