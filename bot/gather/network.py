"""The network step of a gather: cache, single-flight, registry gates, retries, whois fallback.

Shared by the threads of one Gatherer. Holds only shared, non-incident data: the IANA bootstrap
files (bot.gather.bootstrap), the gates, the in-flight table and request counters. What one lookup
learns (progress lines, problems, registries found down) lives in the :class:`Trail` object passed in.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from bot import registries
from bot.config import Config
from bot.errors import LookupFailed, RateLimited
from bot.gather import rdapwalk
from bot.gather.bootstrap import Bootstraps
from bot.gather.cache import LookupCache, servable
from bot.gather.limits import Gates, backoff
from bot.gather.rdap import RdapSource
from bot.gather.trail import Trail
from bot.gather.whois import parse_whois, query_whois
from bot.models import Network

log = logging.getLogger(__name__)
_INFLIGHT_WAIT = 60.0


@functools.lru_cache(maxsize=4096)
def _block(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    return f"{int(addr) >> (8 if addr.version == 4 else 80):x}/{addr.version}"


@functools.lru_cache(maxsize=4096)
def _neighbourhood(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


class NetworkStep:
    def __init__(self, cfg: Config, rdap: RdapSource, cache: LookupCache,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        self.rdap = rdap
        self.cache = cache
        self.gates = Gates(cfg.gather.registries, sleep)
        self.sleep = sleep
        self._lock = threading.Lock()
        self.bootstraps = Bootstraps(rdap.fetch_plain_json, cache, cfg.gather.bootstrap_max_age_hours,
                                     count=lambda: self.count("iana"))
        self._inflight: dict[str, threading.Event] = {}
        self.requests: dict[str, int] = {}

    def count(self, registry: str, n: int = 1) -> None:
        with self._lock:
            self.requests[registry] = self.requests.get(registry, 0) + n

    def base_url(self, ip: str, trail: Trail) -> str | None:
        """IANA bootstrap's RDAP base for ``ip`` (None: ask ARIN's bootstrap redirect service)."""
        try:
            return self.bootstraps.ip_base(ip, trail)
        except LookupFailed as exc:
            trail.line(f"IANA bootstrap: {exc}; asking ARIN's bootstrap service instead")
            return None

    def _bootstrap(self, ip: str, trail: Trail) -> dict[str, Any] | None:
        try:
            return self.bootstraps.get(f"ipv{ipaddress.ip_address(ip).version}", trail)
        except LookupFailed as exc:
            trail.line(f"IANA bootstrap: {exc}; asking ARIN's bootstrap service instead")
            return None

    def known(self, ip: str, trail: Trail) -> Network | None:
        """A registry answer in hand that holds ``ip``: this run's (by /24 or /48), else the cache's."""
        shared = trail.shared
        key = f"net:{_block(ip)}"
        if shared is not None:
            found = shared.memo.get(key)
            if isinstance(found, Network) and rdapwalk.contains(found, ip):
                return found
        found = self.cache.network_for(ip)
        if found is not None and shared is not None:
            shared.memo[key] = found
        return found

    def network(self, ip: str, trail: Trail) -> Network | None:
        """The network holding ``ip``: cached, else RDAP with retries, else port-43 whois."""
        cached = self.known(ip, trail)
        if cached is not None:
            trail.line(f"RDAP {ip}...cached answer from {rdapwalk.registry_name(cached.registry)}"
                       "...succeeded.")
            return cached
        key = _neighbourhood(ip)
        while True:  # one lookup at a time per neighbourhood: the first answer often covers the rest
            with self._lock:
                event = self._inflight.get(key)
                if event is None:
                    mine = self._inflight[key] = threading.Event()
                    break
            event.wait(_INFLIGHT_WAIT)
            cached = self.cache.network_for(ip)
            if cached is not None:
                trail.line(f"RDAP {ip}...cached answer from {rdapwalk.registry_name(cached.registry)}"
                         "...succeeded.")
                return cached
        try:
            return self._lookup(ip, trail)
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            mine.set()

    def _lookup(self, ip: str, trail: Trail) -> Network | None:
        base = self.base_url(ip, trail)
        registry = (rdapwalk.registry_from_url(base) if base else "arin") or "unknown"
        net, problem, definite = self._rdap_with_retries(ip, base, registry, trail)
        if net is None and definite and base:
            # Transferred space: the registry IANA names has no record; the RIRs redirect each other
            # for such blocks, so ask the other RIRs (only after a definite "no record").
            for other in self._other_rirs(ip, base, trail):
                other_reg = rdapwalk.registry_from_url(other)
                trail.line(f"RDAP {ip}...{problem}; trying {rdapwalk.registry_name(other_reg)}...")
                net, _, _ = self._rdap_with_retries(ip, other, other_reg, trail)
                if net is not None:
                    break
        if net is None and problem:
            trail.problem(f"RDAP: {problem}")
        if net is not None:
            self.cache.put_network(net)
            if trail.shared is not None and servable(net):
                trail.shared.memo[f"net:{_block(ip)}"] = net
        elif self.cfg.gather.whois_fallback:
            # not cached: a fallback answer must not stand in for RDAP once the registry is back
            net = self._whois(ip, registry, trail)
        return net

    def _other_rirs(self, ip: str, tried: str, trail: Trail) -> list[str]:
        data = self._bootstrap(ip, trail) or {}
        bases: dict[str, str] = {}
        for service in data.get("services", []):
            if isinstance(service, list) and len(service) == 2 and isinstance(service[1], list):
                for url in service[1]:
                    reg = rdapwalk.registry_from_url(url) if isinstance(url, str) else ""
                    if reg and url.startswith("https://") and url != tried:
                        bases.setdefault(reg, url)
        mine = rdapwalk.registry_from_url(tried)
        return [bases[reg] for reg in registries.TRANSFER_ORDER if reg in bases and reg != mine]

    def _rdap_with_retries(self, ip: str, base: str | None, registry: str,
                           trail: Trail) -> tuple[Network | None, str, bool]:
        """(network, problem text, whether the failure was definite) for one registry."""
        name = rdapwalk.registry_name(registry)
        shared = trail.shared
        if shared is not None:
            with shared.lock:
                down = shared.down.get(registry)
            if down:
                trail.line(f"RDAP {ip}...skipped: {name} stayed unavailable earlier in this run.")
                return None, f"{name} stayed unavailable earlier in this run ({down}); not asked again", False
        gate = self.gates.get(registry)
        attempts = 1 + max(0, self.cfg.gather.retries)
        last: LookupFailed | None = None

        def slot(url: str) -> AbstractContextManager[None]:
            """Each request waits for its registry's turn (entity fetches included)."""
            return self.gates.get(rdapwalk.registry_from_url(url) or registry).slot()

        for attempt in range(1, attempts + 1):
            try:
                net, made = self.rdap.network(ip, base, slot)
                self.count(registry, made)
            except LookupFailed as exc:
                self.count(registry)
                last = exc
                if not exc.temporary or attempt == attempts:
                    break
                retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
                pause = backoff(attempt, self.cfg.gather.backoff, retry_after)
                if isinstance(exc, RateLimited):
                    gate.pause(pause)
                trail.line(f"RDAP {ip}...{exc}; retrying in {pause:g} s...")
                self.sleep(pause)
                continue
            nir = net.registry not in (*registries.RIRS, "unknown")
            rir = "apnic" if nir else net.registry
            hops = ""
            if base is None and rir != "arin":
                hops = f"ARIN redirect to {rdapwalk.registry_name(rir)}..."
            if nir:
                hops += f"APNIC delegates to {rdapwalk.registry_name(net.registry)}..."
            trail.line(f"RDAP {ip}...{hops}succeeded.")
            return net, "", False
        assert last is not None
        trail.line(f"RDAP {ip}...failed.")
        if not last.temporary:
            return None, str(last), True
        if shared is not None:
            with shared.lock:
                shared.down.setdefault(registry, str(last))
        plural = "s" if attempts > 1 else ""
        return None, f"{name} stayed unavailable after {attempts} attempt{plural} ({last})", False

    def _whois(self, ip: str, registry: str, trail: Trail) -> Network | None:
        whois_registry = registry if registry in registries.RIRS else "arin"
        try:
            with self.gates.get(whois_registry).slot():
                text = query_whois(self.rdap.clients, ip, whois_registry)
            self.count(f"whois-{whois_registry}")
            net = parse_whois(text, whois_registry, ip)
        except LookupFailed as exc:
            trail.line(f"WHOIS {ip}...failed.")
            trail.problem(f"WHOIS: {exc}")
            return None
        trail.line(f"WHOIS {ip}...succeeded.")
        return net
