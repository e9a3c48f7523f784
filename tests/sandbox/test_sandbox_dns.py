"""The sandbox's DNS and whois servers and its synthetic networks, checked with dnspython and sockets."""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import dns.reversename
import pytest

from tests.sandbox import EXAMPLE_IP, Sandbox
from tests.sandbox.synthetic import SHAPES

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "data" / "fixtures"
WHOIS_INDEX: dict[str, dict[str, Any]] = json.loads((FIXTURES / "whois" / "INDEX.json").read_text())["files"]
RDAP_INDEX: dict[str, dict[str, Any]] = json.loads((FIXTURES / "rdap" / "INDEX.json").read_text())["files"]


def resolver(sb: Sandbox) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = sb.dns_port
    res.lifetime = 2.0
    return res


def ask(sb: Sandbox, name: str, rdtype: str, tcp: bool = False, timeout: float = 2.0) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(query, "127.0.0.1", port=sb.dns_port, timeout=timeout)
    return dns.query.udp(query, "127.0.0.1", port=sb.dns_port, timeout=timeout)


def texts(msg: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in msg.answer for rd in rrset)


def whois(sb: Sandbox, query: str, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", sb.whois.port), timeout=timeout) as sock:
        sock.sendall(query.encode() + b"\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


# --- DNS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True])
def test_ptr_and_forward_records(sandbox: Sandbox, tcp: bool) -> None:
    ptr = ask(sandbox, dns.reversename.from_address("1.1.1.1").to_text(), "PTR", tcp)
    assert texts(ptr) == ["one.one.one.one."]
    assert ptr.flags & dns.flags.AA
    assert texts(ask(sandbox, "one.one.one.one", "A", tcp)) == ["1.1.1.1"]
    assert texts(ask(sandbox, "one.one.one.one", "AAAA", tcp)) == ["2606:4700:4700::1111"]


def test_resolver_view_of_the_example_network(sandbox: Sandbox) -> None:
    res = resolver(sandbox)
    with pytest.raises(dns.resolver.NXDOMAIN):
        res.resolve_address(EXAMPLE_IP)                                     # no PTR, as in the old example
    assert [r.to_text() for r in res.resolve("28.191.211.in-addr.arpa", "NS")] == ["ns.shinbiro.example."]
    with pytest.raises(dns.resolver.NoAnswer):
        res.resolve("ns.shinbiro.example", "MX")                            # the guessed name has no MX...
    assert [r.to_text() for r in res.resolve("shinbiro.example", "MX")] == ["10 mail.shinbiro.example."]


def test_abusix_and_cymru_txt_records(sandbox: Sandbox) -> None:
    zone = sandbox.abusix_zone
    assert texts(ask(sandbox, f"229.225.125.74.{zone}", "TXT")) == ['"network-abuse@google.com"']
    nibbles = dns.reversename.from_address("2606:4700:4700::1111").to_text().removesuffix("ip6.arpa.")
    assert texts(ask(sandbox, nibbles + zone, "TXT")) == ['"abuse@cloudflare.com"']
    assert texts(ask(sandbox, "1.1.1.1.origin.asn.cymru.com", "TXT")) == [
        '"13335 | 1.1.1.0/24 | AU | apnic | 2000-01-01"']
    # ipwhois drops trailing zero groups of an IPv6 address before reversing it
    short = "0.b.7.0.8.f.3.4.1.0.0.2.origin6.asn.cymru.com"
    assert texts(ask(sandbox, short, "TXT")) == ['"37578 | 2001:43f8:7b0::/48 | KE | afrinic | 2000-01-01"']
    assert "CLOUDFLARENET, US" in texts(ask(sandbox, "AS13335.asn.cymru.com", "TXT"))[0]


def test_nxdomain_inside_held_zones_refused_outside(sandbox: Sandbox) -> None:
    assert ask(sandbox, "2.1.1.1.in-addr.arpa", "PTR").rcode() == dns.rcode.NXDOMAIN
    assert ask(sandbox, "0.0.0.c.0.1.0.0.1.0.8.2.origin6.asn.cymru.com", "TXT").rcode() == dns.rcode.NXDOMAIN
    assert ask(sandbox, "nothing.example", "A").rcode() == dns.rcode.NXDOMAIN
    no_mx = ask(sandbox, "uco.edu.co", "MX")       # a recorded answer's e-mail domain: held, no MX
    assert (no_mx.rcode(), no_mx.answer) == (dns.rcode.NOERROR, [])
    assert ask(sandbox, "www.uco.edu.co", "A").rcode() == dns.rcode.NXDOMAIN
    refused = ask(sandbox, "www.python.org", "A")
    assert refused.rcode() == dns.rcode.REFUSED
    assert not refused.answer
    assert ask(sandbox, "example", "SOA").answer


def test_records_added_at_run_time(sandbox: Sandbox) -> None:
    sandbox.dns.add("new-host.example", "A", "192.0.2.7")
    sandbox.dns.add("192.0.2.7", "PTR", "new-host.example")
    sandbox.dns.add("brand-new.test", "TXT", "hello world")
    res = resolver(sandbox)
    assert [r.to_text() for r in res.resolve("new-host.example", "A")] == ["192.0.2.7"]
    assert [r.to_text() for r in res.resolve_address("192.0.2.7")] == ["new-host.example."]
    assert [r.to_text() for r in res.resolve("brand-new.test", "TXT")] == ['"hello world"']
    with pytest.raises(dns.exception.SyntaxError):
        sandbox.dns.add("bad.example", "A", "not-an-address")


@pytest.mark.parametrize("tcp", [False, True])
def test_dns_faults(sandbox: Sandbox, tcp: bool) -> None:
    sandbox.dns.fail("one.one.one.one", "servfail", times=1)
    assert ask(sandbox, "one.one.one.one", "A", tcp).rcode() == dns.rcode.SERVFAIL
    assert ask(sandbox, "one.one.one.one", "A", tcp).rcode() == dns.rcode.NOERROR
    sandbox.dns.fail("dns.google", "nxdomain", times=1)
    assert ask(sandbox, "dns.google", "AAAA", tcp).rcode() == dns.rcode.NXDOMAIN
    sandbox.dns.fail("origin.asn.cymru.com", "timeout")                  # a whole zone, until cleared
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(dns.exception.Timeout):
            ask(sandbox, "1.1.1.1.origin.asn.cymru.com", "TXT", tcp, timeout=0.3)
        assert time.monotonic() - started < 2
    assert ask(sandbox, "one.one.one.one", "A", tcp).rcode() == dns.rcode.NOERROR   # others unaffected
    sandbox.dns.clear_faults()
    assert texts(ask(sandbox, "1.1.1.1.origin.asn.cymru.com", "TXT", tcp))


def test_dns_query_log(sandbox: Sandbox) -> None:
    resolver(sandbox).resolve("shinbiro.example", "MX")
    assert sandbox.dns.queries == [("shinbiro.example", "MX")]


# --- whois ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WHOIS_INDEX))
def test_recorded_whois_queries(sandbox: Sandbox, name: str) -> None:
    assert whois(sandbox, WHOIS_INDEX[name]["query"]) == (FIXTURES / "whois" / name).read_bytes()


def test_whois_by_bare_ip_and_by_any_address_in_the_range(sandbox: Sandbox) -> None:
    arin = (FIXTURES / "whois" / "arin-74.125.225.229.txt").read_bytes()
    assert whois(sandbox, "74.125.225.229") == arin
    assert whois(sandbox, "n + 74.125.3.4") == arin
    lacnic = (FIXTURES / "whois" / "lacnic-200.57.141.161.txt").read_bytes()
    assert whois(sandbox, "200.57.130.1") == lacnic             # LACNIC writes 200.57.128/19
    assert whois(sandbox, "-r 62.239.237.9") == (FIXTURES / "whois" / "ripe-62.239.237.1.txt").read_bytes()
    assert b"No match found" in whois(sandbox, "9.9.9.9")
    assert b"No entries found" in whois(sandbox, "-i origin AS64999")
    assert sandbox.whois.queries[-1] == "-i origin AS64999"


def test_whois_cymru_bulk_form(sandbox: Sandbox) -> None:
    line = whois(sandbox, " -r -a -c -p -f 1.1.1.1").decode()
    fields = [f.strip() for f in line.split("|")]
    assert fields == ["13335", "1.1.1.1", "1.1.1.0/24", "AU", "apnic", "2000-01-01", "CLOUDFLARENET, US"]
    assert whois(sandbox, " -r -a -c -p -f 2801:10:c000::").startswith(b"NA")


def test_whois_faults(sandbox: Sandbox) -> None:
    sandbox.whois.fail("74.125", "empty")
    assert whois(sandbox, "74.125.225.229") == b""
    sandbox.whois.fail("74.125", "ratelimit")
    assert b"Query rate limit exceeded" in whois(sandbox, "74.125.225.229")
    sandbox.whois.fail("74.125", "timeout")
    with pytest.raises(TimeoutError):
        whois(sandbox, "74.125.225.229", timeout=0.3)
    assert whois(sandbox, "74.125.225.229").startswith(b"\n#\n# ARIN WHOIS")


# --- synthetic networks --------------------------------------------------------------------


def _bootstrap_holders(version: int) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    data = json.loads((FIXTURES / "iana-bootstrap" / f"ipv{version}.json").read_text())
    hosts = {"rdap.arin.net": "arin", "rdap.db.ripe.net": "ripencc", "rdap.apnic.net": "apnic",
             "rdap.lacnic.net": "lacnic", "rdap.afrinic.net": "afrinic"}
    out: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
    for prefixes, urls in data["services"]:
        registry = hosts[urls[0].split("/")[2]]
        out.extend((ipaddress.ip_network(p), registry) for p in prefixes)
    return out


def _recorded_ranges() -> list[tuple[int, int, int]]:
    from tests.sandbox.recorded import parse_address

    out: list[tuple[int, int, int]] = []
    for meta in RDAP_INDEX.values():
        if meta.get("startAddress"):
            first, last = parse_address(meta["startAddress"]), parse_address(meta["endAddress"])
            out.append((int(first.version), int(first), int(last)))
    return out


def test_synthetic_space_is_the_right_registrys_and_overlaps_nothing_recorded(sandbox: Sandbox) -> None:
    nets = sandbox.synthetic
    assert len(nets) == 100
    assert {n.registry for n in nets} == {"arin", "ripencc", "apnic", "lacnic", "afrinic"}
    assert len({ip for n in nets for ip in n.ips}) == 1000
    holders = _bootstrap_holders(4) + _bootstrap_holders(6)
    recorded = _recorded_ranges()
    cidrs = [ipaddress.ip_network(n.cidr) for n in [*nets, sandbox.example]]
    for net, cidr in zip([*nets, sandbox.example], cidrs, strict=True):
        owners = {reg for block, reg in holders if block.version == cidr.version and cidr.subnet_of(block)}  # type: ignore[arg-type]
        assert owners == {net.registry}, net
        assert all(ipaddress.ip_address(ip) in cidr for ip in net.ips)
        first, last = int(cidr.network_address), int(cidr.broadcast_address)
        assert not [r for r in recorded if r[0] == cidr.version and r[1] <= last and first <= r[2]], net
        assert net.domain.endswith(".example") and net.abuse_email.endswith("@" + net.domain)
    assert len({(c.version, c) for c in cidrs}) == len(cidrs)
    pairs = [(a, b) for i, a in enumerate(cidrs) for b in cidrs[i + 1:] if a.version == b.version]
    assert not any(a.overlaps(b) for a, b in pairs)


def _abuse_emails(entities: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for ent in entities:
        if "abuse" in ent.get("roles", []):
            for prop in ent.get("vcardArray", ["vcard", []])[1]:
                if prop[0] == "email":
                    found.add(prop[3])
        found |= _abuse_emails(ent.get("entities", []))
    return found


def test_each_synthetic_network_answers_rdap_dns_and_whois(sandbox: Sandbox) -> None:
    res = resolver(sandbox)
    shapes = set()
    for net in sandbox.synthetic:
        ip = net.ips[7]
        host, ippath = SHAPES[net.registry][:2]
        host_path = f"{host}{ippath}{ip}"
        with urllib.request.urlopen(f"{sandbox.rdap_base}/{host_path}", timeout=5) as resp:
            body = json.loads(resp.read())
        assert body["notices"][0]["title"] == "Synthetic record"
        assert _abuse_emails(body["entities"]) == {net.abuse_email}
        shapes.add((net.registry, len(body["entities"])))
        origin = res.resolve(str(dns.reversename.from_address(ip)).replace(
            "in-addr.arpa", "origin.asn.cymru.com").replace("ip6.arpa", "origin6.asn.cymru.com"), "TXT")
        assert origin[0].to_text().strip('"').split(" | ")[:4] == [str(net.asn), net.cidr, net.country,
                                                                 net.registry]
        abusix = dns.reversename.from_address(ip).to_text().rsplit(".", 3)[0] + "." + sandbox.abusix_zone
        assert [r.to_text() for r in res.resolve(abusix, "TXT")] == [f'"{net.abuse_email}"']
        if net.has_ptr:
            name = res.resolve_address(ip)[0].to_text()
            assert name.endswith(net.domain + ".")
            assert [r.to_text() for r in res.resolve(name, "A" if ":" not in ip else "AAAA")] == [
                str(ipaddress.ip_address(ip))]
        else:
            with pytest.raises(dns.resolver.NXDOMAIN):
                res.resolve_address(ip)
        assert net.abuse_email.encode() in whois(sandbox, ip)
    assert len(shapes) >= 5


def test_synthetic_entities_answer_when_fetched(sandbox: Sandbox) -> None:
    ripe = next(n for n in sandbox.synthetic if n.registry == "ripencc")
    with urllib.request.urlopen(f"{sandbox.rdap_base}/rdap.db.ripe.net/ip/{ripe.ips[0]}", timeout=5) as resp:
        entities = json.loads(resp.read())["entities"]
    mnt = next(e for e in entities if "vcardArray" not in e)
    with urllib.request.urlopen(f"{sandbox.rdap_base}/rdap.db.ripe.net/entity/{mnt['handle']}",
                                timeout=5) as resp:
        assert json.loads(resp.read())["handle"] == mnt["handle"]
