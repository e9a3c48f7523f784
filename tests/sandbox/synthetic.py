"""SYNTHETIC networks: made up by us for benchmarks and examples. Not registry data.

Every record built here says so (an RDAP notice titled "Synthetic record", a '%' remark in the
whois text). Names live under the reserved ``.example`` TLD and AS numbers are private-use
(64512+) or documentation (64496) numbers, so nothing here can be mistaken for, or mail, a
real party.

Address space: for each registry one /16 (IPv4) and one /32 (IPv6) inside a block that IANA's
recorded bootstrap (tests/data/fixtures/iana-bootstrap) assigns to that registry, away from
every recorded fixture network (tests/sandbox/test_sandbox.py checks both). Network i is the
i-th /24 (or /48) of its registry's block; registries take turns (i % 5), and every fifth
network of a registry is IPv6.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

REGISTRIES = ("arin", "ripencc", "apnic", "lacnic", "afrinic")

# registry -> (rdap host, ip path prefix, entity path prefix, port43 server, IPv4 /16, IPv6 /32, country)
SHAPES: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "arin": ("rdap.arin.net", "/registry/ip/", "/registry/entity/", "whois.arin.net",
             "64.254.0.0/16", "2602:fff0::/32", "US"),
    "ripencc": ("rdap.db.ripe.net", "/ip/", "/entity/", "whois.ripe.net",
                "85.254.0.0/16", "2a0f:fff0::/32", "NL"),
    "apnic": ("rdap.apnic.net", "/ip/", "/entity/", "whois.apnic.net",
              "122.254.0.0/16", "240f:fff0::/32", "AU"),
    "lacnic": ("rdap.lacnic.net", "/rdap/ip/", "/rdap/entity/", "whois.lacnic.net",
               "186.254.0.0/16", "280f:fff0::/32", "BR"),
    "afrinic": ("rdap.afrinic.net", "/rdap/ip/", "/rdap/entity/", "whois.afrinic.net",
                "105.254.0.0/16", "2c0f:fff0::/32", "ZA"),
}

NOTICE = {
    "title": "Synthetic record",
    "description": ["Made up by the incident-bot test sandbox for benchmarks and examples.",
                    "Not registry data; every name and address in it is invented."],
}
MAX_NETWORKS = 5 * 250          # 250 /24s per registry /16


@dataclass(frozen=True)
class SyntheticNetwork:
    """One made-up network: what a test needs to check the bot's answer against."""

    cidr: str
    registry: str                # ipwhois' names: arin, ripencc, apnic, lacnic, afrinic
    abuse_email: str
    domain: str
    handle: str
    name: str
    asn: int
    country: str
    host: str                    # the RDAP host that answers for it
    ips: tuple[str, ...]         # ten addresses inside it, for the bulk benchmark
    has_ptr: bool                # PTR (and matching A/AAAA) records exist for its ips
    noc_email: str = ""
    extra_emails: tuple[str, ...] = ()   # other addresses in the record (admin, tech, noc)


def make_networks(count: int) -> list[SyntheticNetwork]:
    """The first `count` synthetic networks (deterministic: the same count gives the same list)."""
    if not 0 <= count <= MAX_NETWORKS:
        raise ValueError(f"synthetic networks: 0..{MAX_NETWORKS}, not {count}")
    return [_network(i) for i in range(count)]


