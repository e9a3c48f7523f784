"""Faults: registry 429 then success, RIPE's rate-limit error, 5xx, timeout, malformed JSON, DNS
SERVFAIL / timeout / NXDOMAIN. Each gives a clear result, never a crash, and never poisons the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clients import build_clients
from bot.config import Config
from bot.gather import Gatherer
from tests.gather.conftest import Sleeps, sandbox_config
from tests.sandbox import Sandbox

RIPE_IP = "62.239.237.1"          # RIPE NCC space in IANA's bootstrap; recorded answer and whois text
RIPE_URL = "rdap.db.ripe.net/ip/62.239.237.1"


def _fresh(cfg: Config) -> Gatherer:
    return Gatherer(cfg, build_clients(cfg), sleep=Sleeps())


def _assert_unpoisoned(cfg: Config, sandbox: Sandbox) -> None:
    """Once the fault is gone, the same cache gives a real RDAP answer (the failure was not stored)."""
    sandbox.clear_faults()
    g = _fresh(cfg)
    f = g.gather(RIPE_IP)
    g.cache.close()
    assert f.network is not None and f.network.source == "rdap", f.problems
    assert not [p for p in f.problems if p.startswith("RDAP")]


@pytest.mark.parametrize("kind", ["429", "ripe-ratelimit"])
def test_rate_limit_then_success_backs_off_and_succeeds(gatherer: Gatherer, sandbox: Sandbox,
                                                        sleeps: Sleeps, kind: str) -> None:
    sandbox.http.fail(RIPE_URL, kind, times=1)
    lines: list[str] = []
    f = gatherer.gather(RIPE_IP, progress=lines.append)
    assert f.network is not None and f.network.source == "rdap"
    assert not [p for p in f.problems if p.startswith("RDAP")]
    assert any("slow down" in line and "retrying in 1 s" in line for line in lines), lines
    assert 1.0 in sleeps                       # the server's Retry-After, not ipwhois' 120 s
    assert sandbox.http.requests.count(("rdap.db.ripe.net", "/ip/62.239.237.1")) == 2


@pytest.mark.parametrize(("kind", "says"), [
    ("500", "HTTP 500"), ("503", "HTTP 503"), ("timeout", "did not answer in time"),
    ("malformed", "malformed answer"), ("429", "slow down"), ("ripe-ratelimit", "slow down"),
])
def test_registry_that_stays_unavailable_gives_a_clear_problem(sandbox: Sandbox, tmp_path: Path,
                                                               kind: str, says: str) -> None:
    cfg = sandbox_config(sandbox, tmp_path, retries=1, timeout=0.3)
    g = _fresh(cfg)
    sandbox.http.fail(RIPE_URL, kind, times=None)
    f = g.gather(RIPE_IP)
    g.cache.close()
    rdap = [p for p in f.problems if p.startswith("RDAP")]
    assert rdap and "RIPE NCC stayed unavailable after 2 attempts" in rdap[0] and says in rdap[0], f.problems
    # the port-43 fallback still names the network and its abuse mailbox
    assert f.network is not None and f.network.source == "whois"
    assert any("protect@bt.com" in e.emails for e in f.network.entities if "abuse" in e.roles)
    _assert_unpoisoned(cfg, sandbox)


def test_no_fallback_means_no_network_and_a_note(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = sandbox_config(sandbox, tmp_path, retries=0, whois_fallback=False)
    g = _fresh(cfg)
    sandbox.http.fail(RIPE_URL, "500", times=None)
    f = g.gather(RIPE_IP)
    g.cache.close()
    assert f.network is None
    assert any("unknown" in n for n in f.notes)
    _assert_unpoisoned(cfg, sandbox)


def test_a_registry_down_in_bulk_is_asked_once_per_attempt_not_per_address(
        sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = sandbox_config(sandbox, tmp_path, retries=1, whois_fallback=False, workers=1)
    g = _fresh(cfg)
    arin = [n for n in sandbox.synthetic if n.registry == "arin"][:3]
    ips = [n.ips[0] for n in arin]
    sandbox.http.fail("rdap.arin.net", "503", times=None)
    results = dict(g.gather_many(ips))
    g.cache.close()
    assert sum(1 for h, _ in sandbox.http.requests if h == "rdap.arin.net") == 2
    assert "stayed unavailable after 2 attempts" in " ".join(results[ips[0]].problems)
    for ip in ips[1:]:
        assert "earlier in this run" in " ".join(results[ip].problems)


def test_dns_servfail_and_timeout_are_problems_not_crashes(gatherer: Gatherer, sandbox: Sandbox) -> None:
    sandbox.dns.fail("1.237.239.62.in-addr.arpa", "servfail")
    lines: list[str] = []
    f = gatherer.gather(RIPE_IP, progress=lines.append)
    assert f.rdns is None and "Reverse lookup: failed" in lines
    assert any("SERVFAIL" in p for p in f.problems), f.problems
    assert f.network is not None  # the other sources went on
    sandbox.dns.clear_faults()
    sandbox.dns.fail("1.237.239.62.in-addr.arpa", "timeout")
    f = gatherer.gather(RIPE_IP)
    assert any("timed out" in p for p in f.problems), f.problems


def test_nxdomain_is_an_answer_not_a_problem(gatherer: Gatherer, sandbox: Sandbox) -> None:
    sandbox.dns.fail("1.237.239.62.in-addr.arpa", "nxdomain")
    lines: list[str] = []
    f = gatherer.gather(RIPE_IP, progress=lines.append)
    assert f.rdns is None and lines[0] == "Reverse lookup: failed"
    assert not [p for p in f.problems if p.startswith("Reverse")]


def test_abusix_failure_leaves_the_rest(gatherer: Gatherer, sandbox: Sandbox) -> None:
    sandbox.dns.fail(gatherer.cfg.gather.abusix_zone, "servfail")
    f = gatherer.gather(RIPE_IP)
    assert f.abusix == () and any(p.startswith("Abusix:") for p in f.problems)
    assert f.network is not None


def test_a_ptr_that_is_not_a_host_name_stays_data(gatherer: Gatherer, sandbox: Sandbox) -> None:
    sandbox.dns.add("1.1.1.77", "PTR", "evil/name`id`.example.")  # an address used by no other test
    f = gatherer.gather("1.1.1.77")
    assert f.rdns is None
    assert "Reverse lookup: the PTR record is not a host name" in f.problems
    assert f.domain is None or "/" not in f.domain.name


def test_abuse_entity_without_email_is_fetched_from_its_registry(cfg: Config, sandbox: Sandbox) -> None:
    from bot.gather import rdapwalk
    from bot.gather.rdap import RdapSource

    data = {"startAddress": "74.125.0.0", "endAddress": "74.125.255.255", "handle": "NET-X",
            "entities": [{"handle": "ZG39-ARIN", "roles": ["abuse"],
                          "links": [{"rel": "self", "href": "https://rdap.arin.net/registry/entity/ZG39-ARIN"}]},
                         {"handle": "EVIL", "roles": ["abuse"],
                          "links": [{"rel": "self", "href": "https://127.0.0.1/steal"}]}]}
    net = rdapwalk.network_from_rdap(data, registry="arin")
    done, fetched = RdapSource(build_clients(cfg))._complete_entities(net, data, "74.125.225.229")
    assert fetched == 1  # the link to a non-registry host is not followed
    emails = {e.handle: e.emails for e in done.entities}
    assert emails["ZG39-ARIN"] == ("arin-contact@google.com",)
    assert emails["EVIL"] == ()


@pytest.mark.parametrize(("kind", "says"), [("timeout", "did not answer in time"),
                                             ("empty", "without an answer"), ("ratelimit", "slow down")])
def test_whois_fallback_faults_are_clear(sandbox: Sandbox, tmp_path: Path, kind: str, says: str) -> None:
    cfg = sandbox_config(sandbox, tmp_path, retries=0, timeout=0.3)
    g = _fresh(cfg)
    sandbox.http.fail(RIPE_URL, "500", times=None)
    sandbox.whois.fail(RIPE_IP, kind, times=None)
    f = g.gather(RIPE_IP)
    g.cache.close()
    assert f.network is None
    assert any(p.startswith("WHOIS:") and says in p for p in f.problems), f.problems
    _assert_unpoisoned(cfg, sandbox)
