"""Finding IPv4 and IPv6 addresses in a line of text, and normalising them.

Notations understood: ``a.b.c.d``, ``a.b.c.d:port``, tcpdump's ``a.b.c.d.port``, ``[v6]:port``,
``v6%zone``, ``::ffff:a.b.c.d``, compressed and fully expanded IPv6, and an expanded IPv6 followed
by ``:port`` (Suricata fast.log). Text that only looks numeric is not an address: version strings and
OIDs (more than four dotted parts), four-part versions with a build suffix (``5.15.90.1-generic``)
or after a product name (``Chrome/121.0.0.0``), dotted dates, times (``13:15:11``), MAC addresses, hashes and
``::`` used as a separator between words.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
CACHE = 16384       # addresses whose parsing is remembered (per function; a log has far fewer)

# One pattern for both families. The v6 branch takes a run of hex digits and colons (with an
# optional dotted tail for ::ffff:a.b.c.d and a zone id); the checks in _v6() decide.
_V4 = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
# Not the inside of a longer token; an escaped tab or line end before it ends the token before
# (JSON and escaped syslog: Windows' "Source Network Address:\t1.2.3.4\r\n").
_ALONE = r"(?:(?<![\w.%])|(?<=\\[tnr]))"
_ALONE6 = r"(?:(?<![\w.:%])|(?<=\\[tnr]))"
_PATTERN = re.compile(
    _ALONE +
    r"(?:"
    r"(?:(?<!:)|(?<=[Ii][Pp][Vv]6:))"                  # "[IPv6:2001:db8::1]" (mail headers)
    r"(?P<v6>(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)"   # at least two colons
    r"(?!\d{1,2}(?::\d{1,2}){1,3}(?![0-9A-Fa-f:]))"      # not a time (13:15:11), cheaply
    r"(?:[0-9A-Fa-f:]{2,30}?(?<=:)" + _V4 + r"|[0-9A-Fa-f:]{2,45}))"
    r"(?P<zone>%\w(?:[\w.\-]{0,30}\w)?)?"               # an interface name; "." or "-" do not end it
    r"|(?P<v4>" + _V4 + r")"
    r")"
    # the port written after a dot: tcpdump "1.2.3.4.43436 > 5.6.7.8.22:", BSD and SOCKS servers
    r"(?:\.(?P<dport>\d{1,5})(?![\w~]|\.\d|-[A-Za-z]|\.[A-Za-z]))?"
)
# White space in the patterns is ASCII's: what the bulk path's bytes patterns read (batch.py).
_SPACE = r"[ \t\n\r\f\v]"
_TCPDUMP_AFTER = re.compile(_SPACE + "+>" + _SPACE + "|:(?:" + _SPACE + "|$)")
# What may not follow an IPv4 address: another digit/letter, a further dotted part (OIDs, versions),
# or a version's build suffix ("5.15.90.1-microsoft-standard-WSL2", "1.2.3.4~rc1").
# A following ".label" makes it part of a host name ("7.100.51.198.dyn.example.net").
_V4_BAD_NEXT = re.compile(r"[\w~]|\.\d|-[A-Za-z]|\.[A-Za-z]")
# A product token ("Chrome/121.0.0.0", "Edg/120.0.2210.91"): a capitalised name, a slash, a version.
# Addresses after a slash follow a protocol or key ("IPV4/UDP/1.2.3.4", "ip/1.2.3.4"), not a name.
_PRODUCT_BEFORE = re.compile(r"(?<![A-Za-z])[A-Z][a-z]+/$")
# A time or a ratio written with colons: only decimal digits in short groups and no "::".
_TIME_LIKE = re.compile(r"^\d{1,2}(?::\d{1,2}){1,3}$")
_PORT_TAIL = re.compile(r"^(?P<addr>.+):(?P<port>\d{1,5})$")


class Found(NamedTuple):
    """One address written in a line."""

    ip: str              # normalised text form
    start: int           # span of the address text in the line (brackets excluded)
    end: int             # end of the address text, port included when written
    port: int | None


@lru_cache(maxsize=CACHE)
def normalise(text: str) -> str | None:
    """The canonical form of one address (or None if it is not one).

    IPv6 is compressed, ``::ffff:a.b.c.d`` becomes ``a.b.c.d``, brackets and zone ids are dropped,
    IPv4 parts with leading zeros (``010.001.002.003``) are read as decimal.
    """
    s = text.strip().strip("[]")
    s = s.split("%", 1)[0]
    if ":" not in s:
        return _v4(s)
    return _v6(s)


def parse(text: str) -> IPAddress | None:
    """The address object for a text, or None."""
    norm = normalise(text)
    return ipaddress.ip_address(norm) if norm is not None else None


@lru_cache(maxsize=CACHE)
def _v4(s: str) -> str | None:
    parts = s.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
        return None
    nums = [int(p) for p in parts]
    if any(n > 255 for n in nums):
        return None
    return ".".join(str(n) for n in nums)


@lru_cache(maxsize=CACHE)
def _v6(s: str) -> str | None:
    if _TIME_LIKE.match(s):
        return None
    try:
        addr = ipaddress.IPv6Address(s)
    except ValueError:
        return None
    mapped = addr.ipv4_mapped
    if mapped is not None:
        return str(mapped)
    return addr.compressed


def find(line: str) -> list[Found]:
    """Every address written in ``line``, in order.

    ``a.b.c.d.port`` (a fifth dotted part) is read as an address and port after tcpdump's form
    (``A.p > B.p:``) or when the line writes two or more endpoints that way (BSD, SOCKS servers);
    alone it is a version or an OID.
    """
    out: list[Found] = []
    dotted: list[int] = []      # "a.b.c.d.port" forms: index in out, -1 when tcpdump's context confirms it
    for m in _PATTERN.finditer(line):
        v4 = m.group("v4")
        dport = m.group("dport")
        if v4 is not None:
            end = m.end("v4")
            if dport is not None:
                dotted.append(len(out) if not _TCPDUMP_AFTER.match(line, m.end()) else -1)
            if dport is None and _V4_BAD_NEXT.match(line, end):
                continue
            start = m.start("v4")
            if start and line[start - 1] == "/" and _PRODUCT_BEFORE.search(line, max(0, start - 40), start):
                continue
            ip = _v4(v4)
            if ip is None:
                continue
            port = int(dport) if dport else None
            port_end = m.end()
            if port is None:
                pm = _COLON_PORT.match(line, end)
                if pm:
                    port = int(pm.group(1))
                    port_end = pm.end()
            out.append(Found(ip, start, port_end, port))
            continue
        found = _from_v6_match(line, m)
        if found is not None:
            out.append(found)
    if len(dotted) == 1 and dotted[0] >= 0:
        out = [f for i, f in enumerate(out) if i != dotted[0]]
    return out


# A port after an IPv4 address; SonicWall writes the interface after it ("src=A:52379:X0"), but
# "A:12:34" is no address and port.
_COLON_PORT = re.compile(r":(\d{1,5})(?![\d.]|:\d)")
_BRACKET_PORT = re.compile(r"\]:(\d{1,5})(?!\d)")


def _from_v6_match(line: str, m: re.Match[str]) -> Found | None:
    raw = m.group("v6")
    start = m.start("v6")
    end = m.end("v6")
    # Trailing dots and colons are punctuation ("from ::1." / "addr 2001:db8::1:"), not the address.
    stripped = raw.rstrip(".")
    if stripped.endswith(":") and not stripped.endswith("::"):
        stripped = stripped.rstrip(":")
    # "WARNING::INFO", "ns::func": letters glued after the run mean it was part of a word.
    after = m.end()
    if after < len(line) and (line[after].isalnum() or line[after] == "_") and m.group("dport") is None:
        return None
    ip = _v6(stripped) if stripped.count(":") >= 2 else None
    port: int | None = None
    if ip is None:
        # "::ffff:1.2.3.4:5555", "[client ::1:37752]", Suricata's "2001:0db8:...:0001:443".
        pm = _PORT_TAIL.match(stripped)
        if pm is None:
            return None
        head = pm.group("addr")
        ip = _v6(head)
        if ip is None:
            return None
        port = int(pm.group("port"))
    elif stripped == "::" or _looks_like_mac(stripped):
        return None
    zone_end = m.end("zone") if m.group("zone") else -1
    if m.group("dport"):
        port = int(m.group("dport"))
    elif port is None and start > 0 and line[start - 1] == "[":
        bm = _BRACKET_PORT.match(line, max(end, zone_end))       # "[fe80::1%eth0]:22"
        if bm:
            port = int(bm.group(1))
            end = bm.end()
    elif port is None and zone_end >= 0:
        # "fe80::1%eth0:51234": the zone ends the address, so ":digits" after it can only be a port.
        zm = _COLON_PORT.match(line, zone_end)
        if zm:
            port = int(zm.group(1))
            end = zm.end()
    elif port is None and "." in stripped:
        # "::ffff:1.2.3.4:5555": after a dotted tail a ":digits" can only be a port.
        cm = _COLON_PORT.match(line, end)
        if cm:
            port = int(cm.group(1))
            end = cm.end()
    return Found(ip, start, max(end, m.end()), port)


def _looks_like_mac(s: str) -> bool:
    groups = s.split(":")
    return len(groups) in (6, 8) and all(len(g) == 2 for g in groups)


# --- tokens: a fast superset of what find() reads, for lines whose shape is known ----------------
#
# The scanner works out a line's addresses and roles once per line shape (see engine.py); for the
# other lines of that shape it only needs the address texts, in order. These two patterns find them
# at the regex engine's speed: each starts at the first "." (IPv4) or ":" (IPv6) of an address, a
# literal the engine finds fast, and takes the first octet or group from fixed-width lookbehinds.
# They may find more than find() keeps (versions, times): the shape says which tokens are addresses.

# (Only a digit is looked for after the dot before the first octet is checked: most dots that are
# no address are followed by a letter, and a longer look ahead would read the octets twice.)
_T4_START = r"\.(?=\d)"
_T4_REST = r"(\d{1,3}\.\d{1,3}\.\d{1,3})(?!\d)(?::(\d{1,5})(?![\d.]|:\d)|\.(\d{1,5})(?![\w~]|\.\d))?"


def _t4_first(capture: bool) -> str:
    """The first octet: 1 to 3 digits before the token's first dot, not inside a longer token."""
    group = "({})" if capture else "(?:{})"
    octets = (group.format(d) for d in (r"\d{3}", r"\d{2}", r"\d"))
    return "(?:" + "|".join(r"(?<=" + _ALONE + octet + r"\.)" for octet in octets) + ")"


