"""Framing: text a client chooses must never decide who is reported.

tests/data/scan/framing.jsonl holds real-looking lines of each daemon family the scanner reads, with
the address the daemon recorded ({A}) and a field the client fills ({X}: a user name, a path, a
header, an HELO name, a SIP URI...). A third party's address is written into every such field, in
every notation and with every cue the scanner knows (from ... port, SRC=, rhost=, client:,
[client ...], X-Forwarded-For:, arrows, the head of an access log...), escaped as the daemon writes
that field: the attacker must stay the daemon's address, alone, in a file, and on the bulk path.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import ScanConfig
from bot.scan import scan_lines, scan_paths, scanner

CORPUS = [json.loads(line) for line in
          (Path(__file__).resolve().parents[1] / "data" / "scan" / "framing.jsonl").read_text().splitlines()]
ATTACKERS = ("45.1.2.3", "2a02:c7f:1234::5")
VICTIMS = ("74.125.225.229", "2001:4860:4860::8888")
CFG = ScanConfig()

# What a framer writes: the victim's address with each cue that names a source or a peer.
PAYLOADS = (
    "{V}", "from {V}", "from {V} port 22", "x from {V} port 4444", "{V} port 22", "SRC={V}", "rhost={V}",
    "client {V}", "client: {V}, server: x", "[client {V}]", "X-Forwarded-For: {V}", "{V}:5555 -> 10.0.0.1:22",
    'Client "{V}"', "rip={V}", "failed for '{V}:5060'", "unknown[{V}]", "Source Network Address: {V}",
    "(?@{V})", '{V} - - [10/Mar/2026:10:00:01 +0000] "GET / HTTP/1.1"', "[{V}]:443",
    "user=<x>, rip={V}, lip=1.2.3.4",
    "remote_addr={V}", '"client_ip":"{V}"', "Connection from {V} port 22 on 10.0.0.1 port 22",
)


def escape(payload: str, quoting: str) -> str:
    """The payload as the daemon writes it in a field of that kind (its own escaping)."""
    if quoting == "url":
        return quote(payload, safe="/:=?&[]@")
    if quoting in ("quoted", "json"):
        return payload.replace("\\", "\\\\").replace('"', '\\"')
    if quoting == "capture":
        return payload.translate(str.maketrans("|{}", "###"))
    if quoting == "angle":
        return payload.translate(str.maketrans("<>", "__"))
    if quoting == "paren":
        return payload.translate(str.maketrans("()", "__"))
    if quoting == "sip":
        return payload.replace('"', '\\"').replace("'", "_")
    if quoting == "sipuser":
        return quote(payload, safe="=:[]")
    if quoting == "bracket":
        return payload.translate(str.maketrans("[]", "__"))
    if quoting == "xml":
        return payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    if quoting == "cef":        # CEF escapes "\\" and "=" in extension values
        return payload.replace("\\", "\\\\").replace("=", "\\=")
    if quoting == "squote":
        return payload.replace("'", "\\'")
    return payload


def render(case: dict[str, str], attacker: str, chosen: str) -> str:
    line = case["line"]
    if ":" in attacker:     # IPv6 with a port is written in brackets, as the daemons write it
        line = line.replace("ipv4:{A}:", "ipv6:[{A}]:").replace("{A}:", "[{A}]:")
    return line.format(A=attacker, X=escape(chosen, case["quoting"]))


def attacker_of(lines: list[str]) -> str | None:
    result = scan_lines(lines, CFG)
    return result.attacker.ip if result.attacker else None


def attacker_side(lines: list[str]) -> dict[str, int]:
    """The lines on which each address was read as the attacker side."""
    return {c.ip: c.source_count for c in scan_lines(lines, CFG).candidates}


@pytest.mark.parametrize("case", CORPUS, ids=[f"{c['family']}: {c['field']}" for c in CORPUS])
@pytest.mark.parametrize("attacker", ATTACKERS)
def test_no_field_the_client_fills_can_frame_a_third_party(case: dict[str, str], attacker: str) -> None:
    for victim in VICTIMS:
        for payload in PAYLOADS:
            line = render(case, attacker, payload.format(V=victim))
            # nobody else is read as the attacker side, and the attacker still is
            sides = attacker_side([line])
            assert sides.pop(attacker) == 1 and set(sides.values()) <= {0}, line


@pytest.mark.parametrize("case", CORPUS, ids=[f"{c['family']}: {c['field']}" for c in CORPUS])
@pytest.mark.parametrize("pasted", ["    ", "> "], ids=["indented", "quoted"])
def test_pasted_lines_cannot_frame_either(case: dict[str, str], pasted: str) -> None:
    # lines pasted into a mail or a chat are often indented or quoted: the client wrote none of that
    for victim in VICTIMS:
        for payload in PAYLOADS:
            line = pasted + render(case, "45.1.2.3", payload.format(V=victim))
            sides = attacker_side([line])
            assert sides.pop("45.1.2.3") == 1 and set(sides.values()) <= {0}, line


@pytest.mark.parametrize("case", CORPUS, ids=[f"{c['family']}: {c['field']}" for c in CORPUS])
def test_the_framed_lines_read_without_framing_name_the_daemons_peer(case: dict[str, str]) -> None:
    # (the corpus is only worth something if its lines are read as their daemon means them)
    sides = attacker_side([render(case, "45.1.2.3", "admin")])
    assert sides.pop("45.1.2.3") == 1 and set(sides.values()) <= {0}


def test_a_file_of_framed_lines_names_the_attacker_on_both_paths(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [pasted + render(case, "45.1.2.3", payload.format(V=victim))
             for case in CORPUS for payload in PAYLOADS for victim in VICTIMS for pasted in ("", "  ")]
    log = tmp_path / "framed.log"
    log.write_text("\n".join(lines) + "\n")
    for bulk_from in (scanner.BULK_MIN_BYTES, 1000):         # line by line, then shape by shape
        monkeypatch.setattr(scanner, "BULK_MIN_BYTES", bulk_from)
        result = scan_paths([log], CFG)
        assert result.attacker is not None and result.attacker.ip == "45.1.2.3"
        by_ip = {c.ip: c for c in result.candidates}
        for victim in VICTIMS:
            assert by_ip[victim].source_count == 0, (bulk_from, victim)


def _global(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return a.is_global and not a.is_multicast and str(a) not in ATTACKERS


CUE = st.sampled_from(["", "from ", "SRC=", "rhost=", "client ", "client: ", "[client ", "X-Forwarded-For: ",
                       "remote_ip=", "ip=", "peer ", "source ", "Client \"", "rip=", "failed for '", "via ",
                       "(?@", "unknown[", "connect from unknown["])
AFTER = st.sampled_from(["", " port 22", ":4444", " port 4444 ssh2", "]", "\"", "]:443", " -> 10.0.0.1:22",
                         ", server: x", " - - [10/Mar/2026:10:00:01 +0000] \"GET / HTTP/1.1\"", "'", ")"])
FILLER = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)


@st.composite
def third_party(draw: st.DrawFn) -> str:
    addr = draw(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).filter(_global))
    text = str(addr) if addr.version == 4 else draw(st.sampled_from(
        [addr.compressed, addr.exploded, f"[{addr.compressed}]"]))
    return draw(FILLER) + draw(CUE) + text + draw(AFTER) + draw(FILLER)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CORPUS), st.sampled_from(ATTACKERS), st.lists(third_party(), min_size=1, max_size=3))
def test_a_third_party_injected_anywhere_the_client_writes_never_becomes_the_attacker(
        case: dict[str, str], attacker: str, injected: list[str]) -> None:
    # several framed lines, each with another injected address, and one plain line of the attack
    lines = [render(case, attacker, chosen) for chosen in injected] + [render(case, attacker, "admin")]
    assert attacker_of(lines) == attacker, lines


def test_a_line_padded_with_a_crowd_of_addresses_is_not_used(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # A real peer hidden among thousands of planted addresses: reading roles over them would take
    # minutes (it is quadratic in a line's addresses) and the crowd would outnumber the peer. The
    # line is a list, not an event, and is not used, on both paths.
    crowd = " ".join(f"client: 74.125.{i // 250}.{i % 250 + 1}," for i in range(20_000))
    line = f"2026/03/10 10:00:01 [error] 1#1: *1 x, {crowd} client: 45.1.2.3, server: y"
    lines = [line, "Mar 10 10:00:02 srv sshd[1]: Invalid user a from 45.1.2.3 port 2"]
    log = tmp_path / "crowd.log"
    log.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(scanner, "BULK_MIN_BYTES", 1000)
    for result in (scan_lines(lines, CFG), scan_paths([log], CFG)):
        assert (result.lines_used, result.attacker and result.attacker.ip) == (1, "45.1.2.3")
        assert {c.ip for c in result.candidates} == {"45.1.2.3"}
        assert result.lines_crowded == 1 and "more than 64 addresses" in result.set_aside()[0]


# The daemon's peer field written twice, where the client's text could hold either copy: nginx writes
# the request line, Host and Referer after its own "client:" without escaping quotes, so a client
# that breaks out of one can write a whole second trailer after nginx's (or before it, in a path or a
# user name); an Asterisk security event can end with a field the client filled. No reading of one
# line tells the copies apart, so such a line is not used: it names nobody.
BREAKOUTS = [
    # after nginx's trailer, in the referrer
    '2026/03/10 10:00:01 [error] 7#7: *3 open() "/srv/www/x" failed (2: No such file or directory), '
    'client: {A}, server: y, request: "GET /x HTTP/1.1", host: "y", referrer: "", client: {V}, server: "y"',
    # ... in the request line
    '2026/03/10 10:00:01 [error] 7#7: *3 access forbidden by rule, client: {A}, server: y, '
    'request: "GET /", client: {V}, server: y, x: " HTTP/1.1", host: "y"',
    # before it, in the path nginx opened (decoded from %22)
    '2026/03/10 10:00:01 [error] 7#7: *3 open() "/srv/www/", client: {V}, server: y, x: "" failed '
    '(2: No such file or directory), client: {A}, server: y, request: "GET /x HTTP/1.1", host: "y"',
    # Asterisk: a second RemoteAddress written into ReceivedHash, the event's last field
    'SECURITY[6] res_security_log.c: SecurityEvent="InvalidPassword",AccountID="1",'
    'LocalAddress="IPV4/UDP/192.0.2.5/5060",RemoteAddress="IPV4/UDP/{A}/5061",Challenge="1",'
    'ReceivedChallenge="1",ReceivedHash="x",RemoteAddress="IPV4/UDP/{V}/5060"',
    # the victim's copy written twice (the last two copies agree), or another key doubled after it
    '2026/03/10 10:00:01 [error] 7#7: *3 access forbidden by rule, client: {A}, server: y, '
    'request: "GET /", client: {V}, server: y, x: ", client: {V}, server: y, x: " HTTP/1.1", host: "y"',
    '2026/03/10 10:00:01 [error] 7#7: *3 access forbidden by rule, client: {A}, server: y, '
    'request: "GET /", client: {V}, server: y, up=192.0.2.1 up=192.0.2.1 x: " HTTP/1.1", host: "y"',
]


@pytest.mark.parametrize("framed", BREAKOUTS, ids=["nginx referrer", "nginx request", "nginx path",
                                                   "asterisk last field", "victim twice", "other key twice"])
def test_a_peer_field_the_client_may_have_written_twice_names_nobody(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, framed: str) -> None:
    victim, attacker = VICTIMS[0], ATTACKERS[0]
    lines = [framed.format(A=attacker, V=victim)] * 3
    log = tmp_path / "framed.log"
    log.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(scanner, "BULK_MIN_BYTES", 100)
    for result in (scan_lines(lines, CFG), scan_paths([log], CFG)):
        assert (result.attacker, result.lines_used, result.lines_ambiguous) == (None, 0, 3)
        assert "the client could have written either copy" in result.set_aside()[0]
    # the attacker's other lines still name it
    more = [*lines, f"Mar 10 10:00:02 srv sshd[1]: Invalid user a from {attacker} port 2"]
    result = scan_lines(more, CFG)
    assert [c.ip for c in result.candidates] == [attacker]


def test_a_key_written_twice_that_accuses_nobody_either_way_is_read() -> None:
    # Which dst= is the daemon's does not change who is accused: the line is used, src= named
    line = ('Mar 10 10:00:01 fw app: src=45.1.2.3 dst=192.0.2.5 act=block dst=192.0.2.6 '
            'msg="GET / HTTP/1.1"')
    result = scan_lines([line] * 3, CFG, allow_non_global=True)
    assert (result.lines_used, result.lines_ambiguous) == (3, 0)
    assert result.attacker is not None and result.attacker.ip == "45.1.2.3"
    # but when one copy would be accused, the line still names nobody
    doubled = line.replace("dst=192.0.2.6", "src=198.51.100.9")
    result = scan_lines([doubled] * 3, CFG, allow_non_global=True)
    assert (result.attacker, result.lines_used, result.lines_ambiguous) == (None, 0, 3)
