"""Fit for a long-running process: IANA's bootstrap refreshed when stale (and kept when the refresh fails),
an unexpected error marks the findings incomplete (with its traceback in the log), every request is one
log line at INFO, and a DNS question never outlives the resolver's lifetime."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from bot.clients import build_clients
from bot.errors import LookupFailed
from bot.gather import Gatherer
from bot.gather.bootstrap import RETRY_AFTER, Bootstraps
from bot.gather.cache import LookupCache
from bot.gather.trail import Trail
from tests.gather.conftest import Sleeps, sandbox_config
from tests.sandbox import Sandbox

IPV4 = ("data.iana.org", "/rdap/ipv4.json")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()     # the cache stores real times: the copies it keeps age with this clock

    def __call__(self) -> float:
        return self.now


def _bootstraps(sandbox: Sandbox, tmp_path: Path, clock: Clock, ttl_hours: float = 24.0) -> Bootstraps:
    cfg = sandbox_config(sandbox, tmp_path)
    g = Gatherer(cfg, build_clients(cfg), sleep=Sleeps())
    g.close()
    cache = LookupCache(tmp_path / "boot.sqlite", ttl_hours)
    return Bootstraps(g.net.rdap.fetch_plain_json, cache, max_age_hours=1.0, clock=clock)


def test_the_bootstrap_is_fetched_again_when_stale_not_kept_for_the_process_life(
        sandbox: Sandbox, tmp_path: Path) -> None:
    clock = Clock()
    boots = _bootstraps(sandbox, tmp_path, clock)
    assert boots.ip_base("74.125.225.229", Trail()) == "https://rdap.arin.net/registry/"
    clock.now += 1800                                     # half an hour: fresh
    boots.ip_base("74.125.225.229", Trail())
    assert sandbox.http.requests.count(IPV4) == 1
    clock.now += 1800 + 1                                 # older than max_age (1 h): fetched again
    boots.ip_base("74.125.225.229", Trail())
    assert sandbox.http.requests.count(IPV4) == 2


def test_a_failed_refresh_keeps_the_copy_in_hand_and_says_so(sandbox: Sandbox, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    boots = _bootstraps(sandbox, tmp_path, clock)
    boots.get("ipv4", Trail())
    sandbox.http.fail("data.iana.org/rdap/ipv4.json", "503", times=None)
    clock.now += 2 * 3600
    trail = Trail()
    with caplog.at_level(logging.WARNING, logger="bot.gather.bootstrap"):
        assert boots.ip_base("74.125.225.229", trail) == "https://rdap.arin.net/registry/"
    assert any("could not be refreshed" in r.getMessage() and "keeping the copy" in r.getMessage()
               for r in caplog.records), caplog.records
    assert any("refresh failed" in line and "using the copy fetched" in line for line in trail.lines)
    asked = sandbox.http.requests.count(IPV4)
    clock.now += RETRY_AFTER / 2                          # IANA down: not asked on every lookup
    boots.ip_base("74.125.225.229", Trail())
    assert sandbox.http.requests.count(IPV4) == asked
    clock.now += RETRY_AFTER
    sandbox.http.clear_faults()
    boots.ip_base("74.125.225.229", Trail())
    assert sandbox.http.requests.count(IPV4) == asked + 1


def test_without_any_copy_a_failed_bootstrap_is_the_callers_failure(sandbox: Sandbox, tmp_path: Path) -> None:
    boots = _bootstraps(sandbox, tmp_path, Clock())
    sandbox.http.fail("data.iana.org/rdap/dns.json", "500", times=None)
    with pytest.raises(LookupFailed):
        boots.tld_base("example.com", Trail())


def test_the_cached_bootstrap_carries_its_age_across_processes(sandbox: Sandbox, tmp_path: Path) -> None:
    clock = Clock()
    _bootstraps(sandbox, tmp_path, clock).get("ipv4", Trail())
    clock.now += 2 * 3600                                  # a later process, the cached copy stale
    _bootstraps(sandbox, tmp_path, clock).get("ipv4", Trail())
    assert sandbox.http.requests.count(IPV4) == 2


def test_an_unexpected_error_marks_the_findings_incomplete_with_the_traceback_logged(
        gatherer: Gatherer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> None:
        raise KeyError("a registry answer nobody planned for")

    monkeypatch.setattr(gatherer.net, "network", broken)
    with caplog.at_level(logging.ERROR, logger="bot.gather"):
        f = gatherer.gather("130.59.31.80")
    assert f.incomplete == ("RDAP: internal error (logged)",)
    assert f.rdns == "www.switch.ch"                       # the other steps still ran
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info is not None and "RDAP" in errors[0].getMessage()


def test_expected_failures_are_problems_not_incompleteness(gatherer: Gatherer, sandbox: Sandbox) -> None:
    sandbox.dns.fail("31.59.130.in-addr.arpa", "servfail", times=None)
    sandbox.http.fail("rdap.db.ripe.net", "503", times=None)
    f = gatherer.gather("130.59.31.80")
    assert f.problems and f.incomplete == ()


def test_a_bug_in_one_bulk_lookup_costs_that_address_only(gatherer: Gatherer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    original = gatherer._gather

    def flaky(ip: str, *args: object, **kwargs: object) -> object:
        if ip == "130.59.31.80":
            raise RuntimeError("bug")
        return original(ip, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gatherer, "_gather", flaky)
    found = dict(gatherer.gather_many(["130.59.31.80", "74.125.225.229"]))
    assert found["130.59.31.80"].incomplete and found["74.125.225.229"].network is not None
    assert found["74.125.225.229"].incomplete == ()


def test_verbose_logging_shows_each_request_whom_it_asked_and_how_long(
        gatherer: Gatherer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.gather"):
        gatherer.gather("62.239.237.1")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("bot.gather")]
    rdap = [line for line in lines if line.startswith("GET https://rdap.db.ripe.net/ip/62.239.237.1")]
    assert rdap and "(RIPE NCC, IP network): 200" in rdap[0] and rdap[0].endswith(" ms"), rdap
    assert any(line.startswith("GET https://data.iana.org/rdap/ipv4.json (IANA bootstrap)") for line in lines)
    dns = [line for line in lines if line.startswith("DNS PTR 1.237.239.62.in-addr.arpa @127.0.0.1: ")]
    assert dns and dns[0].endswith(" ms"), lines


def test_the_command_line_shows_them_with_v(sandbox: Sandbox, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from handlers.cli.main import main
    from tests.sandbox.core import to_toml

    config = tmp_path / "incident.toml"
    config.write_text(to_toml(sandbox.config_dict(tmp_path)), encoding="utf-8")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        root.handlers = []          # basicConfig in main() adds its own stderr handler
        assert main(["--config", str(config), "-v", "lookup", "130.59.31.80"]) == 0
    finally:
        for handler in root.handlers:
            root.removeHandler(handler)
        root.handlers, root.level = handlers, level
    err = capsys.readouterr().err
    assert ("INFO bot.gather.fetch: GET https://rdap.db.ripe.net/ip/130.59.31.80 (RIPE NCC, IP network): 200"
            in err), err
    assert "INFO bot.gather.dns: DNS PTR 80.31.59.130.in-addr.arpa @127.0.0.1:" in err


def test_a_dns_question_ends_within_the_resolver_lifetime(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = sandbox_config(sandbox, tmp_path, timeout=0.3)
    g = Gatherer(cfg, build_clients(cfg), sleep=Sleeps())
    sandbox.dns.fail("31.59.130.in-addr.arpa", "timeout", times=None)
    started = time.monotonic()
    with pytest.raises(LookupFailed, match="timed out"):
        g.dns.query("80.31.59.130.in-addr.arpa", "PTR")
    g.close()
    assert time.monotonic() - started < 0.3 + 0.7      # the lifetime, and a loaded machine's slack