def _network(i: int) -> SyntheticNetwork:
    registry = REGISTRIES[i % 5]
    slot = i // 5                             # index within the registry
    host, _, _, _, v4_block, v6_block, country = SHAPES[registry]
    v6 = slot % 5 == 4
    if v6:
        base = ipaddress.IPv6Network(v6_block)
        net: ipaddress.IPv4Network | ipaddress.IPv6Network = ipaddress.IPv6Network(
            (int(base.network_address) + ((slot + 1) << 80), 48))
        ips = tuple(str(net.network_address + (k + 1) * 0x1_0001 + 0x100 * i) for k in range(10))
    else:
        base4 = ipaddress.IPv4Network(v4_block)
        net = ipaddress.IPv4Network((int(base4.network_address) + ((slot + 1) << 8), 24))
        ips = tuple(str(net.network_address + 1 + k * 25 + i % 7) for k in range(10))
    short = {"ripencc": "ripe"}.get(registry, registry)
    domain = f"synth{i:03d}-{short}.example"
    return SyntheticNetwork(
        cidr=str(net), registry=registry, abuse_email=f"abuse@{domain}", domain=domain,
        handle=_net_handle(registry, net), name=f"SYNTH-NET-{i:03d}", asn=64512 + i,
        country=country, host=host, ips=ips, has_ptr=i % 4 != 3,
        noc_email=f"noc@{domain}", extra_emails=(f"noc@{domain}",),
    )


