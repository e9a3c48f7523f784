"""The scanner's fast is_global gives the same answer as bot.public.is_public, the one definition of
an address somebody can be told about (ipaddress' is_global, minus multicast and special-use space)."""

from __future__ import annotations

import ipaddress
import random

from bot.public_address import is_public
from bot.scan.ranking import is_global, rank, top_ips
from bot.scan.tally import Tally


def expected(ip: str) -> bool:
    return is_public(ip)


def test_is_global_matches_the_public_definition() -> None:
    rng = random.Random(20011)
    ips = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(20000)]
    for net in ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
                "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"):
        n = ipaddress.IPv4Network(net)
        lo, hi = int(n.network_address), int(n.broadcast_address)
        edges = (lo, hi, lo + 1, hi - 1, lo - 1, hi + 1)
        ips += [str(ipaddress.IPv4Address(v)) for v in edges if 0 <= v < 2**32]
    ips += [f"192.0.0.{x}" for x in range(256)] + ["255.255.255.255", "8.8.8.8", "1.1.1.1"]
    ips += ["2001:db8::1", "::1", "fe80::1", "2a0e:97c0:3e3:1d1::5", "ff02::1", "64:ff9b::1.2.3.4",
            "::2", "3fff::1", "2002:a00:1::1", "2002:808:808::1"]
    assert [ip for ip in ips if is_global(ip) != expected(ip)] == []


def test_a_wildcard_or_broadcast_address_never_ranks_first() -> None:
    # (a daemon's listening address "IP=0.0.0.0:389" is written on every accepted connection)
    tallies = {ip: _tally(pos, n) for ip, pos, n in (("0.0.0.0", 0, 9), ("192.0.2.7", 5, 2),
                                                      ("255.255.255.255", 1, 9))}
    assert [c.ip for c in rank(tallies, allow_non_global=True)] == ["192.0.2.7", "0.0.0.0", "255.255.255.255"]
    assert top_ips(tallies, 1, allow_non_global=True) == ["192.0.2.7"]


def _tally(pos: int, lines: int) -> Tally:
    t = Tally(pos)
    t.count = t.source_count = lines
    return t
