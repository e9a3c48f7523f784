"""The sandbox DNS data: a small in-memory authoritative store, and the built-in test zone.

The test zone is SYNTHETIC (chosen by us): PTR/A names for some recorded fixture addresses, MX
for their domains, Abusix-style TXT abuse addresses, Team Cymru-style origin TXT records, and the
same for the synthetic networks and the README example. See tests/sandbox/README.md for the table.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import threading
from collections.abc import Iterable
from typing import NamedTuple

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from tests.sandbox.example import EXAMPLE, EXAMPLE_IP, EXAMPLE_NS
from tests.sandbox.synthetic import SyntheticNetwork

ABUSIX_ZONE = "abuse-contacts.sandbox.test"     # the test zone standing in for Abusix'
SANDBOX_NS = "ns.sandbox.test."
TTL = 300
# Where the registries' and registrars' RDAP hosts "are" in the sandbox: a made-up public address in the
# synthetic ARIN block (tests/sandbox/synthetic.py), never connected to. The bot checks the address a
# URL's host resolves to before it fetches, and with gather.rdap_url_override set the connection goes
# to the sandbox instead; tests add hosts resolving to 127.0.0.1 or 169.254.169.254 to see them refused.
SERVICE_ADDRESS = "64.254.255.1"

# Recorded fixture addresses: (address, PTR name or "", forward A/AAAA of that name or "" for none,
# abuse address in the Abusix zone or "", origin ASN or 0 for none, Cymru prefix, country, registry,
# AS name). Names are ours; ASNs are the networks' public ones (2801:10:c000:: and 206.41.110.0 have
# none, as Cymru had none for the first).
FIXTURE_HOSTS: tuple[tuple[str, str, str, str, int, str, str, str, str], ...] = (
    ("2606:4700:4700::1111", "one.one.one.one", "2606:4700:4700::1111", "abuse@cloudflare.com", 13335,
     "2606:4700:4700::/48", "US", "arin", "CLOUDFLARENET, US"),
    ("1.1.1.1", "one.one.one.one", "1.1.1.1", "helpdesk@apnic.net", 13335, "1.1.1.0/24", "AU", "apnic",
     "CLOUDFLARENET, US"),
    ("2001:4860:4860::8888", "dns.google", "2001:4860:4860::8888", "network-abuse@google.com", 15169,
     "2001:4860::/32", "US", "arin", "GOOGLE, US"),
    ("74.125.225.229", "ord08s08-in-f5.1e100.net", "74.125.225.229", "network-abuse@google.com", 15169,
     "74.125.225.0/24", "US", "arin", "GOOGLE, US"),
    ("13.72.183.192", "", "", "abuse@microsoft.com", 8075, "13.64.0.0/11", "US", "arin",
     "MICROSOFT-CORP-MSN-AS-BLOCK, US"),
    ("192.198.0.0", "", "", "", 53301, "192.198.0.0/22", "US", "arin",
     "SANDBOX-AS53301 (name not recorded), US"),
    ("206.41.110.0", "", "", "", 0, "", "", "", ""),
    ("62.239.237.1", "host62-239-237-1.btcorp.bt.com", "", "protect@bt.com", 2856, "62.239.237.0/24",
     "GB", "ripencc", "BT-UK-AS BTnet UK Regional network, GB"),
    ("2a00:2381:ffff::1", "", "", "protect@bt.com", 2856, "2a00:2381::/32", "GB", "ripencc",
     "BT-UK-AS BTnet UK Regional network, GB"),
    ("130.59.31.80", "www.switch.ch", "130.59.31.80", "abuse@switch.ch", 559, "130.59.0.0/16", "CH",
     "ripencc", "SWITCH Peering requests: <peering@switch.ch>, CH"),
    ("210.107.73.73", "", "", "abuse@bora.net", 3786, "210.107.0.0/17", "KR", "apnic",
     "SANDBOX-AS3786 (name not recorded), KR"),
    ("2001:240:10c:1::ca20:9d1d", "", "", "", 2497, "2001:240::/32", "JP", "apnic",
     "IIJ Internet Initiative Japan Inc., JP"),
    ("200.57.141.161", "static-200-57-141-161.triara.com", "200.57.141.99", "operacion.redes@triara.com",
     19373, "200.57.128.0/20", "MX", "lacnic", "SANDBOX-AS19373 (name not recorded), MX"),
    ("2801:10:c000::", "", "", "", 0, "", "", "", ""),
    ("196.11.240.215", "", "", "", 12091, "196.11.240.0/24", "ZA", "afrinic",
     "SANDBOX-AS12091 (name not recorded), ZA"),
    ("2001:43f8:7b0::", "", "", "", 37578, "2001:43f8:7b0::/48", "KE", "afrinic",
     "SANDBOX-AS37578 (name not recorded), KE"),
)
# Mail exchangers for the fixtures' domains (made-up host names under each domain).
FIXTURE_MX = ("google.com", "cloudflare.com", "microsoft.com", "bt.com", "switch.ch", "triara.com",
              "apnic.net", "bora.net", "1e100.net", "dns.google")


def reverse_name(ip: str) -> dns.name.Name:
    return dns.reversename.from_address(ip)


def cymru_origin_name(ip: str) -> dns.name.Name:
    """<reversed ip>.origin.asn.cymru.com (IPv4) or <nibbles>.origin6.asn.cymru.com (IPv6)."""
    rev = dns.reversename.from_address(ip)
    zone = "origin.asn.cymru.com." if ipaddress.ip_address(ip).version == 4 else "origin6.asn.cymru.com."
    return dns.name.Name(rev.labels[:-3]).concatenate(dns.name.from_text(zone))


def abusix_name(ip: str, zone: str = ABUSIX_ZONE) -> dns.name.Name:
    rev = dns.reversename.from_address(ip)
    return dns.name.Name(rev.labels[:-3]).concatenate(dns.name.from_text(zone))


def address_from_labels(labels: list[str], version: int) -> tuple[int, int] | None:
    """(first, last) address covered by reversed labels (octets or nibbles, as in the query name;
    missing ones are a range, as Cymru answers for ipwhois' shortened IPv6 names); None if they are
    not an address."""
    parts = labels[::-1]
    try:
        if version == 4:
            if not 1 <= len(parts) <= 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
                return None
            value, bits, width = 0, 8 * len(parts), 32
            for part in parts:
                value = value << 8 | int(part)
        else:
            if not 1 <= len(parts) <= 32 or any(len(p) != 1 for p in parts):
                return None
            value, bits, width = int("".join(parts), 16), 4 * len(parts), 128
    except ValueError:
        return None
    shift = width - bits
    return value << shift, (value << shift) | ((1 << shift) - 1)


class RRs(NamedTuple):
    """Records of one name and type, as the DNS server writes them."""

    name: dns.name.Name | bytes     # bytes: the question's name as the query wrote it (wire form)
    rdtype: int
    rdatas: list[dns.rdata.Rdata]


class PrefixTxt:
    """TXT answers for every address inside a prefix, under a reversed-address zone (Team Cymru's
    origin zones, Abusix' zone): a query for any address of 85.254.3.0/24 gets that prefix's text."""

    def __init__(self, zone_v4: str, zone_v6: str) -> None:
        self.zones = {4: _key(zone_v4), 6: _key(zone_v6)}
        self._lock = threading.Lock()
        self._table: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        self._rdata: dict[str, dns.rdata.Rdata] = {}

    def add(self, cidr: str, text: str) -> None:
        net = ipaddress.ip_network(cidr, strict=False)
        rdata = _parse(dns.rdatatype.TXT, _rdata_text(dns.rdatatype.TXT, text))
        with self._lock:
            self._table[net.version].append((int(net.network_address), int(net.broadcast_address), text))
            self._rdata[text] = rdata

    def rdata(self, text: str) -> dns.rdata.Rdata:
        with self._lock:
            return self._rdata[text]

    def for_address(self, ip: str) -> list[str]:
        """The texts of the most specific prefix holding an address (as a query for it would get)."""
        addr = ipaddress.ip_address(ip)
        with self._lock:
            holding = [r for r in self._table[addr.version] if r[0] <= int(addr) <= r[1]]
        if not holding:
            return []
        best = min(r[1] - r[0] for r in holding)
        return [r[2] for r in holding if r[1] - r[0] == best]

    def answer(self, key: str) -> tuple[bool, list[str]]:
        """(is under one of the zones, texts of the most specific prefix holding the address) for a
        query name given as lower-case text with the final dot."""
        under = False
        for version, zone in self.zones.items():
            if not key.endswith("." + zone):
                continue
            under = True
            span = address_from_labels(key[: -len(zone) - 1].split("."), version)
            if span is None:
                continue
            with self._lock:
                holding = [r for r in self._table[version] if r[0] <= span[0] and span[1] <= r[1]]
            if holding:
                best = min(r[1] - r[0] for r in holding)
                return True, [r[2] for r in holding if r[1] - r[0] == best]
        return under, []


class Zone:
    """Records by owner name and type, plus the zone origins this server answers for.

    Owner names are kept as lower-case text with the final dot ("one.one.one.one.")."""

    def __init__(self, origins: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[int, list[dns.rdata.Rdata]]] = {}
        self._soa: dict[str, RRs] = {}                  # authority section per origin, built once
        self._ents: set[str] = set()         # names that exist only as parents of others
        self._origins: set[str] = set()
        self.cymru = PrefixTxt("origin.asn.cymru.com", "origin6.asn.cymru.com")
        self.abusix = PrefixTxt(ABUSIX_ZONE, ABUSIX_ZONE)
        for origin in origins:
            self.add_origin(origin)

    def add_origin(self, origin: str | dns.name.Name) -> None:
        key = _key(origin)
        with self._lock:
            if key in self._origins:
                return
            self._origins.add(key)
        soa = _parse(dns.rdatatype.SOA, f"{SANDBOX_NS} hostmaster.sandbox.test. 1 3600 600 86400 60")
        self._put(key, dns.rdatatype.SOA, [soa])
        self._put(key, dns.rdatatype.NS, [_parse(dns.rdatatype.NS, SANDBOX_NS)])
        with self._lock:
            self._soa[key] = RRs(dns.name.from_text(key), dns.rdatatype.SOA, [soa])

    def origin_of(self, name: str | dns.name.Name) -> str | None:
        """The most specific zone held that contains `name`, or None."""
        key = _key(name)
        with self._lock:
            while True:
                if key in self._origins:
                    return key
                if key == ".":
                    return None
                key = key.split(".", 1)[1] or "."

    def add(self, name: str | dns.name.Name, rdtype: str | int, *values: str) -> None:
        """Add records. A PTR given for an IP address goes to its reverse name; TXT values are quoted
        when they are not already; names are absolute. A name outside every zone held makes its
        last two labels a zone. Malformed data raises here, on the caller's thread."""
        kind = dns.rdatatype.RdataType.make(rdtype)
        if kind == dns.rdatatype.PTR and isinstance(name, str):
            with contextlib.suppress(ValueError, dns.exception.SyntaxError):
                name = reverse_name(name)
        owner = _key(name)
        dns.name.from_text(owner)
        self._put(owner, kind, [_parse(kind, _rdata_text(kind, v)) for v in values])

    def _put(self, owner: str, kind: int, rdatas: list[dns.rdata.Rdata]) -> None:
        if kind != dns.rdatatype.SOA and self.origin_of(owner) is None:
            self.add_origin(".".join(owner.split(".")[-3:]))
        with self._lock:
            bucket = self._records.setdefault(owner, {}).setdefault(int(kind), [])
            bucket.extend(r for r in rdatas if r not in bucket)
            parent = owner
            while parent != ".":
                parent = parent.split(".", 1)[1] or "."
                self._ents.add(parent)

    def texts(self, name: str | dns.name.Name, rdtype: str | int) -> list[str]:
        with self._lock:
            found = self._records.get(_key(name), {}).get(int(dns.rdatatype.RdataType.make(rdtype)), [])
        return [r.to_text() for r in found]

    def has(self, name: str | dns.name.Name, rdtype: str | int) -> bool:
        with self._lock:
            return bool(self._records.get(_key(name), {}).get(int(dns.rdatatype.RdataType.make(rdtype))))

    def lookup(self, qname: dns.name.Name | bytes, rdtype: int,
               key: str = "") -> tuple[int, list[RRs], list[RRs]]:
        """(rcode, answer records, authority records); REFUSED outside the zones held.
        `key`: the name as lower-case text with the final dot (needed when qname is wire bytes)."""
        if not key:
            assert isinstance(qname, dns.name.Name)
            key = _key(qname)
        origin = self.origin_of(key)
        if origin is None:
            return dns.rcode.REFUSED, [], []
        with self._lock:
            found = self._records.get(key)
            exists = found is not None or key in self._ents
            rdatas = list(found.get(rdtype, [])) if found else []
            cname = list(found.get(dns.rdatatype.CNAME, [])) if found else []
            soa = self._soa.get(origin)
        if not rdatas and not cname:
            for table in (self.cymru, self.abusix):
                under, found_txt = table.answer(key)
                if under:
                    exists = exists or bool(found_txt)
                    if rdtype == dns.rdatatype.TXT:
                        rdatas = [table.rdata(t) for t in found_txt]
        if rdatas:
            return dns.rcode.NOERROR, [RRs(qname, rdtype, rdatas)], []
        if cname:
            return dns.rcode.NOERROR, [RRs(qname, dns.rdatatype.CNAME, cname)], []
        authority = [soa] if soa is not None else []
        return (dns.rcode.NOERROR if exists else dns.rcode.NXDOMAIN), [], authority


def _key(name: str | dns.name.Name) -> str:
    text = name.to_text() if isinstance(name, dns.name.Name) else name
    text = text.lower()
    return text if text.endswith(".") else text + "."


@functools.lru_cache(maxsize=8192)
def _parse(kind: int, text: str) -> dns.rdata.Rdata:
    """Rdata from text, each distinct one parsed once (rdata objects are immutable: shared safely)."""
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.RdataType.make(kind), text)


def _rdata_text(kind: int, value: str) -> str:
    if kind == dns.rdatatype.TXT and not value.startswith('"'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if kind in (dns.rdatatype.PTR, dns.rdatatype.NS, dns.rdatatype.CNAME) and not value.endswith("."):
        return value + "."
    if kind == dns.rdatatype.MX:
        pref, _, host = value.partition(" ")
        return f"{pref} {host if host.endswith('.') else host + '.'}"
    return value


def _fast(zone: Zone, name: str, rdtype: str, value: str) -> None:
    """Add a record we generated ourselves (already well-formed): no name checks, for start-up speed."""
    kind = dns.rdatatype.RdataType.make(rdtype)
    owner = reverse_name(name).to_text() if kind == dns.rdatatype.PTR else _key(name)
    zone._put(owner, kind, [_parse(kind, _rdata_text(kind, value))])


def _address_type(ip: str) -> str:
    return "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"


def _add_origin_records(zone: Zone, asn: int, prefix: str, cc: str, registry: str,
                        as_name: str, date: str) -> None:
    if not asn:
        return
    zone.cymru.add(prefix, f"{asn} | {prefix} | {cc} | {registry} | {date}")
    if not zone.has(f"AS{asn}.asn.cymru.com", "TXT"):       # an AS has one registry and country
        zone.add(f"AS{asn}.asn.cymru.com", "TXT", f"{asn} | {cc} | {registry} | {date} | {as_name}")


def build_zone(networks: Iterable[SyntheticNetwork] = (), abusix_zone: str = ABUSIX_ZONE,
               held_domains: Iterable[str] = (), service_hosts: Iterable[str] = ()) -> Zone:
    """The built-in test zone, with records for the given synthetic networks. `held_domains` (the
    recorded answers' e-mail domains) are zones too: unknown names there get NXDOMAIN, not REFUSED.
    `service_hosts` (RDAP services, IANA) get an A record at SERVICE_ADDRESS."""
    zone = Zone(["in-addr.arpa", "ip6.arpa", "asn.cymru.com", abusix_zone, "example", "sandbox.test",
                 *held_domains])
    zone.abusix = PrefixTxt(abusix_zone, abusix_zone)
    zone.add(SANDBOX_NS, "A", "127.0.0.1")
    for ip, ptr, forward, abuse, asn, prefix, cc, registry, as_name in FIXTURE_HOSTS:
        if ptr:
            zone.add(ip, "PTR", ptr)
            if forward:
                zone.add(ptr, _address_type(forward), forward)
        if abuse:
            zone.abusix.add(ip, abuse)
        _add_origin_records(zone, asn, prefix, cc, registry, as_name, "2000-01-01")
    for domain in FIXTURE_MX:
        zone.add(domain, "MX", f"10 mx1.{domain}")
        zone.add(f"mx1.{domain}", "A", "192.0.2.25")
    # The README example: no PTR, a reverse zone whose NS has no MX but whose parent has one.
    rev24 = dns.name.Name(reverse_name(EXAMPLE_IP).labels[1:])
    zone.add(rev24, "NS", EXAMPLE_NS)
    zone.add(EXAMPLE_NS, "A", "211.191.28.2")
    zone.add(EXAMPLE.domain, "MX", f"10 mail.{EXAMPLE.domain}")
    zone.add(f"mail.{EXAMPLE.domain}", "A", "211.191.28.25")
    zone.add(f"www.{EXAMPLE.domain}", "A", "211.191.28.80")
    zone.abusix.add(EXAMPLE.cidr, EXAMPLE.abuse_email)
    _add_origin_records(zone, EXAMPLE.asn, EXAMPLE.cidr, "KR", "apnic",
                        "SHINBIRO-AS-KR Shinbiro (synthetic example), KR", "2000-03-02")
    for host in sorted(service_hosts):
        _fast(zone, host, "A", SERVICE_ADDRESS)
    for net in networks:
        add_network(zone, net)
    return zone


def add_network(zone: Zone, net: SyntheticNetwork) -> None:
    _fast(zone, net.domain, "MX", f"10 mx1.{net.domain}")
    first = net.ips[0]
    _fast(zone, f"mx1.{net.domain}", _address_type(first), first)
    _fast(zone, f"www.{net.domain}", _address_type(first), first)
    for k, ip in enumerate(net.ips):
        if net.has_ptr:
            host = f"host-{k}-{ip.replace('.', '-').replace(':', '-')}.{net.domain}"
            _fast(zone, ip, "PTR", host)
            _fast(zone, host, _address_type(ip), ip)
    zone.abusix.add(net.cidr, net.abuse_email)
    _add_origin_records(zone, net.asn, net.cidr, net.country, net.registry,
                        f"SYNTH-AS-{net.asn} Synthetic (made up), {net.country}", "2020-02-02")
