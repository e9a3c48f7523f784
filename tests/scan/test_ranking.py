"""Ranking the candidates. The scanner's fast is_global gives the same answer as bot.public.is_public,
the one definition of an address somebody can be told about (ipaddress' is_global, minus multicast and
special-use space); no-host addresses come last; equal counts go to the address whose lines vary."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest

from bot.config import ScanConfig
from bot.public_address import is_public
from bot.scan import scan_paths
from bot.scan.ranking import is_global, rank, top_ips, variety
from bot.scan.tally import Tally
from tests.scan.paths import on_both_paths


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


def test_equal_counts_go_to_the_address_whose_lines_vary(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Two addresses fail eleven logins each. The one written first retries one account (a client
    # with a stale password does that); the other tries eleven accounts: it leads, on both paths.
    lines = [f"Mar 10 10:00:{i:02d} host sshd[{100 + i}]: Failed password for alice from 45.1.2.3 port "
             f"{40000 + i} ssh2" for i in range(11)]
    lines += [f"Mar 10 10:01:{i:02d} host sshd[{200 + i}]: Failed password for user{i} from 81.2.69.1 port "
              f"{50000 + i} ssh2" for i in range(11)]
    log = tmp_path / "auth.log"
    log.write_text("\n".join(lines) + "\n")
    for result in on_both_paths(log, monkeypatch):
        assert [(c.ip, c.count) for c in result.candidates] == [("81.2.69.1", 11), ("45.1.2.3", 11)]
    # a count still outranks variety: one more retry and the first address leads
    log.write_text("\n".join([*lines, lines[0]]) + "\n")
    assert scan_paths([log], ScanConfig(), allow_non_global=True).candidates[0].ip == "45.1.2.3"


def test_of_two_addresses_on_the_same_lines_the_hit_side_ranks_second(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each line names the device that wrote it (the hit side) and, without a key, the scanner: no
    # attacker side is known, but the device is not the one to report, even when written first.
    log = tmp_path / "ids.log"
    log.write_text("".join(f"CEF:0|Vendor|IDS|1.0|100|Port scan|7|dvc=192.0.2.4 msg=45.1.2.3 scanned {n} "
                           f"ports\n" for n in range(40)))
    for result in on_both_paths(log, monkeypatch):
        assert [(c.ip, c.source_count, c.destination_count) for c in result.candidates] == [
            ("45.1.2.3", 0, 0), ("192.0.2.4", 0, 40)]


def test_variety_sets_times_ports_and_pids_aside_but_not_numbered_names() -> None:
    retries = ["10:00:01 sshd[7]: from 45.1.2.3 port 4000", "10:00:02 sshd[8]: from 45.1.2.3 port 4001"]
    assert variety(retries) == 1
    assert variety(["login john.doe1 from 45.1.2.3", "login john.doe2 from 45.1.2.3"]) == 2
    assert variety(None) == 0
    # ISO 8601 times, whose digits touch letters ("03T10", "007Z"), are set aside as well
    iso = [f"2025-03-03T10:00:{i:02d}.{7 * i:03d}Z sshd[{i}]: from 45.1.2.3 port {4000 + i}"
           for i in range(3)]
    assert variety(iso) == 1
    json = [f'{{"@timestamp":"2025-03-03 10:00:0{i},5{i}+01:00","src":"45.1.2.3"}}' for i in range(3)]
    assert variety(json) == 1
