"""Registry answers that are wrong or hostile: they cannot crash the lookup, mislead it, or poison the
cache for other addresses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.clients import build_clients
from bot.config import Config
from bot.gather import Gatherer
from tests.gather.conftest import Sleeps, sandbox_config
from tests.gather.hostile import HostileRegistry
from tests.sandbox import Sandbox

ARIN = "https://rdap.arin.net/registry/ip/"


def _answer(ip: str, start: str, end: str, abuse: str, **extra: Any) -> dict[str, Any]:
    return {"objectClassName": "ip network", "handle": f"NET-{start}", "name": "NET",
            "port43": "whois.arin.net",
            "startAddress": start, "endAddress": end,
            "links": [{"rel": "self", "href": ARIN + ip}],
            "entities": [{"handle": "AB-ARIN", "roles": ["abuse"],
                          "vcardArray": ["vcard", [["email", {}, "text", abuse]]]}], **extra}


@pytest.fixture
def registry() -> Iterator[HostileRegistry]:
    with HostileRegistry() as reg:
        yield reg


@pytest.fixture
def hostile_cfg(sandbox: Sandbox, tmp_path: Path, registry: HostileRegistry) -> Config:
    return sandbox_config(sandbox, tmp_path, rdap_url_override=registry.base, whois_fallback=False,
                          abusix=False, domain_rdap=False, retries=0)


def _gather(cfg: Config, ip: str) -> Any:
    g = Gatherer(cfg, build_clients(cfg), sleep=Sleeps())
    try:
        return g.gather(ip)
    finally:
        g.close()


def test_an_answer_for_another_range_is_neither_used_nor_cached(hostile_cfg: Config,
                                                               registry: HostileRegistry) -> None:
    registry.answers["/ip/23.1.2.3"] = _answer("23.1.2.3", "23.9.9.0", "23.9.9.255", "abuse@wrong.example")
    f = _gather(hostile_cfg, "23.1.2.3")
    assert f.network is None
    assert any("23.9.9.0" in p and "23.1.2.3" in p for p in f.problems), f.problems
    # the progress says why the other registries are asked (not "has no record")
    assert any("not for 23.1.2.3; trying RIPE NCC" in line for line in f.progress), f.progress
    registry.answers["/ip/23.9.9.9"] = _answer("23.9.9.9", "23.9.9.0", "23.9.9.255", "abuse@right.example")
    again = _gather(hostile_cfg, "23.9.9.9")
    assert again.network is not None
    assert [e.emails for e in again.network.entities] == [("abuse@right.example",)]
    assert any(p.endswith("/ip/23.9.9.9") for p in registry.paths)  # asked, not served from the cache


def test_an_answer_claiming_the_whole_address_space_serves_no_other_address(
        hostile_cfg: Config, registry: HostileRegistry) -> None:
    registry.answers["/ip/23.1.2.3"] = _answer("23.1.2.3", "0.0.0.0", "255.255.255.255", "abuse@all.example")
    first = _gather(hostile_cfg, "23.1.2.3")
    assert first.network is not None  # what the registry said about this address
    registry.answers["/ip/23.5.5.5"] = _answer("23.5.5.5", "23.5.0.0", "23.5.255.255", "abuse@own.example")
    other = _gather(hostile_cfg, "23.5.5.5")
    assert other.network is not None and other.network.start == "23.5.0.0"
    assert [e.emails for e in other.network.entities] == [("abuse@own.example",)]


@pytest.mark.parametrize("ip", ["224.0.0.251", "239.1.2.3", "ff02::1", "ff0e::1", "3fff::1", "64:ff9b:1::1",
                                "::10.0.0.1", "::2", "2002:a00:1::1", "64:ff9b::a00:1"])
def test_multicast_and_special_use_addresses_are_sent_nowhere(gatherer: Gatherer, sandbox: Sandbox,
                                                              ip: str) -> None:
    """ipaddress calls these global; they are multicast, special-use (RFC 9637, RFC 8215), outside
    IPv6 global unicast (2000::/3), or 6to4 around a private IPv4 address."""
    sandbox.http.reset_counts()
    sandbox.dns.reset_counts()
    f = gatherer.gather(ip, probe=True)
    assert f.network is None and "not a global address" in f.problems[0]
    assert sandbox.http.requests == [] and sandbox.dns.queries == []
    assert f.probes == ()


def test_a_zone_id_is_dropped_not_sent_or_crashed_on(gatherer: Gatherer, sandbox: Sandbox) -> None:
    result = gatherer.lookup("2001:4860:4860::8888%eth0")
    assert result.findings.ip == "2001:4860:4860::8888"
    assert result.findings.network is not None and result.findings.network.handle == "NET6-2001-4860-1"
    assert all("%" not in path for _, path in sandbox.http.requests)


def test_every_request_to_a_registry_counts_against_its_rate(sandbox: Sandbox, tmp_path: Path,
                                                             registry: HostileRegistry) -> None:
    """The fetch of an abuse entity named without an e-mail address is one more request: it waits its turn."""
    answer = _answer("23.1.2.3", "23.1.0.0", "23.1.255.255", "")
    answer["entities"] = [{"handle": "NOMAIL-ARIN", "roles": ["abuse"],
                           "links": [{"rel": "self", "href": "https://rdap.arin.net/registry/entity/NOMAIL-ARIN"}]}]
    registry.answers["/ip/23.1.2.3"] = answer
    registry.answers["/entity/NOMAIL-ARIN"] = {"handle": "NOMAIL-ARIN", "vcardArray": [
        "vcard", [["email", {}, "text", "abuse@fetched.example"]]]}
    cfg = sandbox_config(sandbox, tmp_path, rdap_url_override=registry.base, whois_fallback=False,
                         abusix=False, domain_rdap=False,
                         registries={"arin": {"concurrency": 1, "per_minute": 6}})
    sleeps = Sleeps()
    g = Gatherer(cfg, build_clients(cfg), sleep=sleeps)
    f = g.gather("23.1.2.3")
    g.close()
    assert f.network is not None and f.network.entities[0].emails == ("abuse@fetched.example",)
    assert g.requests["arin"] == 2
    assert [s for s in sleeps if s > 9] != [], sleeps  # 6 a minute: the second request waits ~10 s


def test_registry_text_is_one_printable_line_of_sane_length() -> None:
    """Control characters (ANSI escapes, CR/LF, BEL) and megabyte strings stay out of the findings,
    so no consumer (terminal, mail, chat) can be fooled by them."""
    from bot.config import ContactsConfig
    from bot.contacts import rank_contacts
    from bot.gather import rdapwalk
    from bot.gather.whois import parse_whois
    from bot.models import Findings

    data = _answer("23.1.2.3", "23.1.0.0", "23.1.255.255", "MAILTO:Abuse@Evil-Net.com.",
                   handle="NET-\x1b[2J\x1b[31mEVIL", name="EVIL\r\nX-Injected: yes\x07" + "N" * 2_000_000,
                   country="U\x1bS")
    data["entities"][0]["handle"] = "AB\x1b]0;pwned\x07" + "H" * 100_000
    data["entities"][0]["vcardArray"][1] += [["fn", {}, "text", "Abuse\x1b[0m\r\nBcc: victim@example.org"],
                                             ["email", {}, "text", "noc@evil-net.com\r\nBcc: x@example.org"]]
    net = rdapwalk.network_from_rdap(data, registry="arin")
    whois = parse_whois("inetnum: 23.1.0.0 - 23.1.255.255\nnetname: EVIL\x1b[31m\x07" + "W" * 100_000
                        + "\nabuse-mailbox: abuse@evil-net.com\n", "ripencc")
    for n in (net, whois):
        texts = [n.handle, n.name, n.org, n.country]
        texts += [t for e in n.entities for t in (e.handle, e.name, *e.emails)]
        assert all(t.isprintable() and len(t) <= 300 for t in texts), [t[:40] for t in texts]
    contacts = rank_contacts(Findings("23.1.2.3", None, False, net, None), ContactsConfig())
    assert [c.address for c in contacts] == ["abuse@evil-net.com"]
    assert all(s.isprintable() for c in contacts for s in c.sources)


def test_a_network_answer_with_a_rate_limit_notice_is_an_answer(hostile_cfg: Config,
                                                                registry: HostileRegistry) -> None:
    """A policy notice titled "Rate Limits" in a good answer is not RIPE's rate-limit error."""
    registry.answers["/ip/23.1.2.3"] = _answer(
        "23.1.2.3", "23.1.0.0", "23.1.255.255", "abuse@net.example",
        notices=[{"title": "Rate Limits", "description": ["Queries are rate limited to 10 per second."]}])
    f = _gather(hostile_cfg, "23.1.2.3")
    assert f.network is not None and f.network.start == "23.1.0.0", f.problems
    assert not [p for p in f.problems if p.startswith("RDAP")]


