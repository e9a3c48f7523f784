"""Units without the sandbox: client building, rate limits, cache, probing, Abusix names."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bot.clients import FetchHandler, build_clients
from bot.config import Config, RegistryLimit, from_dict
from bot.errors import ConfigError
from bot.gather.abusix import query_name
from bot.gather.cache import LookupCache
from bot.gather.limits import RegistryGate, backoff
from bot.gather.probe import probe, probe_refusal
from bot.models import Network, RegistryEntity


def test_clients_use_configured_nameservers_only_and_reject_bad_overrides() -> None:
    cfg = from_dict({"gather": {"nameservers": ["127.0.0.1"], "dns_port": 5353, "timeout": 1.5,
                                "whois_server_override": "127.0.0.1:4343"}})
    clients = build_clients(cfg)
    assert clients.resolver.nameservers == ["127.0.0.1"] and clients.resolver.port == 5353
    assert clients.resolver.lifetime == 1.5
    assert (clients.whois_server, clients.whois_port) == ("127.0.0.1", 4343)
    # ipwhois' opener has our fetcher as its only handler: no proxy from the environment, no redirect
    # or connection of urllib's own
    assert [type(h) for h in clients.opener.handlers] == [FetchHandler]
    assert clients.fetcher.timeout == 1.5 and clients.fetcher.deadline == cfg.gather.deadline
    for bad in ({"whois_server_override": "nohostport"}, {"rdap_url_override": "ftp://x"}):
        with pytest.raises(ConfigError, match="gather\\."):
            build_clients(from_dict({"gather": bad}))


def test_gate_spaces_requests_to_the_configured_rate() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    limit = RegistryLimit(concurrency=1, per_minute=10)
    gate = RegistryGate("lacnic", limit, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        with gate.slot():
            pass
    assert waits == [pytest.approx(6.0), pytest.approx(6.0)]  # 10 a minute: one every 6 s after the first
    gate.pause(30)
    with gate.slot():
        pass
    assert waits[-1] == pytest.approx(30.0)


def test_gate_bounds_concurrency() -> None:
    gate = RegistryGate("arin", RegistryLimit(concurrency=2, per_minute=100_000))
    inside, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def worker() -> None:
        with gate.slot():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            release.wait(0.2)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_backoff_prefers_retry_after_and_doubles_otherwise() -> None:
    assert backoff(1, 2.0, retry_after=7) == 7
    assert [backoff(n, 2.0) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert backoff(10, 2.0) == 60.0


def _net(start: str, end: str, handle: str) -> Network:
    return Network(registry="ripencc", handle=handle, name=handle, cidrs=(), start=start, end=end,
                   country="NL", org="", asn=None, as_name="",
                   entities=(RegistryEntity("AB", "", "", ("abuse",), ("abuse@example.net",)),),
                   source="rdap")


def test_cache_serves_every_address_in_range_most_specific_first(tmp_path: Path) -> None:
    cache = LookupCache(tmp_path / "c.sqlite", 1.0)
    cache.put_network(_net("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "BIG6"))
    cache.put_network(_net("2001:db8:1::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", "SMALL6"))
    cache.put_network(_net("198.51.100.0", "198.51.100.255", "V4"))
    got = cache.network_for("2001:db8:1::99")
    assert got is not None and got.handle == "SMALL6" and got.entities[0].emails == ("abuse@example.net",)
    assert cache.network_for("2001:db8:2::1").handle == "BIG6"  # type: ignore[union-attr]
    assert cache.network_for("198.51.100.7").handle == "V4"  # type: ignore[union-attr]
    assert cache.network_for("198.51.101.7") is None
    cache.close()


def test_cache_entries_expire(tmp_path: Path) -> None:
    cache = LookupCache(tmp_path / "c.sqlite", -1.0)  # nothing is kept
    cache.put_network(_net("198.51.100.0", "198.51.100.255", "V4"))
    cache.put("k", {"a": 1})
    assert cache.network_for("198.51.100.1") is None and cache.get("k") is None
    cache.close()


def test_unusable_cache_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"gather\.cache_path"):
        LookupCache(tmp_path / "file" / "c.sqlite", 1.0)


def test_abusix_query_names() -> None:
    assert query_name("192.0.2.1", "abuse-contacts.abusix.zone") == "1.2.0.192.abuse-contacts.abusix.zone"
    name = query_name("2001:db8::1", "z.test")
    assert name.endswith(".8.b.d.0.1.0.0.2.z.test") and name.startswith("1.0.0.0.")
    assert len(name.split(".")) == 32 + 2


def test_probe_refuses_own_and_non_global_networks() -> None:
    cfg = from_dict({"scan": {"own_networks": ["203.0.113.0/24"]}})
    assert "own network" in probe_refusal("203.0.113.9", cfg)
    assert "not a global address" in probe_refusal("127.0.0.1", cfg)
    assert probe_refusal("8.8.8.8", cfg) == ""


def test_probe_connects_and_reads_a_banner() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(b"SSH-2.0-Test\r\n\x1b[31m")
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    probe_cfg = {"allow_non_global": True, "ports": [port, closed_port], "timeout": 1.0}
    cfg: Config = from_dict({"probe": probe_cfg})
    assert probe_refusal("127.0.0.1", cfg) == ""
    results = probe("127.0.0.1", replace(cfg))
    thread.join()
    server.close()
    assert results[0].open and results[0].banner.startswith("SSH-2.0-Test")
    assert "\x1b" not in results[0].banner
    assert not results[1].open


def test_negative_retries_or_backoff_are_config_errors() -> None:
    for bad in ({"retries": -1}, {"backoff": -0.5}):
        with pytest.raises(ConfigError, match=r"gather\.retries and gather\.backoff"):
            from_dict({"gather": bad})


def test_cache_ttl_is_the_configured_one_when_reading(tmp_path: Path) -> None:
    """Lowering gather.cache_ttl_hours (or setting it to 0) takes effect for answers already stored."""
    path = tmp_path / "c.sqlite"
    cache = LookupCache(path, 24.0)
    cache.put_network(_net("198.51.100.0", "198.51.100.255", "V4"))
    cache.put("k", {"a": 1})
    cache.close()
    off = LookupCache(path, 0.0)
    assert off.network_for("198.51.100.1") is None and off.get("k") is None
    off.close()
    later = time.time() + 2 * 3600
    short = LookupCache(path, 1.0, clock=lambda: later)  # stored two hours ago: older than one hour
    assert short.network_for("198.51.100.1") is None and short.get("k") is None
    short.close()
    still = LookupCache(path, 24.0, clock=lambda: later)
    assert still.network_for("198.51.100.1") is not None and still.get("k") == {"a": 1}
    still.close()


def test_cache_of_an_older_layout_is_replaced(tmp_path: Path) -> None:
    import sqlite3
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE networks (version INTEGER, first TEXT, last TEXT, expires REAL, "
                     "data TEXT);"
                     "CREATE TABLE items (key TEXT PRIMARY KEY, expires REAL NOT NULL, data TEXT NOT NULL);"
                     "INSERT INTO items VALUES ('k', 9e99, '1');")
    db.close()
    cache = LookupCache(path, 24.0)
    assert cache.get("k") is None
    cache.put_network(_net("198.51.100.0", "198.51.100.255", "V4"))
    assert cache.network_for("198.51.100.1") is not None
    cache.close()
