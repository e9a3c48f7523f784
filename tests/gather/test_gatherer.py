"""The Gatherer against the sandbox: every recorded IP answer, bulk lookups, the cache, lookup()."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

import pytest

from bot.clients import build_clients
from bot.config import Config
from bot.contacts import rank_contacts
from bot.errors import InputError
from bot.gather import Gatherer
from bot.models import Findings
from tests.gather.conftest import sandbox_config
from tests.sandbox import EXAMPLE_IP, Sandbox

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
INDEX: dict[str, dict[str, Any]] = json.loads((FIXTURES / "rdap" / "INDEX.json").read_text())["files"]
RIR_HOSTS = {"rdap.arin.net", "rdap.db.ripe.net", "rdap.apnic.net", "rdap.lacnic.net", "rdap.afrinic.net"}


def _ip_answers() -> list[tuple[str, str]]:
    """(file, address to look up) for each recorded IP answer the sandbox serves as recorded."""
    out = []
    for name, meta in sorted(INDEX.items()):
        if "/ip/" not in meta["path"] or meta["status"] != 200 or "-2015" in name:
            continue  # the 2015 ARIN recording shares its URL with a newer one, which is served
        text = meta["path"].split("/ip/", 1)[1]
        out.append((name, str(ipaddress.ip_network(text, strict=False).network_address)
                    if "/" in text else text))
    return out


@pytest.mark.parametrize(("name", "ip"), _ip_answers())
def test_registry_abuse_contact_is_ranked_first_or_flagged(gatherer: Gatherer, name: str, ip: str) -> None:
    meta = INDEX[name]
    lines: list[str] = []
    f = gatherer.gather(ip, progress=lines.append)
    assert f.network is not None and f.network.source == "rdap", f.problems
    assert any(line.startswith(f"RDAP {ip}...") and line.endswith("succeeded.") for line in lines)
    contacts = rank_contacts(f, gatherer.cfg.contacts)
    abuse = {a.lower() for a in meta["abuse_emails"]}
    if not meta["has_abuse_contact"]:
        assert any("names no abuse contact" in n for n in f.notes), f.notes
        return
    if contacts[0].address in abuse and not contacts[0].flag:
        return
    flagged = {c.address: c.flag for c in contacts if c.address in abuse}
    assert flagged and all("catch-all" in why for why in flagged.values()), (name, contacts[:3])
    assert any("catch-all" in n for n in f.notes)


def test_one_network_answer_serves_every_address_inside(gatherer: Gatherer, sandbox: Sandbox) -> None:
    net = sandbox.synthetic[0]
    sandbox.http.reset_counts()
    for ip in net.ips[:4]:
        f = gatherer.gather(ip)
        assert f.network is not None and ipaddress.ip_address(ip) in ipaddress.ip_network(net.cidr)
    rir = [r for r in sandbox.http.requests if r[0] in RIR_HOSTS]
    assert len(rir) == 1, rir


def test_cache_survives_a_new_gatherer(cfg: Config, sandbox: Sandbox) -> None:
    ip = sandbox.synthetic[1].ips[0]
    first = Gatherer(cfg, build_clients(cfg))
    first.gather(ip)
    first.cache.close()
    sandbox.http.reset_counts()
    second = Gatherer(cfg, build_clients(cfg))
    lines: list[str] = []
    f = second.gather(sandbox.synthetic[1].ips[5], progress=lines.append)
    second.cache.close()
    assert f.network is not None
    assert not [r for r in sandbox.http.requests if r[0] in RIR_HOSTS]
    assert any("cached" in line for line in lines)


def test_gather_many_costs_one_query_per_network(gatherer: Gatherer, sandbox: Sandbox) -> None:
    nets = sandbox.synthetic[10:20]
    ips = [ip for n in nets for ip in n.ips]
    sandbox.http.reset_counts()
    results = list(gatherer.gather_many(ips))
    assert [ip for ip, _ in results] == ips
    rir = [r for r in sandbox.http.requests if r[0] in RIR_HOSTS]
    assert len(rir) <= len(nets), rir
    by_net = {n.cidr: n for n in nets}
    for ip, f in results:
        net = next(n for c, n in by_net.items() if ipaddress.ip_address(ip) in ipaddress.ip_network(c))
        assert rank_contacts(f, gatherer.cfg.contacts)[0].address == net.abuse_email.lower()


def test_gather_many_rejects_a_non_address_before_any_lookup(gatherer: Gatherer, sandbox: Sandbox) -> None:
    sandbox.http.reset_counts()
    with pytest.raises(InputError, match="not an IP address"):
        list(gatherer.gather_many(["1.1.1.1", "nonsense"]))
    assert sandbox.http.requests == []


def test_example_without_ptr_guesses_the_domain_and_says_so(gatherer: Gatherer) -> None:
    lines: list[str] = []
    f = gatherer.gather(EXAMPLE_IP, progress=lines.append)
    assert lines[0] == "Reverse lookup: failed"
    assert "Trying to figure out domain name after failed reverse lookup." in lines
    assert f.domain is not None and f.domain.guessed and f.domain.guess_reason
    assert any(n.startswith(f"the domain {f.domain.name} is a guess") for n in f.notes)
    assert any(line.startswith("Looking up MX record for") for line in lines)
    assert f.network is not None and f.network.registry == "krnic"
    assert any("APNIC delegates to KRNIC" in line for line in lines)


def test_non_global_address_is_not_looked_up(gatherer: Gatherer, sandbox: Sandbox) -> None:
    sandbox.http.reset_counts()
    f = gatherer.gather("10.1.2.3")
    assert f.network is None and "not a global address" in f.problems[0]
    assert sandbox.http.requests == []


def test_lookup_of_host_and_domain(gatherer: Gatherer) -> None:
    with pytest.raises(InputError):
        gatherer.lookup("not a name!")
    host = gatherer.lookup("one.one.one.one")
    assert host.kind == "host" and "1.1.1.1" in host.addresses
    assert host.findings.network is not None
    ip = gatherer.lookup("1.1.1.1")
    assert ip.kind == "ip" and ip.addresses == ("1.1.1.1",)


def test_transferred_space_is_found_at_the_other_registry(gatherer: Gatherer, sandbox: Sandbox) -> None:
    # IANA's bootstrap names ARIN for 130/8; the recorded answer for 130.59.31.80 is RIPE's
    f = gatherer.gather("130.59.31.80")
    assert f.network is not None and f.network.registry == "ripencc"
    assert ("rdap.db.ripe.net", "/ip/130.59.31.80") in sandbox.http.requests


def test_probe_is_off_by_default_and_never_for_non_global(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = sandbox_config(sandbox, tmp_path)
    g = Gatherer(cfg, build_clients(cfg))
    f = g.gather(sandbox.synthetic[2].ips[0])
    assert f.probes == ()
    g.cache.close()


def test_without_iana_bootstrap_arins_redirect_service_is_used(gatherer: Gatherer, sandbox: Sandbox) -> None:
    sandbox.http.fail("data.iana.org/rdap/ipv4.json", "500", times=1)
    lines: list[str] = []
    f = gatherer.gather("1.1.1.1", progress=lines.append)
    assert f.network is not None and f.network.registry == "apnic"
    assert "RDAP 1.1.1.1...ARIN redirect to APNIC...succeeded." in lines
    assert ("rdap-bootstrap.arin.net", "/bootstrap/ip/1.1.1.1") in sandbox.http.requests


def test_domain_registration_gives_the_registrars_nested_abuse_contact(gatherer: Gatherer) -> None:
    result = gatherer.lookup("google.com")
    dom = result.findings.domain
    assert result.kind == "domain" and dom is not None and dom.name == "google.com"
    abuse = [e for e in dom.entities if "abuse" in e.roles]
    assert any("abusecomplaints@markmonitor.com" in e.emails and e.depth == 1 for e in abuse), dom.entities
    assert dom.registrar


def test_probe_runs_only_when_asked_and_allowed(sandbox: Sandbox, tmp_path: Path) -> None:
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    thread = threading.Thread(target=lambda: server.accept()[0].close())
    thread.start()
    cfg = sandbox_config(sandbox, tmp_path)
    denied = Gatherer(cfg, build_clients(cfg))
    lines: list[str] = []
    assert denied.gather("127.0.0.1", probe=True, progress=lines.append).probes == ()
    assert "Probe: not done, 127.0.0.1 is not a global address." in lines
    denied.cache.close()
    from bot.config import from_dict
    data = sandbox.config_dict(tmp_path)
    data["probe"] = {"allow_non_global": True, "ports": [port], "timeout": 1.0}
    allowed_cfg = from_dict(data)
    allowed = Gatherer(allowed_cfg, build_clients(allowed_cfg))
    f = allowed.gather("127.0.0.1", probe=True)
    allowed.cache.close()
    thread.join()
    server.close()
    assert [(p.port, p.open) for p in f.probes] == [(port, True)]


def test_concurrent_gathers_of_one_network_share_one_query(gatherer: Gatherer, sandbox: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    net = sandbox.synthetic[3]
    sandbox.http.reset_counts()
    sandbox.http.latency = 0.05  # the first answer is still on its way while the others ask
    with ThreadPoolExecutor(max_workers=len(net.ips)) as pool:
        results = list(pool.map(gatherer.gather, net.ips))
    assert all(f.network is not None for f in results)
    assert len([r for r in sandbox.http.requests if r[0] in RIR_HOSTS]) == 1


def test_a_reverse_name_that_does_not_resolve_back_gives_a_guessed_domain(gatherer: Gatherer) -> None:
    """Whoever runs the address writes its PTR: unconfirmed, the domain is a guess and says so."""
    f = gatherer.gather("200.57.141.161")  # PTR static-200-57-141-161.triara.com, whose A is another address
    assert f.rdns == "static-200-57-141-161.triara.com" and not f.rdns_verified
    assert f.domain is not None and f.domain.name == "triara.com" and f.domain.guessed
    assert "does not resolve back" in f.domain.guess_reason
    assert any("triara.com is a guess" in n for n in f.notes)
    confirmed = gatherer.gather("130.59.31.80")  # www.switch.ch resolves back
    assert confirmed.domain is not None and not confirmed.domain.guessed


def test_a_definite_domain_rdap_answer_is_a_note_in_every_bulk_result(sandbox: Sandbox,
                                                                      tmp_path: Path) -> None:
    cfg = sandbox_config(sandbox, tmp_path, workers=1)  # one worker: the second address replays the first's
    g = Gatherer(cfg, build_clients(cfg))
    ips = [EXAMPLE_IP, "211.191.28.14"]  # one network, one guessed domain without an RDAP service
    results = dict(g.gather_many(ips))
    g.close()
    for ip in ips:
        f = results[ip]
        assert any(n.startswith("Domain RDAP: no RDAP service is known") for n in f.notes), (ip, f.notes)
        assert not [p for p in f.problems if p.startswith("Domain RDAP")], f.problems


def test_stopping_a_bulk_lookup_early_stops_its_workers(sandbox: Sandbox, tmp_path: Path) -> None:
    """Ctrl-C (or a consumer that stops reading) must not wait for every remaining lookup to run."""
    cfg = sandbox_config(sandbox, tmp_path, workers=2)
    g = Gatherer(cfg, build_clients(cfg))
    ips = [n.ips[0] for n in sandbox.synthetic[:20]]
    sandbox.http.reset_counts()
    results = cast(Generator[tuple[str, Findings], None, None], g.gather_many(ips))
    next(results)
    results.close()
    g.close()
    rdap = [path for host, path in sandbox.http.requests if "/ip/" in path]
    assert len(rdap) < 8, rdap
