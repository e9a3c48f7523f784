"""Property tests: any address written in any supported notation inside arbitrary text is found and
normalised; generated look-alikes (versions, OIDs, times, MACs, hashes) are not."""

from __future__ import annotations

import ipaddress

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.scan.addresses import SPLIT4_ASCII, TOKENS4, TOKENS6, TOKENS6_ASCII, find

# Text around the address: anything, as long as the address stays a token of its own (the
# separator next to it is not part of an address).
FILLER = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
# (and the escaped tab or line end of JSON and escaped syslog: "Source Address:\t1.2.3.4")
SEP = st.sampled_from([" ", "  ", "\t", " (", " [", " <", '"', "=", ": ", ", ", "\\t", "\\n", ":\\t\\t"])
END = st.sampled_from([" ", ")", "]", ">", '"', ",", ";", ". ", "\t"])
PORT = st.integers(min_value=1, max_value=65535)


def v4_forms(a: ipaddress.IPv4Address, port: int) -> list[str]:
    return [str(a), f"{a}:{port}", f"::ffff:{a}", f"[::ffff:{a}]:{port}"]


def v6_forms(a: ipaddress.IPv6Address, port: int) -> list[str]:
    return [a.compressed, a.exploded, f"[{a.compressed}]:{port}", f"{a.compressed}%eth0",
            f"{a.exploded}:{port}"]


@st.composite
def written(draw: st.DrawFn) -> tuple[str, str]:
    """(text holding one address, its normalised form)."""
    if draw(st.booleans()):
        a4 = draw(st.ip_addresses(v=4))
        form = draw(st.sampled_from(v4_forms(a4, draw(PORT))))  # type: ignore[arg-type]
        norm = str(a4)
    else:
        # "::" alone is deliberately not taken for an address (it separates words in many logs).
        a6 = draw(st.ip_addresses(v=6).filter(lambda a: int(a) != 0))
        assert isinstance(a6, ipaddress.IPv6Address)
        if a6.ipv4_mapped is not None:
            a6 = ipaddress.IPv6Address(int(a6) ^ (1 << 100))
        form = draw(st.sampled_from(v6_forms(a6, draw(PORT))))
        norm = a6.compressed
    return draw(FILLER) + draw(SEP) + form + draw(END) + draw(FILLER), norm


@settings(max_examples=300, deadline=None)
@given(written())
def test_an_address_in_text_is_found_and_normalised(case: tuple[str, str]) -> None:
    text, norm = case
    assert norm in [f.ip for f in find(text)]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999))
def test_three_part_versions_and_dates_are_not_addresses(a: int, b: int, c: int) -> None:
    assert find(f"version {a}.{b}.{c} released") == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=5, max_size=12))
def test_oids_and_long_dotted_numbers_are_not_addresses(parts: list[int]) -> None:
    assert find("oid " + ".".join(map(str, parts)) + " end") == []


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999999))
def test_times_are_not_addresses(h: int, m: int, s: int, us: int) -> None:
    assert find(f"at {h:02d}:{m:02d}:{s:02d} and {h:02d}:{m:02d}:{s:02d}.{us:06d} and {h}:{m:02d}") == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=6, max_size=6), st.sampled_from([":", "-"]))
def test_mac_addresses_are_not_addresses(octets: list[int], sep: str) -> None:
    assert find("ether " + sep.join(f"{o:02x}" for o in octets) + " up") == []


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=16, max_size=32))
def test_hex_hashes_are_not_addresses(raw: bytes) -> None:
    assert find(f"sha {raw.hex()} md5:{raw[:16].hex()}") == []


# Text made of what address tokens are made of, and the characters around them in logs.
_TOKENISH = st.text(st.sampled_from(list("0123456789abcdefABCDEF.:[]%> \t\x1c\nIPvx/-~_\\nrt")), max_size=80)


@settings(max_examples=500, deadline=None)
@given(_TOKENISH)
@example("IP fe80::1.5353\x1c>\x1cff02::fb.5353: UDP, 10.1.2.3.22 > 10.0.0.1.4444: Flags")
def test_big_inputs_split_ascii_text_into_the_tokens_the_line_path_finds(text: str) -> None:
    # The bulk path splits ASCII lines as bytes: its patterns must find exactly the tokens (and
    # their address and port text) that the line path's str patterns find.
    data = text.encode("ascii")
    assert [(m.start(), m.end()) for m in SPLIT4_ASCII.finditer(data)] == \
        [(m.start(), m.end()) for m in TOKENS4.finditer(text)]
    assert [m.group(2, 3) for m in SPLIT4_ASCII.finditer(data)] == \
        [tuple(g.encode() if g else g for g in m.group(5, 6)) for m in TOKENS4.finditer(text)]
    assert [m.groups() for m in TOKENS6_ASCII.finditer(data)] == \
        [tuple(g.encode() if g is not None else g for g in m.groups()) for m in TOKENS6.finditer(text)]