def test_an_oversized_answer_is_refused_not_read_whole(hostile_cfg: Config, registry: HostileRegistry,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.gather.fetch
    monkeypatch.setattr(bot.gather.fetch, "MAX_ANSWER_BYTES", 50_000)
    registry.answers["/ip/23.1.2.3"] = _answer("23.1.2.3", "23.1.0.0", "23.1.255.255", "abuse@net.example",
                                               remarks=[{"description": ["x" * 100_000]}])
    f = _gather(hostile_cfg, "23.1.2.3")
    assert f.network is None
    assert any("too large" in p for p in f.problems), f.problems


def test_without_ptr_or_registry_mail_the_reverse_zones_name_server_gives_the_guess(
        hostile_cfg: Config, registry: HostileRegistry, sandbox: Sandbox) -> None:
    """The old tool's "Possible candidate: ns.shinbiro.com": the name server of the reverse zone."""
    answer = _answer("23.7.8.9", "23.7.0.0", "23.7.255.255", "")
    answer["entities"] = []  # the registry names nobody
    registry.answers["/ip/23.7.8.9"] = answer
    sandbox.dns.add("8.7.23.in-addr.arpa", "NS", "ns2.hoster-23-7.example.")
    sandbox.dns.add("hoster-23-7.example", "MX", "10 mx.hoster-23-7.example.")
    f = _gather(hostile_cfg, "23.7.8.9")
    assert f.rdns is None
    assert f.domain is not None and f.domain.name == "hoster-23-7.example" and f.domain.guessed
    assert "ns2.hoster-23-7.example" in f.domain.guess_reason
    assert f.domain.mx == ("mx.hoster-23-7.example",)


def test_a_host_whose_a_query_fails_is_still_looked_up_by_its_aaaa(gatherer: Gatherer,
                                                                  sandbox: Sandbox) -> None:
    sandbox.dns.fail("one.one.one.one", "servfail", times=1)  # the first question, A, fails; AAAA answers
    result = gatherer.lookup("one.one.one.one")
    assert result.addresses == ("2606:4700:4700::1111",)
    assert result.findings.network is not None and result.findings.network.handle == "NET6-2606-4700-1"
    assert any(p.startswith("Address lookup of one.one.one.one: A") for p in result.findings.problems)


def test_whois_takes_the_most_specific_network_holding_the_address() -> None:
    """ARIN lists the provider's allocation before the customer's reassignment; another range is no answer."""
    from bot.errors import LookupFailed
    from bot.gather.whois import parse_whois

    text = ("NetRange:       23.0.0.0 - 23.15.255.255\nNetName:        PROVIDER-BLK\n"
            "NetHandle:      NET-23-0-0-0-1\nOrgName:        Provider\n\n"
            "NetRange:       23.1.2.0 - 23.1.2.255\nNetName:        CUSTOMER\n"
            "NetHandle:      NET-23-1-2-0-1\nOrgName:        Customer\n\n"
            "OrgAbuseEmail:  abuse@customer.example\n")
    net = parse_whois(text, "arin", "23.1.2.3")
    assert (net.handle, net.name, net.start) == ("NET-23-1-2-0-1", "CUSTOMER", "23.1.2.0")
    with pytest.raises(LookupFailed, match=r"not for 24\.1\.1\.1"):
        parse_whois(text, "arin", "24.1.1.1")


def test_an_abuse_entity_with_a_padded_handle_is_still_completed(hostile_cfg: Config,
                                                                 registry: HostileRegistry) -> None:
    from bot.gather import rdapwalk
    from bot.gather.rdap import RdapSource

    data = _answer("23.1.2.3", "23.1.0.0", "23.1.255.255", "")
    data["entities"] = [{"handle": " NOMAIL-ARIN\n", "roles": ["abuse"],
                         "links": [{"rel": "self", "href": "https://rdap.arin.net/registry/entity/NOMAIL-ARIN"}]}]
    registry.answers["/entity/NOMAIL-ARIN"] = {"handle": "NOMAIL-ARIN", "vcardArray": [
        "vcard", [["email", {}, "text", "abuse@fetched.example"]]]}
    net = rdapwalk.network_from_rdap(data, registry="arin")
    done, fetched = RdapSource(build_clients(hostile_cfg))._complete_entities(net, data, "23.1.2.3")
    assert fetched == 1 and done.entities[0].emails == ("abuse@fetched.example",)
