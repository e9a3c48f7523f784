"""Hostile servers cannot fill memory or hold a worker: an endless answer from each client (IP RDAP,
domain RDAP, a registrar's link, whois, IANA's bootstrap) is cut at its size cap, and one trickling a byte
at a time (always in time for a single read) is cut at the request's deadline.

Memory is measured with tracemalloc (every Python allocation, every thread) during the lookup: the stated
cap is MEMORY_CAP, for answers capped at 8 MB (HTTP) and 1 MB (whois). Without the caps, the sandbox's
endless answer runs at loopback speed for up to two minutes: gigabytes.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.clients import build_clients
from bot.config import Config
from bot.gather import Gatherer
from tests.gather.conftest import Sleeps, sandbox_config
from tests.sandbox import Sandbox

MEMORY_CAP = 48_000_000       # bytes allocated at the peak of one lookup against an endless answer
ENDLESS_SECONDS = 10.0        # an endless answer is cut by size long before this
RIPE_IP = "62.239.237.1"
RIPE_URL = "rdap.db.ripe.net/ip/62.239.237.1"


def measured(call: Callable[[], Any]) -> tuple[Any, int, float]:
    """(result, peak bytes allocated during the call, seconds it took)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.monotonic()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1], time.monotonic() - started
    finally:
        tracemalloc.stop()


@pytest.fixture
def fresh(sandbox: Sandbox, tmp_path: Path) -> Iterator[Callable[..., Gatherer]]:
    made: list[Gatherer] = []

    def make(**gather: Any) -> Gatherer:
        cfg: Config = sandbox_config(sandbox, tmp_path, **gather)
        g = Gatherer(cfg, build_clients(cfg), sleep=Sleeps())
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


def test_an_endless_ip_rdap_answer_is_cut_at_the_cap(fresh: Callable[..., Gatherer],
                                                     sandbox: Sandbox) -> None:
    g = fresh(retries=0, whois_fallback=False)
    sandbox.http.fail(RIPE_URL, "endless", times=None)
    f, peak, seconds = measured(lambda: g.gather(RIPE_IP))
    assert any("too large" in p for p in f.problems), f.problems
    assert peak < MEMORY_CAP and seconds < ENDLESS_SECONDS, (peak, seconds)
    assert f.incomplete == ()


def test_an_endless_domain_rdap_answer_is_cut_at_the_cap(fresh: Callable[..., Gatherer],
                                                         sandbox: Sandbox) -> None:
    g = fresh()
    sandbox.http.fail("rdap.verisign.com/com/v1/domain/google.com", "endless", times=None)
    result, peak, seconds = measured(lambda: g.lookup("google.com"))
    problems = result.findings.problems
    assert any(p.startswith("Domain RDAP:") and "too large" in p for p in problems), problems
    assert peak < MEMORY_CAP and seconds < ENDLESS_SECONDS, (peak, seconds)


def test_an_endless_registrar_link_is_cut_and_the_registry_answer_kept(fresh: Callable[..., Gatherer],
                                                                       sandbox: Sandbox) -> None:
    g = fresh()
    sandbox.http.fail("rdap.markmonitor.com", "endless", times=None)
    result, peak, seconds = measured(lambda: g.lookup("google.com"))
    assert peak < MEMORY_CAP and seconds < ENDLESS_SECONDS, (peak, seconds)
    dom = result.findings.domain
    assert dom is not None and dom.registrar == "MarkMonitor Inc."   # from Verisign's own answer
    assert ("rdap.markmonitor.com", "/rdap/domain/GOOGLE.COM") in sandbox.http.requests


def test_an_endless_whois_answer_is_cut_at_its_cap(fresh: Callable[..., Gatherer], sandbox: Sandbox) -> None:
    g = fresh(retries=0)
    sandbox.http.fail(RIPE_URL, "500", times=None)
    sandbox.whois.fail(RIPE_IP, "endless", times=None)
    f, peak, seconds = measured(lambda: g.gather(RIPE_IP))
    assert any(p.startswith("WHOIS:") and "too large" in p for p in f.problems), f.problems
    assert peak < MEMORY_CAP and seconds < ENDLESS_SECONDS, (peak, seconds)


def test_an_endless_iana_bootstrap_is_cut_and_arin_asked_instead(fresh: Callable[..., Gatherer],
                                                                 sandbox: Sandbox) -> None:
    g = fresh()
    sandbox.http.fail("data.iana.org/rdap/ipv4.json", "endless", times=None)
    f, peak, seconds = measured(lambda: g.gather("74.125.225.229"))
    assert peak < MEMORY_CAP and seconds < ENDLESS_SECONDS, (peak, seconds)
    assert any("IANA bootstrap" in line and "too large" in line for line in f.progress), f.progress
    assert f.network is not None and f.network.handle == "NET-74-125-0-0-1"    # through ARIN's redirect
    assert ("rdap-bootstrap.arin.net", "/bootstrap/ip/74.125.225.229") in sandbox.http.requests


@pytest.mark.parametrize("where", ["rdap", "whois", "domain"])
def test_a_trickling_server_is_cut_at_the_deadline(fresh: Callable[..., Gatherer], sandbox: Sandbox,
                                                   where: str) -> None:
    """One byte every 0.2 s: every single read is in time (timeout 0.5 s), the request never ends by
    itself; gather.deadline (1 s) ends it."""
    g = fresh(retries=0, timeout=0.5, deadline=1.0, whois_fallback=where == "whois")
    if where == "rdap":
        sandbox.http.fail(RIPE_URL, "trickle", times=None)
        call: Callable[[], Any] = lambda: g.gather(RIPE_IP).problems  # noqa: E731
        expected = "RDAP:"
    elif where == "whois":
        sandbox.http.fail(RIPE_URL, "500", times=None)
        sandbox.whois.fail(RIPE_IP, "trickle", times=None)
        call = lambda: g.gather(RIPE_IP).problems  # noqa: E731
        expected = "WHOIS:"
    else:
        sandbox.http.fail("rdap.verisign.com/com/v1/domain/google.com", "trickle", times=None)
        call = lambda: g.lookup("google.com").findings.problems  # noqa: E731
        expected = "Domain RDAP:"
    problems, _, seconds = measured(call)
    assert any(p.startswith(expected) and "in time" in p for p in problems), problems
    assert seconds < 1.0 + 1.5, seconds        # the deadline, plus the rest of the lookup
