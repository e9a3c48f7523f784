"""Finding and normalising addresses in every notation, and not finding things that only look like one."""

from __future__ import annotations

import pytest

from bot.scan.addresses import find, normalise


def ips(line: str) -> list[tuple[str, int | None]]:
    return [(f.ip, f.port) for f in find(line)]


@pytest.mark.parametrize(("line", "expected"), [
    ("scan from 166.188.17.76 done", [("166.188.17.76", None)]),
    ("166.188.17.76:8300 -> 1.2.3.2:53", [("166.188.17.76", 8300), ("1.2.3.2", 53)]),
    ("IP 1.2.3.4.43436 > 172.1.2.3.22: Flags [S]", [("1.2.3.4", 43436), ("172.1.2.3", 22)]),
    ("remote [2001:db8::2]:443 ok", [("2001:db8::2", 443)]),
    ("rhost=[::ffff:31.54.38.23]:47414 user=root", [("31.54.38.23", 47414)]),
    ("rhost=::ffff:172.21.10.2 user=root@pam", [("172.21.10.2", None)]),
    ("Bad password attempt from ::ffff:1.2.3.4:55990", [("1.2.3.4", 55990)]),
    ("{TCP} 2001:0db8:0000:0000:0000:0000:0000:0001:443 -> 2001:0db8:0000:0000:0000:0000:0000:0002:22",
     [("2001:db8::1", 443), ("2001:db8::2", 22)]),
    ("to 2001:0db8:85a3:0000:0000:8a2e:0370:7334 now", [("2001:db8:85a3::8a2e:370:7334", None)]),
    ("link fe80::1%eth0 up", [("fe80::1", None)]),
    ("snort: [fe80::1%eth0]:555 -> [fe80::2%25en0]:22", [("fe80::1", 555), ("fe80::2", 22)]),
    ("accepted from fe80::1%eth0:51234 now", [("fe80::1", 51234)]),
    ("[client ::1:37752] [client ::1] ModSecurity", [("::1", 37752), ("::1", None)]),
    ("client @0x7fb04c007328 ::1#62449 (example.com)", [("::1", None)]),
    ("Try again. IP: ::1. Username: x", [("::1", None)]),
    ("padded 010.001.002.003 here", [("10.1.2.3", None)]),
    ("remote host [ipv4:172.17.0.1:44890] mapped", [("172.17.0.1", 44890)]),
    ('LocalAddress="IPV4/UDP/172.17.0.2/5060" "client_id":"ip/1.0.0.1"',
     [("172.17.0.2", None), ("1.0.0.1", None)]),
    ("end of sentence 203.0.113.9.", [("203.0.113.9", None)]),
    ('{"ip":"::ffff:127.0.0.1","email":"x"}', [("127.0.0.1", None)]),
])
def test_notations_are_found_and_normalised(line: str, expected: list[tuple[str, int | None]]) -> None:
    assert ips(line) == expected


@pytest.mark.parametrize("line", [
    "OpenSSH_9.6p1 version 1.2.3 and 10.0.19045",               # versions
    "SNMP OID 1.3.6.1.4.1.311.21.7 trap",                       # OIDs
    "Linux version 5.15.90.1-microsoft-standard-WSL2 (gcc)",    # four-part version with a build suffix
    "aws-cli/2.4.11 Linux/5.10.102.1-generic-x86_64 pkg 1.2.3.4~rc1",
    # a product token's version (RFC 9110 User-Agent): "Chrome/121.0.0.0" since Chrome's UA reduction
    '"Mozilla/5.0 (X11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36"',
    '"Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"',
    "backup of 2021.10.12 and 12.10.2021",                      # dotted dates
    "Feb 10 13:15:11 host x", "11:29:42.550475 IP6", "took 01:02:03:04",   # times
    "src-mac 00:17:10:88:bc:02, MAC=00:16:3e:5e:6c:00:00:1b:21:0a:0b:0c:08:00",  # MACs
    "hash c3b9d05b8f36265eb89edee60aad693a sha256:9f86d081884c7d65",            # hashes
    "2024-07-20 12:27:52,797::WARNING::[interface:657]",         # '::' between words
    "vaultwarden::api::identity std::vector Foo::Bar",
    "999.1.1.1 and 1.2.3.256 are not addresses",
    "just :: alone",
])
def test_look_alikes_are_not_addresses(line: str) -> None:
    assert ips(line) == []


@pytest.mark.parametrize(("text", "norm"), [
    ("::ffff:1.2.3.4", "1.2.3.4"),
    ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    ("[fe80::1%eth0]", "fe80::1"),
    ("192.0.2.1", "192.0.2.1"),
    ("1.2.3", None),
    ("13:15:11", None),
    ("hello", None),
])
def test_normalise(text: str, norm: str | None) -> None:
    assert normalise(text) == norm


@pytest.mark.parametrize(("line", "expected"), [
    # BSD and SOCKS servers write the port after a dot when the line writes its endpoints that way
    ("danted[1]: info: block(1): tcp/accept ]: 203.0.113.120.51234 192.0.2.1.1080: error",
     [("203.0.113.120", 51234), ("192.0.2.1", 1080)]),
    ("ftp-proxy[55]: #1 client 203.0.113.127.50123 to server 198.51.100.30.21 via proxy 192.0.2.1.57001",
     [("203.0.113.127", 50123), ("198.51.100.30", 21), ("192.0.2.1", 57001)]),
    # a host name built from an address's octets is a name, the bracketed address the peer
    ("connect from 7.100.51.198.dyn.example.net[203.0.113.9]", [("203.0.113.9", None)]),
    ("connect from host-198.51.100.66.example.net[203.0.113.10]", [("203.0.113.10", None)]),
    ("x 9.113.0.203.in-addr.arpa y", []),
    # mail headers' IPv6 literal; mapped addresses after a key
    ("Received: from x ([IPv6:2001:db8::7]) by mx", [("2001:db8::7", None)]),
    ("rip=::ffff:203.0.113.30, lip=::ffff:192.0.2.5", [("203.0.113.30", None), ("192.0.2.5", None)]),
    ("ip=[::ffff:203.0.113.30]:5060;", [("203.0.113.30", 5060)]),
    # SonicWall writes the interface after the port; a time after an address is no port
    ("src=10.0.0.3:52379:X0 natSrc=10.0.0.2:48245 dst=216.160.83.61:443:X1",
     [("10.0.0.3", 52379), ("10.0.0.2", 48245), ("216.160.83.61", 443)]),
    ("peer 10.0.0.3:12:34:56 gone", [("10.0.0.3", None)]),
])
def test_more_notations(line: str, expected: list[tuple[str, int | None]]) -> None:
    assert ips(line) == expected


def test_a_lone_fifth_dotted_part_is_a_version_not_a_port() -> None:
    assert ips("firmware 1.2.3.4.5 installed") == []


def test_an_escaped_tab_or_line_end_before_an_address_ends_the_token_before() -> None:
    # Windows events shipped as JSON keep their message's tabs and line ends escaped
    line = r'"Message":"An account failed to log on.\r\n\tSource Network Address:\t203.0.113.9\r\n\t' \
           r'Source Port:\t\t51234\r\nClient:\n2001:db8::7\r\n"'
    assert ips(line) == [("203.0.113.9", None), ("2001:db8::7", None)]
    assert ips("at1.2.3.4 t::1") == []      # a letter before it still makes it part of a word