_T4 = _T4_START + _t4_first(True) + _T4_REST
_T6 = (r":(?=[0-9A-Fa-f]{0,4}:)(?<!:[0-9A-Fa-f]:)(?<!:[0-9A-Fa-f]{2}:)(?<!:[0-9A-Fa-f]{3}:)"
       r"(?<!:[0-9A-Fa-f]{4}:)"
       # not a time ("13:15:11") nor a MAC address ("00:16:3e:5e:6c:00"), which find() rejects too
       r"(?!\d\d:\d\d(?::\d\d)?(?![:0-9A-Fa-f]))"
       r"(?![0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(?![0-9A-Fa-f]))"
       r"(?:(?<=" + _ALONE6 + r"([0-9A-Fa-f]{4}):)|(?<=" + _ALONE6 + r"([0-9A-Fa-f]{3}):)"
       r"|(?<=" + _ALONE6 + r"([0-9A-Fa-f]{2}):)|(?<=" + _ALONE6 + r"([0-9A-Fa-f]):)|(?<=" + _ALONE6 + r":)"
       r"|(?<=[Ii][Pp][Vv]6:))"
       r"([0-9A-Fa-f:]{1,44}(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})?(?:%\w[\w.\-]{0,30})?\]?)"
       r"(?::(\d{1,5})(?![\d.:])|\.(\d{1,5})(?=" + _SPACE + "+>" + _SPACE + "|:(?:" + _SPACE + "|$)))?")