def _net_handle(registry: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    first, last = net.network_address, net.broadcast_address
    if registry == "arin":
        dashed = str(first).replace(".", "-").replace(":", "-").rstrip("-").upper()
        return f"NET{'6' if net.version == 6 else ''}-{dashed}-1"
    if registry == "lacnic" or net.version == 6:
        return str(net)
    return f"{first} - {last}"


# --- RDAP bodies -------------------------------------------------------------------------


def _vcard(fn: str, kind: str, emails: tuple[str, ...] = (), org: str = "") -> list[Any]:
    props: list[Any] = [["version", {}, "text", "4.0"], ["fn", {}, "text", fn], ["kind", {}, "text", kind]]
    if org:
        props.append(["org", {}, "text", org])
    props.append(["adr", {"label": "1 Example Street\nNowhere\n"}, "text", ["", "", "", "", "", "", ""]])
    for email in emails:
        props.append(["email", {}, "text", email])
    return ["vcard", props]


def _entity(handle: str, roles: list[str], vcard: list[Any] | None, base: str,
            children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    ent: dict[str, Any] = {"objectClassName": "entity", "handle": handle}
    if vcard is not None:
        ent["vcardArray"] = vcard
    ent["roles"] = roles
    ent["links"] = [{"value": base + handle, "rel": "self", "href": base + handle,
                     "type": "application/rdap+json"}]
    if children:
        ent["entities"] = children
    return ent


def entities(net: SyntheticNetwork) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The network's entity list in its registry's shape, and every entity by handle."""
    host, _, epath, *_ = SHAPES[net.registry]
    base = f"https://{host}{epath}"
    n = net.name.rsplit("-", 1)[-1]
    org_name = f"Synthetic Networks {n} (made up)"
    abuse_v = _vcard("Abuse desk", "group", (net.abuse_email,))
    noc_v = _vcard("Network operations", "group", (net.noc_email,))
    org_v = _vcard(org_name, "org")
    out: list[dict[str, Any]]
    if net.registry == "arin":
        abuse = _entity(f"ABUSE{n}-ARIN", ["abuse"], abuse_v, base)
        noc = _entity(f"NOC{n}-ARIN", ["noc", "technical"], noc_v, base)
        org = _entity(f"SYN-{n}", ["registrant"], org_v, base, [abuse, noc])
        # Like ARIN: some answers repeat the resource-level abuse POC at top level, some only nest it.
        out = [org, abuse] if int(n) % 2 == 0 else [org]
        flat = [org, abuse, noc]
    elif net.registry == "apnic":
        irt = _entity(f"IRT-SYNTH{n}-AP", ["abuse"], _vcard(f"IRT-SYNTH{n}-AP", "group",
                                                            (net.abuse_email, net.abuse_email)), base)
        tech = _entity(f"SN{n}-AP", ["technical", "administrative"], noc_v, base)
        org = _entity(f"ORG-SN{n}-AP", ["registrant"], org_v, base)
        out = flat = [tech, irt, org]
    elif net.registry == "lacnic":
        person = _entity(f"SYN{n}", ["administrative", "technical", "abuse"],
                         _vcard("Synthetic Abuse Person", "individual", (net.abuse_email,)), base)
        tech_v = _vcard("Synthetic NOC", "individual", (net.noc_email,))
        tech = _entity(f"SYT{n}", ["technical"], tech_v, base)
        org = _entity(f"BR-SYN{n}-LACNIC", ["registrant"], org_v, base)
        out = flat = [org, person, tech]
    else:   # ripencc and afrinic (RIPE software)
        suffix = "RIPE" if net.registry == "ripencc" else "AFRINIC"
        org = _entity(f"ORG-SN{n}-{suffix}", ["registrant"], org_v, base)
        admin = _entity(f"SN{n}-{suffix}", ["administrative", "technical"], noc_v, base)
        abuse = _entity(f"AR{n}-{suffix}", ["abuse"], abuse_v, base)
        mnt = _entity(f"SYNTH{n}-MNT", ["registrant"], None, base)
        out = flat = [org, admin, abuse, mnt]
    by_handle = {e["handle"]: e for e in flat}
    return out, by_handle


def rdap_network(net: SyntheticNetwork) -> dict[str, Any]:
    """The RDAP 'ip network' answer for `net`, shaped like its registry's."""
    host, ippath, *_ = SHAPES[net.registry]
    cidr = ipaddress.ip_network(net.cidr)
    url = f"https://{host}{ippath}{net.cidr}"
    ents, _ = entities(net)
    key = "v4prefix" if cidr.version == 4 else "v6prefix"
    body: dict[str, Any] = {
        "rdapConformance": ["rdap_level_0", "cidr0", "nro_rdap_profile_0"],
        "notices": [NOTICE],
        "objectClassName": "ip network",
        "handle": net.handle,
        "startAddress": str(cidr.network_address),
        "endAddress": str(cidr.broadcast_address),
        "ipVersion": f"v{cidr.version}",
        "name": net.name,
        "type": {"arin": "ASSIGNMENT", "lacnic": "assignment"}.get(net.registry, "ASSIGNED PA"),
        "cidr0_cidrs": [{key: str(cidr.network_address), "length": cidr.prefixlen}],
        "status": ["active"],
        "port43": SHAPES[net.registry][3],
        "events": [{"eventAction": "registration", "eventDate": "2020-02-02T10:00:00Z"},
                   {"eventAction": "last changed", "eventDate": "2024-04-04T10:00:00Z"}],
        "links": [{"value": url, "rel": "self", "href": url, "type": "application/rdap+json"}],
        "entities": ents,
    }
    if net.registry != "arin":
        body["country"] = net.country
    else:
        body["rdapConformance"].append("arin_originas0")
        body["arin_originas0_originautnums"] = [net.asn]
    return body


def rdap_entity(entity: dict[str, Any]) -> dict[str, Any]:
    """A top-level answer for /entity/<handle> (what a registry returns when fetched alone)."""
    return {"rdapConformance": ["rdap_level_0", "nro_rdap_profile_0"], "notices": [NOTICE], **entity}


def whois_text(net: SyntheticNetwork) -> bytes:
    """A port-43 answer in RPSL style, labelled synthetic."""
    cidr = ipaddress.ip_network(net.cidr)
    key = "inetnum" if cidr.version == 4 else "inet6num"
    span = f"{cidr.network_address} - {cidr.broadcast_address}" if cidr.version == 4 else net.cidr
    lines = [
        "% SYNTHETIC record made up by the incident-bot test sandbox. Not registry data.",
        "",
        f"% Abuse contact for '{span}' is '{net.abuse_email}'",
        "",
        f"{key + ':':<16}{span}",
        f"{'netname:':<16}{net.name}",
        f"{'descr:':<16}Synthetic Networks (made up)",
        f"{'country:':<16}{net.country}",
        f"{'abuse-mailbox:':<16}{net.abuse_email}",
        f"{'e-mail:':<16}{net.noc_email}",
        f"{'origin:':<16}AS{net.asn}",
        f"{'source:':<16}SYNTHETIC",
        "",
    ]
    return "\n".join(lines).encode()


def to_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=2).encode()
