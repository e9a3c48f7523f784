"""Many addresses at once (``Gatherer.gather_many``): few questions, most of them asked together.

The addresses are sorted and grouped by the /24 (IPv4) or /48 (IPv6) holding them. In a first phase
the first address of each group (its "leader") is looked up by the worker pool, leaders split into
contiguous runs (so the /24s of one larger network follow each other and the second finds the first's
answer in the cache), while one more thread asks the reverse names of all the other addresses and the
forward confirmation of those names, many questions in flight at once (DnsSource.query_many). In the
second phase the other addresses are looked up: their network, origin AS, Abusix and domain answers are
in hand (bot.gather.shared), and so are their reverse names, so most of them ask nothing.

Results come back in input order; a consumer that stops early stops the workers after their current
lookup. A bug in one lookup costs that address (its findings marked incomplete), not the run.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from bot.gather.dns import Records, forward_type, plain_host, reverse_name
from bot.gather.trail import BatchMemo, Trail
from bot.models import Findings
from bot.public_address import is_public

if TYPE_CHECKING:
    from bot.gather.gatherer import Gatherer

log = logging.getLogger(__name__)
IN_FLIGHT = 128   # DNS questions outstanding at once while asking reverse names in bulk


def group_key(ip: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(ip)
    return addr.version, int(addr) >> (8 if addr.version == 4 else 80)


def plan(ordered: list[str]) -> tuple[list[str], list[str]]:
    """(leaders: the first address of each /24 or /48, the others), both in the order given."""
    leaders: list[str] = []
    others: list[str] = []
    last: tuple[int, int] | None = None
    for ip in ordered:
        key = group_key(ip)
        (leaders if key != last else others).append(ip)
        last = key
    return leaders, others


def runs(items: list[str], count: int) -> list[list[str]]:
    """``items`` cut into at most ``count`` contiguous runs of (nearly) equal length."""
    if not items:
        return []
    size = -(-len(items) // max(1, count))
    return [items[i:i + size] for i in range(0, len(items), size)]


def ask_reverse_names(g: Gatherer, ips: list[str], shared: BatchMemo) -> None:
    """Each address's PTR, then the forward confirmation of each plain host name found, asked many at
    once; the answers (or failures) go into the run's memo for ``Gatherer._reverse``."""
    public = [ip for ip in ips if is_public(ip)]
    if not public:
        return
    ptrs = g.dns.query_many([(reverse_name(ip), "PTR") for ip in public], IN_FLIGHT)
    forward: dict[tuple[str, str], None] = {}
    found_ptrs: dict[str, object] = {}
    for ip, found in zip(public, ptrs, strict=True):
        found_ptrs[f"ptr:{ip}"] = found
        name = found.values[0].rstrip(".").lower() if isinstance(found, Records) and found.values else ""
        if name and plain_host(name):
            forward[(name, forward_type(ip))] = None
    questions = list(forward)
    confirmations = g.dns.query_many(questions, IN_FLIGHT)
    with shared.lock:
        shared.memo.update(found_ptrs)
        for (name, rdtype), found in zip(questions, confirmations, strict=True):
            shared.memo[f"fwd:{rdtype}:{name}"] = found


def gather_many(g: Gatherer, wanted: list[str], ordered: list[str], probe: bool | None,
                progress: Callable[[str], None] | None) -> Iterator[tuple[str, Findings]]:
    shared = BatchMemo()
    leaders, others = plan(ordered)
    workers = max(1, min(g.cfg.gather.workers, len(ordered)))
    emit_lock = threading.Lock()
    results: dict[str, Findings] = {}
    ready = threading.Condition()
    stop = threading.Event()  # the consumer went away (Ctrl-C, an error): no more lookups

    def emit(line: str) -> None:
        if progress is not None:
            with emit_lock:
                progress(line)

    def work(chunk: list[str]) -> None:
        for ip in chunk:
            if stop.is_set():
                return
            try:
                found = g._gather(ip, probe, Trail(emit=emit, prefix=f"{ip}: ", shared=shared))
            except Exception:  # a bug must not lose the other results
                log.exception("gather of %s failed", ip)
                found = Findings(ip, None, False, None, None, problems=("internal error (logged)",),
                                 incomplete=("gather: internal error (logged)",))
            with ready:
                results[ip] = found
                ready.notify_all()

    def second_phase(first: list[Future[None]], asking: Future[None] | None) -> None:
        for future in first:
            future.result()
        log.info("bulk: %d first addresses of their /24 (/48) looked up in %.2f s", len(leaders),
                 time.monotonic() - started)
        if asking is not None:
            try:
                asking.result()
            except Exception:  # then each address asks for its own reverse name
                log.exception("asking the reverse names in bulk failed")
            log.info("bulk: the reverse names of the %d others asked by %.2f s", len(others),
                     time.monotonic() - started)
        for future in [pool.submit(work, chunk) for chunk in runs(others, workers)]:
            future.result()
        log.info("bulk: %d addresses looked up in %.2f s", len(ordered), time.monotonic() - started)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers + 2, thread_name_prefix="gather") as pool:
        first = [pool.submit(work, chunk) for chunk in runs(leaders, workers)]
        asking = pool.submit(ask_reverse_names, g, others, shared) if others else None
        driver = pool.submit(second_phase, first, asking)
        try:
            for ip in wanted:
                with ready:
                    while ip not in results:
                        ready.wait(0.5)
                        if driver.done() and ip not in results:
                            driver.result()  # a failure of the run itself (not of one lookup) shows here
                            raise RuntimeError(f"the lookups ended without a result for {ip}")
                    found = results.pop(ip)
                yield ip, found
        finally:
            stop.set()  # leaving early: each worker ends after the lookup it is in