TOKENS4 = re.compile(_T4)
TOKENS6 = re.compile(_T6)
# For the bulk path (batch.py), which splits many lines at their tokens at once: the same patterns,
# the first octet not captured (the text before a token ends with it), and compiled for bytes too.
# On ASCII text a bytes pattern finds exactly what the str one finds (hence _SPACE), a fifth faster.
# Its one group before the ports is the token from its first dot on (".2.3.4" of "1.2.3.4").
SPLIT4 = re.compile("(" + _T4_START + _t4_first(False) + _T4_REST.replace("(", "", 1))
SPLIT4_ASCII = re.compile(SPLIT4.pattern.encode())
TOKENS6_ASCII = re.compile(_T6.encode())


def token_text(groups: tuple[str, ...], v6: bool) -> str:
    """The text of one token (its address part, without a port group) from its findall groups."""
    head = groups[0] or groups[1] or groups[2] or (groups[3] if v6 else "") or ""
    return head + (":" if v6 else ".") + (groups[-3] or "")


def token_value(groups: tuple[str, ...], v6: bool) -> tuple[str, int | None] | None:
    """(address, port) of one token from its findall (or Match.groups()) groups, or None."""
    parsed = parse_token(token_text(groups, v6))
    if parsed is None:
        return None
    port = groups[-2] or groups[-1]
    return (parsed[0], int(port)) if port else parsed


@lru_cache(maxsize=CACHE)
def parse_token(text: str) -> tuple[str, int | None] | None:
    """(address, port) written as ``text`` (a token of TOKENS4/TOKENS6), or None."""
    port: int | None = None
    s = text
    if s[:1] == ":" and s[1:2] != ":":
        s = s[1:]            # "IPv6:2001:db8::1": the colon was the prefix's
    if ":" not in s or ("." in s and s.count(":") == 1 and s.index(":") > s.index(".")):
        parts = s.split(":")[0].split(".")
        if ":" in s:
            tail = s.rsplit(":", 1)[1]
            port = int(tail) if tail.isdigit() else None
        if len(parts) == 5 and parts[4].isdigit():
            port = int(parts[4])
            parts = parts[:4]
        ip = _v4(".".join(parts))
        return (ip, port) if ip is not None else None
    if "%" in s:
        s, zone_part = s.split("%", 1)
        zport = zone_part.rsplit(":", 1)
        if len(zport) == 2 and zport[1].isdigit():
            port = int(zport[1])
    elif "]:" in s:
        s, tail = s.split("]:", 1)
        port = int(tail) if tail.isdigit() else None
    elif s.endswith("]"):
        s = s[:-1]
    else:
        dm = re.match(r"^(.*:.*)\.(\d{1,5})$", s)        # tcpdump's "2001:db8::1.443 >"
        if dm and "." not in dm.group(1):
            s, port = dm.group(1), int(dm.group(2))
    ip = _v6(s)
    if ip is None and port is None:
        pm = _PORT_TAIL.match(s)
        if pm is not None:
            ip = _v6(pm.group("addr"))
            port = int(pm.group("port")) if ip is not None else None
    if ip is None:
        return None
    return ip, port
