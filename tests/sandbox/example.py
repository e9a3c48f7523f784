"""SYNTHETIC example network for the README: the old incident.pl README's WinGate scan from
211.191.28.13 (KRNIC space, reached through APNIC). Made up by us, not registry data.

As in the old example: no PTR for the address; the reverse zone's name server is
ns.shinbiro.example, which has no MX while its parent shinbiro.example has one. The names are
moved under the reserved .example TLD so that nothing here can reach a real mailbox.
"""

from __future__ import annotations

from typing import Any

from tests.sandbox.synthetic import NOTICE, SyntheticNetwork, _entity, _vcard

EXAMPLE_IP = "211.191.28.13"
EXAMPLE = SyntheticNetwork(
    cidr="211.191.0.0/17", registry="apnic", abuse_email="abuse@shinbiro.example",
    domain="shinbiro.example", handle="211.191.0.0 - 211.191.127.255", name="SHINBIRO-KR",
    asn=64496, country="KR", host="rdap.apnic.net", ips=(EXAMPLE_IP,), has_ptr=False,
    noc_email="ip@mgate.shinbiro.example",
    extra_emails=("ip@mgate.shinbiro.example", "hostmaster@shinbiro.example"),
)
# The old example's guess: the reverse zone's name server, whose parent domain has the MX.
EXAMPLE_NS = "ns.shinbiro.example"


def example_entities() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    base = "https://rdap.apnic.net/entity/"
    irt = _entity("IRT-SHINBIRO-KR", ["abuse"],
                  _vcard("IRT-SHINBIRO-KR", "group", (EXAMPLE.abuse_email, EXAMPLE.abuse_email)), base)
    admin = _entity("IA1-KR", ["administrative", "technical"],
                    _vcard("IP Manager", "individual", ("ip@mgate.shinbiro.example",)), base)
    org = _entity("ORG-SHINBIRO-KR", ["registrant"],
                  _vcard("Shinbiro (synthetic example)", "org", ("hostmaster@shinbiro.example",)), base)
    flat = [irt, admin, org]
    return flat, {e["handle"]: e for e in flat}


def example_rdap() -> dict[str, Any]:
    url = "https://rdap.apnic.net/ip/211.191.0.0/17"
    return {
        "rdapConformance": ["rdap_level_0", "cidr0", "nro_rdap_profile_0"],
        "notices": [NOTICE],
        "objectClassName": "ip network",
        "handle": EXAMPLE.handle,
        "startAddress": "211.191.0.0",
        "endAddress": "211.191.127.255",
        "ipVersion": "v4",
        "name": EXAMPLE.name,
        "type": "ALLOCATED PORTABLE",
        "country": "KR",
        "parentHandle": "211.0.0.0 - 211.255.255.255",
        "remarks": [{"title": "description",
                     "description": ["This IP address space has been allocated to KRNIC.",
                                     "(Synthetic example: KRNIC style, made up.)"]}],
        "cidr0_cidrs": [{"v4prefix": "211.191.0.0", "length": 17}],
        "status": ["active"],
        "port43": "whois.apnic.net",
        "events": [{"eventAction": "registration", "eventDate": "2000-03-02T00:00:00Z"}],
        "links": [{"value": url, "rel": "self", "href": url, "type": "application/rdap+json"}],
        "entities": example_entities()[0],
    }
