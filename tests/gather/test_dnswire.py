"""Our DNS wire reader (bot.gather.dnswire) against dnspython's: the same records from the same answers,
and nothing but Malformed (or "not ours") from damaged or hostile ones."""

from __future__ import annotations

import contextlib
import struct

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.gather import dnswire

LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)
NAME = st.lists(LABEL, min_size=1, max_size=6).map(lambda labels: ".".join(labels) + ".")
RDATA = {
    "A": st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    "AAAA": st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8).map(
        lambda g: ":".join(f"{x:x}" for x in g)),
    "PTR": NAME,
    "NS": NAME,
    "MX": st.tuples(st.integers(0, 65535), NAME).map(lambda t: f"{t[0]} {t[1]}"),
    "TXT": st.lists(st.text(alphabet="abc@.| 0123456789", max_size=40), min_size=1, max_size=3).map(
        lambda chunks: " ".join('"' + c + '"' for c in chunks)),
}


def _answer(qname: str, rdtype: str, values: list[str], ttl: int, soa: bool,
            rcode: int) -> tuple[bytes, bytes]:
    query = dns.message.make_query(qname, rdtype)
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    if values:
        rrset = dns.rrset.from_text_list(qname, ttl, "IN", rdtype, values)
        response.answer.append(rrset)
    if soa:
        response.authority.append(dns.rrset.from_text(qname, ttl, "IN", "SOA",
                                                      "ns.example. host.example. 1 2 3 4 60"))
    wire = response.to_wire()
    _, question = dnswire.query(query.id, qname, rdtype)
    return wire, question


def _dnspython_values(wire: bytes, rdtype: str) -> list[str]:
    message = dns.message.from_wire(wire)
    wanted = dns.rdatatype.from_text(rdtype)
    out = []
    for rrset in message.answer:
        for rd in rrset:
            if rrset.rdtype != wanted:
                continue
            if rdtype == "TXT":
                out.append(b"".join(rd.strings).decode("utf-8", "replace"))  # type: ignore[attr-defined]
            else:
                out.append(rd.to_text())
    return out


@settings(max_examples=150, deadline=None)
@given(qname=NAME, rdtype=st.sampled_from(sorted(RDATA)), data=st.data(), ttl=st.integers(0, 2**31 - 1),
       soa=st.booleans())
def test_the_same_records_as_dnspython_reads(qname: str, rdtype: str, data: st.DataObject, ttl: int,
                                             soa: bool) -> None:
    values = data.draw(st.lists(RDATA[rdtype], max_size=4, unique=True))
    wire, question = _answer(qname, rdtype, values, ttl, soa, dns.rcode.NOERROR)
    qid = struct.unpack("!H", wire[:2])[0]
    reply = dnswire.parse(wire, qid, question, rdtype)
    assert reply is not None and reply.rcode == dns.rcode.NOERROR and not reply.truncated
    assert sorted(reply.values) == sorted(_dnspython_values(wire, rdtype))
    if values:
        assert reply.ttl == ttl
    elif soa:
        assert reply.ttl == min(ttl, 60)


def test_nxdomain_with_its_negative_ttl_and_answers_to_other_questions_ignored() -> None:
    wire, question = _answer("gone.example.", "PTR", [], 300, True, dns.rcode.NXDOMAIN)
    qid = struct.unpack("!H", wire[:2])[0]
    reply = dnswire.parse(wire, qid, question, "PTR")
    assert reply is not None and reply.rcode == dns.rcode.NXDOMAIN and reply.ttl == 60
    assert dnswire.parse(wire, qid ^ 1, question, "PTR") is None                   # another id
    _, other = dnswire.query(qid, "other.example.", "PTR")
    assert dnswire.parse(wire, qid, other, "PTR") is None                           # another question
    assert dnswire.parse(wire[:10], qid, question, "PTR") is None


def test_a_truncated_answer_says_so() -> None:
    wire, question = _answer("big.example.", "TXT", ['"x"'], 5, False, dns.rcode.NOERROR)
    flagged = wire[:2] + struct.pack("!H", struct.unpack("!H", wire[2:4])[0] | dns.flags.TC) + wire[4:]
    reply = dnswire.parse(flagged, struct.unpack("!H", wire[:2])[0], question, "TXT")
    assert reply is not None and reply.truncated


def test_compression_loops_and_forward_pointers_are_malformed() -> None:
    qid = 7
    _, question = dnswire.query(qid, "a.example.", "PTR")
    header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
    at = 12 + len(question)                     # where the answer record starts
    for owner in (struct.pack("!H", 0xC000 | at), struct.pack("!H", 0xC000 | (at + 10))):
        record = owner + struct.pack("!HHIH", 12, 1, 60, 2) + struct.pack("!H", 0xC000 | at)
        with pytest.raises(dnswire.Malformed):
            dnswire.parse(header + question + record, qid, question, "PTR")


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, 200), noise=st.binary(max_size=60), position=st.integers(0, 200))
def test_damaged_answers_are_malformed_or_not_ours_never_a_crash(cut: int, noise: bytes,
                                                                 position: int) -> None:
    wire, question = _answer("host.example.", "MX", ["10 mx.example.", "20 mx2.example."], 300, True,
                             dns.rcode.NOERROR)
    qid = struct.unpack("!H", wire[:2])[0]
    damaged = (wire[:position] + noise + wire[position + len(noise):])[:max(cut, 12)]
    with contextlib.suppress(dnswire.Malformed):   # any other exception fails the test
        dnswire.parse(damaged, qid, question, "MX")


def test_names_dns_cannot_hold_are_refused() -> None:
    for name in ("a" * 64 + ".example", ".".join(["abcdefghi"] * 30), "a..b"):
        with pytest.raises(ValueError):
            dnswire.encode_name(name)
