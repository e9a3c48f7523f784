"""Gathering at scale: what holds for a network or a domain is asked once (in the run, and from the cache
for its DNS TTL in later runs); per address only the reverse name and its forward confirmation; the
independent questions of one address at once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from bot.clients import build_clients
from bot.gather import Gatherer
from bot.gather.cache import LookupCache
from tests.gather.conftest import Sleeps, sandbox_config
from tests.sandbox import Sandbox
from tests.sandbox.synthetic import SyntheticNetwork


def _kinds(queries: list[tuple[str, str]], net: SyntheticNetwork) -> Counter[str]:
    """The DNS questions asked, by what they are about."""
    out: Counter[str] = Counter()
    for name, rdtype in queries:
        if name.endswith("origin.asn.cymru.com") or name.endswith("origin6.asn.cymru.com"):
            out["origin"] += 1
        elif name.endswith(".asn.cymru.com"):
            out["as-name"] += 1
        elif name.endswith("abuse-contacts.sandbox.test"):
            out["abusix"] += 1
        elif rdtype == "PTR":
            out["ptr"] += 1
        elif name == net.domain:
            out[f"domain {rdtype}"] += 1
        elif name.endswith("." + net.domain) and rdtype in ("A", "AAAA"):
            out["forward"] += 1
        else:
            out[f"other {rdtype} {name}"] += 1
    return out


def test_a_networks_answers_are_asked_once_and_each_address_asks_only_its_reverse_name(
        sandbox: Sandbox, tmp_path: Path) -> None:
    net = sandbox.synthetic[1]                          # RIPE-style, with PTR records for its addresses
    cfg = sandbox_config(sandbox, tmp_path)
    g = Gatherer(cfg, build_clients(cfg), sleep=Sleeps())
    found = dict(g.gather_many(net.ips))
    g.close()
    assert all(f.network is not None and f.network.handle == net.handle for f in found.values())
    assert all(f.abusix == (net.abuse_email,) and f.domain is not None and f.domain.mx
               for f in found.values())
    assert all(f.network is not None and f.network.asn == net.asn for f in found.values())
    kinds = _kinds(sandbox.dns.queries, net)
    assert kinds["ptr"] == 10 and kinds["forward"] == 10
    for shared in ("origin", "as-name", "abusix", "domain MX", "domain A", "domain AAAA"):
        assert kinds[shared] == 1, (shared, kinds)
    registry = [r for r in sandbox.http.requests if r[0] == net.host]
    assert len(registry) == 1, registry


def test_later_runs_take_shared_answers_from_the_cache_until_their_ttl(sandbox: Sandbox,
                                                                       tmp_path: Path) -> None:
    net = sandbox.synthetic[2]
    now = [time.time()]
    cfg = sandbox_config(sandbox, tmp_path)

    def run() -> Counter[str]:
        sandbox.dns.reset_counts()
        cache = LookupCache(cfg.gather.cache_path, cfg.gather.cache_ttl_hours, clock=lambda: now[0])
        g = Gatherer(cfg, build_clients(cfg), cache=cache, sleep=Sleeps())
        list(g.gather_many(net.ips))
        g.close()
        return _kinds(sandbox.dns.queries, net)

    first = run()
    assert first["origin"] == first["abusix"] == first["domain MX"] == 1
    again = run()                                     # within the sandbox's DNS TTL (300 s)
    assert again["ptr"] == 10 and again["forward"] == 10
    assert again["origin"] == again["as-name"] == again["abusix"] == again["domain MX"] == 0, again
    now[0] += 301                                      # the DNS TTL has passed (the cache's 24 h has not)
    expired = run()
    assert expired["origin"] == expired["abusix"] == expired["domain MX"] == 1, expired


def test_abusix_is_shared_only_by_addresses_of_the_same_registry_network(gatherer: Gatherer,
                                                                         sandbox: Sandbox) -> None:
    a, b = sandbox.synthetic[5], sandbox.synthetic[10]         # two ARIN networks
    list(gatherer.gather_many([a.ips[0], a.ips[1], b.ips[0], b.ips[1]]))
    asked = [name for name, _ in sandbox.dns.queries if name.endswith("abuse-contacts.sandbox.test")]
    assert len(asked) == 2, asked


def test_cache_entries_end_with_their_own_ttl(tmp_path: Path) -> None:
    now = [1_000_000.0]
    cache = LookupCache(tmp_path / "c.sqlite", 24.0, clock=lambda: now[0])
    cache.put("short", [1], ttl=10)
    cache.put("long", [2])
    cache.put("never", [3], ttl=0)
    assert cache.get("short") == [1] and cache.get("long") == [2] and cache.get("never") is None
    now[0] += 11
    assert cache.get("short") is None and cache.get("long") == [2]
    now[0] += 24 * 3600
    assert cache.get("long") is None
    cache.close()


def test_the_independent_questions_of_one_address_are_asked_at_once(sandbox: Sandbox, tmp_path: Path) -> None:
    """With 0.3 s per answer, one after the other the reverse name (2 questions), the network (registry,
    then Abusix), the origin AS (2) and the domain (MX, A, AAAA) would take 2.7 s or more."""
    cfg = sandbox_config(sandbox, tmp_path, timeout=3.0)
    g = Gatherer(cfg, build_clients(cfg), sleep=Sleeps())
    net = sandbox.synthetic[3]
    g.gather(sandbox.synthetic[8].ips[0])            # IANA's bootstrap and the hosts' addresses in hand
    sandbox.http.latency = 0.3
    sandbox.dns.latency = 0.3
    started = time.monotonic()
    f = g.gather(net.ips[0])
    elapsed = time.monotonic() - started
    g.close()
    assert f.network is not None and f.network.handle == net.handle and f.abusix == (net.abuse_email,)
    assert elapsed < 1.8, elapsed


@pytest.mark.parametrize("count", [30])
def test_bulk_questions_per_address_stay_under_three(sandbox: Sandbox, tmp_path: Path, count: int) -> None:
    cfg = sandbox_config(sandbox, tmp_path)
    g = Gatherer(cfg, build_clients(cfg), sleep=Sleeps())
    ips = [ip for net in sandbox.synthetic[:count] for ip in net.ips]
    found = dict(g.gather_many(ips))
    g.close()
    assert all(f.network is not None for f in found.values())
    assert len(sandbox.dns.queries) / len(ips) <= 3.0, len(sandbox.dns.queries)
