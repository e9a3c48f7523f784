"""The RDAP entity-tree walker and the whois parser on every recorded registry answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot import errors as rdapwalk_errors
from bot.config import ContactsConfig
from bot.contacts import abuse_status, rank_contacts
from bot.gather import rdapwalk
from bot.gather.whois import parse_whois
from bot.models import Findings

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
RDAP_INDEX: dict[str, dict[str, Any]] = json.loads((FIXTURES / "rdap" / "INDEX.json").read_text())["files"]
IP_ANSWERS = sorted(k for k, v in RDAP_INDEX.items() if "/ip/" in v["path"] and v["status"] == 200)


def _network(name: str) -> rdapwalk.Network:
    meta = RDAP_INDEX[name]
    data = json.loads((FIXTURES / "rdap" / name).read_text())
    registry = rdapwalk.registry_from_url(meta["url"])
    nir = rdapwalk.detect_nir(data) if registry == "apnic" else ""
    return rdapwalk.network_from_rdap(data, registry=nir or registry, url=meta["url"])


def test_every_ip_answer_is_covered() -> None:
    assert len(IP_ANSWERS) >= 19  # all five RIRs, IPv4 and IPv6


@pytest.mark.parametrize("name", IP_ANSWERS)
def test_walker_finds_every_abuse_contact_the_registry_names(name: str) -> None:
    meta = RDAP_INDEX[name]
    net = _network(name)
    want = {(c["handle"] or "", c["depth"]) for c in meta["abuse_contacts"]}
    got = {(e.handle, e.depth) for e in net.entities if "abuse" in e.roles}
    assert want <= got
    want_emails = {e.lower() for e in meta["abuse_emails"]}
    got_emails = {a.lower() for e in net.entities if "abuse" in e.roles for a in e.emails}
    assert want_emails == got_emails
    assert net.start and net.end, "range must be parsed (zero-padded and '/32'-suffixed forms included)"


@pytest.mark.parametrize("name", IP_ANSWERS)
def test_named_abuse_contact_ranks_first_or_is_flagged(name: str) -> None:
    meta = RDAP_INDEX[name]
    net = _network(name)
    findings = Findings(ip=net.start, rdns=None, rdns_verified=False, network=net, domain=None)
    contacts = rank_contacts(findings, ContactsConfig())
    abuse = {e.lower() for e in meta["abuse_emails"]}
    if not meta["has_abuse_contact"]:
        assert "names no abuse contact" in abuse_status(findings)
        return
    by_address = {c.address: c for c in contacts}
    if contacts[0].address in abuse and not contacts[0].flag:
        return
    # the registry's abuse contact is its own catch-all: demoted, and saying why
    for address in abuse:
        assert "catch-all" in by_address[address].flag
    assert "catch-all" in abuse_status(findings)


def test_arin_nested_abuse_under_registrant_is_found() -> None:
    net = _network("arin/ip-206.41.110.0.json")
    abuse = [e for e in net.entities if "abuse" in e.roles]
    assert [(e.handle, e.depth, e.parent) for e in abuse] == [("UIE-ARIN", 1, "UIEL")]


def test_nir_delegation_is_recognised() -> None:
    assert _network("apnic/ip-210.107.73.73.json").registry == "krnic"
    assert _network("apnic/ip-2001-240-10c-1--ca20-9d1d.json").registry == "jpnic"
    assert _network("apnic/ip-1.1.1.1.json").registry == "apnic"


def test_malformed_trees_do_not_raise() -> None:
    junk = {"entities": [None, 3, {"roles": "abuse", "vcardArray": ["vcard", [["email", {}, "text"]]]},
                         {"entities": [{"entities": [{"handle": 5}]}]}],
            "startAddress": "not-an-ip", "cidr0_cidrs": [{"v4prefix": "x", "length": "y"}]}
    net = rdapwalk.network_from_rdap(junk, registry="arin")
    assert net.start == "" and net.cidrs == ()
    assert all(isinstance(e.handle, str) for e in net.entities)
    assert rdapwalk.error_text({"errorCode": 404, "title": "Not Found"}) == "error 404: Not Found"


WHOIS_INDEX: dict[str, dict[str, Any]] = json.loads((FIXTURES / "whois" / "INDEX.json").read_text())["files"]
WHOIS_NETS = sorted(k for k, v in WHOIS_INDEX.items() if not k.startswith("radb"))


def _stated_abuse(name: str, text: str) -> set[str]:
    """The abuse addresses the recorded answer states: in its abuse lines, or in the abuse-c object."""
    keys = ("abuse-mailbox:", "OrgAbuseEmail:", "RAbuseEmail:", "%", "abuse-c:")
    lines = [x for x in WHOIS_INDEX[name].get("abuse_lines", []) if x.startswith(keys)]
    emails = {w.strip("'\".,").lower() for line in lines for w in line.split() if "@" in w}
    if "no abuse contact" in " ".join(lines).lower():
        return set()
    handles = {line.split(":", 1)[1].strip() for line in lines if line.startswith("abuse-c:")}
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if any("nic-hdl:" in b and b.split(":", 1)[1].strip() in handles for b in block.split("\n")):
            emails |= {w.lower() for b in block.split("\n") if b.startswith("e-mail:") for w in b.split()[1:]}
    return emails


@pytest.mark.parametrize("name", WHOIS_NETS)
def test_whois_parser_reads_network_and_abuse(name: str) -> None:
    text = (FIXTURES / "whois" / name).read_text(encoding="utf-8", errors="replace")
    net = parse_whois(text, WHOIS_INDEX[name]["rir"])
    assert net.start and net.end and net.source == "whois"
    abuse = {a.lower() for e in net.entities if "abuse" in e.roles for a in e.emails}
    assert abuse == _stated_abuse(name, text)


def test_whois_without_network_is_a_clear_failure() -> None:
    with pytest.raises(rdapwalk_errors.LookupFailed, match="no network"):
        parse_whois("% No entries found for the selected source(s).\n", "ripencc")
