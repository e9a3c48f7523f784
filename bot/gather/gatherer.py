"""The Gatherer: ip -> Findings, each failure a line in ``problems``.

Sources raise :class:`bot.errors.LookupFailed`; the Gatherer decides: retry (registries, with
backoff), fall back (whois), or note the problem and go on. A failing source never ends the
gather. Anything else a step raises is a bug or an answer nobody planned for: it is logged with its
traceback and the findings are marked incomplete (``Findings.incomplete``), so that nobody sends a
report on them without a person looking. The questions of one address that do not depend on each other
(reverse name, registry network, origin AS) are asked at once; answers that hold for a whole network or
domain are shared (bot.gather.shared). ``gather_many`` runs lookups of different IPs at once in a
bounded thread pool.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import dns.exception
import dns.name

from bot.config import Config
from bot.contacts import abuse_status
from bot.errors import InputError, LookupFailed
from bot.gather import bulk
from bot.gather import domain as domain_mod
from bot.gather.abusix import AbusixSource
from bot.gather.cache import LookupCache, default_path
from bot.gather.dns import DnsSource, Records, forward_type
from bot.gather.domainstep import DomainStep, block_of
from bot.gather.network import NetworkStep
from bot.gather.probe import probe as probe_ports
from bot.gather.probe import probe_refusal
from bot.gather.rdap import RdapSource
from bot.gather.shared import SharedAnswers
from bot.gather.trail import Trail
from bot.models import Findings, LookupResult, Network, ProbeResult
from bot.public_address import is_public

if TYPE_CHECKING:
    from bot.clients import Clients

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
T = TypeVar("T")


def parse_ip(text: str) -> str:
    """The normalised text form of an address; InputError when ``text`` is not one."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        raise InputError(f"not an IP address: {text.strip()[:80]!r}") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
        addr = ipaddress.IPv6Address(str(addr).split("%", 1)[0])  # a zone id names our interface: not data
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr)


class Gatherer:
    """Looks things up. Shared by threads; keeps no per-incident state between calls."""

    def __init__(self, cfg: Config, clients: Clients, *, cache: LookupCache | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        self.clients = clients
        self.dns = DnsSource(clients.resolver)
        self.abusix = AbusixSource(self.dns, cfg.gather.abusix_zone)
        self.cache = cache or LookupCache(cfg.gather.cache_path or default_path(), cfg.gather.cache_ttl_hours)
        self.net = NetworkStep(cfg, RdapSource(clients), self.cache, sleep)
        self.shared = SharedAnswers(self.cache)
        domain_mod.psl()  # the bundled Public Suffix List, parsed once per process (a few tenths of a second)
        self.domains = DomainStep(self.dns, self.shared, self.net, cfg.gather.domain_rdap, self._beside)
        # Questions of one address asked beside each other (registry and Abusix, origin AS; the domain's
        # registration and its zone's MX): at most three at a time for one lookup, and no side task waits
        # for another side task, so this pool cannot deadlock.
        self._side = ThreadPoolExecutor(max_workers=3 * cfg.gather.workers + 2,
                                        thread_name_prefix="gather-side")

    def close(self) -> None:
        """Close the cache's database connection and the side threads (the clients hold no connection)."""
        self._side.shutdown(wait=True, cancel_futures=True)
        self.cache.close()

    def __enter__(self) -> Gatherer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests(self) -> dict[str, int]:
        """Requests made so far, by registry (``iana`` for bootstrap files, ``domain`` for domain RDAP)."""
        return dict(self.net.requests)

    # -- public API ----------------------------------------------------------------------------

    def gather(self, ip: str, *, probe: bool | None = None, progress: Progress | None = None) -> Findings:
        """Everything we can learn about one address. Raises InputError for a non-address only."""
        return self._gather(parse_ip(ip), probe, Trail(emit=progress))

    def gather_many(self, ips: Iterable[str], *, probe: bool | None = None,
                    progress: Progress | None = None) -> Iterator[tuple[str, Findings]]:
        """(ip, findings) for each distinct address, in input order, looked up concurrently.

        The first address of each /24 (/48) first, then the others, whose shared answers and reverse
        names are then in hand (bot.gather.bulk): each network costs one registry query.
        """
        wanted = list(dict.fromkeys(parse_ip(ip) for ip in ips))
        if not wanted:
            return
        yield from bulk.gather_many(self, wanted, sorted(wanted, key=_sort_key), probe, progress)

    def lookup(self, target: str, *, probe: bool | None = None,
               progress: Progress | None = None) -> LookupResult:
        """``incident lookup``: an IP address, a host name or a domain name."""
        text = target.strip()
        try:
            ip = parse_ip(text)
        except InputError:
            pass
        else:
            return LookupResult(text, "ip", (ip,), self.gather(ip, probe=probe, progress=progress))
        name = text.rstrip(".").lower()
        registered = domain_mod.registered_domain(name)
        if (not registered or any(not (c.isalnum() or c in "-._") for c in name) or not _dns_name(name)
                or name.rsplit(".", 1)[-1].isdigit()):  # no TLD is numeric: a mistyped address
            raise InputError(f"not an IP address, host name or domain: {text[:80]!r}")
        kind = "domain" if name == registered else "host"
        trail = Trail(emit=progress)
        failures: list[str] = []
        try:
            addresses = self.dns.addresses(name, failures)
        except LookupFailed as exc:
            failures.append(str(exc))
            addresses = ()
        for failure in failures:
            trail.problem(f"Address lookup of {name}: {failure}")
        trail.line(f"Looking up addresses of {name}..." + (", ".join(addresses) if addresses else "none."))
        hint = (registered, name, f"the {kind} looked up")
        usable = [a for a in addresses if is_public(a)]
        if usable:
            findings = self._gather(usable[0], probe, trail, domain_hint=hint)
        else:
            dom = self._guard("Domain", trail,
                              lambda: self.domains.info(registered, name, False, hint[2], trail))
            findings = Findings("", None, False, None, dom, problems=tuple(trail.problems),
                                notes=tuple(trail.notes), progress=tuple(trail.lines),
                                incomplete=tuple(dict.fromkeys(trail.incomplete)))
        return LookupResult(text, kind, addresses, findings)

    # -- steps ---------------------------------------------------------------------------------

    def _gather(self, ip: str, probe: bool | None, trail: Trail,
                domain_hint: tuple[str, str, str] | None = None) -> Findings:
        if not is_public(ip):
            trail.problem(f"{ip} is not a global address: there is nobody to report it to")
            probes = self._probe(ip, probe, trail)  # refused unless probe.allow_non_global (tests)
            return Findings(ip, None, False, None, None, probes=probes, problems=tuple(trail.problems),
                            progress=tuple(trail.lines))
        # Independent questions at once: the registry's network (then Abusix, shared by that network)
        # and the origin AS on side threads when they must be asked, the reverse name here. Most
        # addresses of a bulk run find the first two in hand and ask only for their reverse name.
        rev_trail, origin_trail, net_trail = (Trail(shared=trail.shared) for _ in range(3))
        try:
            unknown = self.net.known(ip, net_trail) is None
        except Exception:  # the cache unreadable: the network step says what is wrong
            unknown = True
        # The registry's answer decides whether Abusix' answer is shared: when it has to be asked, Abusix
        # is asked beside it (the answer is then kept for that network).
        abusix_asked = (self._side.submit(self.abusix.contacts, ip) if unknown and self.cfg.gather.abusix
                        else None)
        network_part = self._beside(unknown, lambda: self._network(ip, net_trail, abusix_asked))
        origin = self._beside(not self.shared.known(origin_trail, f"origin:{block_of(ip)}"),
                              lambda: self._guard("Origin AS", origin_trail,
                                                  lambda: self._origin(ip, origin_trail)))
        reverse = self._guard("Reverse lookup", rev_trail, lambda: self._reverse(ip, rev_trail))
        rdns, verified = reverse or (None, False)
        network, abusix = network_part()
        asn, as_name = origin() or (None, "")
        trail.merge(rev_trail)
        trail.merge(net_trail)
        if network is not None:
            trail.merge(origin_trail)
            if asn is not None:
                network = replace(network, asn=asn, as_name=as_name or network.as_name)
        else:
            as_name = ""
        dom = self._guard("Domain", trail,
                          lambda: self.domains.pick(ip, rdns, verified, network, as_name, trail, domain_hint))
        probes = self._guard("Probe", trail, lambda: self._probe(ip, probe, trail)) or ()
        findings = Findings(ip, rdns, verified, network, dom, abusix, probes)
        notes = [abuse_status(findings), *trail.notes]
        if dom is not None and dom.guessed:
            notes.append(f"the domain {dom.name} is a guess: {dom.guess_reason}")
        return replace(findings, problems=tuple(trail.problems), notes=tuple(notes),
                       progress=tuple(trail.lines), incomplete=tuple(dict.fromkeys(trail.incomplete)))

    def _network(self, ip: str, trail: Trail,
                 abusix_asked: Future[Records] | None) -> tuple[Network | None, tuple[str, ...]]:
        network = self._guard("RDAP", trail, lambda: self.net.network(ip, trail))
        abusix: tuple[str, ...] = ()
        if self.cfg.gather.abusix:
            abusix = self._guard("Abusix", trail,
                                 lambda: self._abusix(ip, network, trail, abusix_asked)) or ()
        return network, abusix

    def _beside(self, needed: bool, call: Callable[[], T]) -> Callable[[], T]:
        """Start ``call`` on a side thread when it must ask someone (``needed``), else run it when its
        result is wanted; either way the returned function gives its result."""
        if not needed:
            return call
        future = self._side.submit(call)
        return future.result

    def _guard(self, name: str, trail: Trail, call: Callable[[], T]) -> T | None:
        """Run one step: an expected failure (LookupFailed) is a problem line; anything else is logged
        with its traceback and marks the findings incomplete."""
        try:
            return call()
        except LookupFailed as exc:
            trail.problem(f"{name}: {exc}")
        except Exception:
            log.exception("%s step failed", name)
            trail.problem(f"{name}: internal error (details in the log)")
            trail.incomplete.append(f"{name}: internal error (logged)")
        return None

    def _probe(self, ip: str, probe: bool | None, trail: Trail) -> tuple[ProbeResult, ...]:
        if not (probe if probe is not None else self.cfg.probe.enabled):
            return ()
        refusal = probe_refusal(ip, self.cfg)
        if refusal:
            trail.line(f"Probe: not done, {refusal}.")
            return ()
        probes = probe_ports(ip, self.cfg)
        for p in probes:
            state = "succeeded" + (f": {p.banner}" if p.banner else "") if p.open else "failed"
            trail.line(f"TCP CONNECT TO {ip}:{p.port} {state}")
        return probes

    def _reverse(self, ip: str, trail: Trail) -> tuple[str | None, bool]:
        memo = trail.shared.memo if trail.shared is not None else {}
        try:
            name = self.dns.ptr(ip, memo.get(f"ptr:{ip}"))
        except LookupFailed as exc:
            trail.line("Reverse lookup: failed")
            trail.problem(f"Reverse lookup: {exc}")
            return None, False
        if not name:
            trail.line("Reverse lookup: failed")
            return None, False
        asked = memo.get(f"fwd:{forward_type(ip)}:{name}")
        verified = bool(self._guard("Forward check", trail,
                                    lambda: self.dns.forward_confirms(name, ip, asked)))
        trail.line(f"Reverse lookup: {name}"
                   + (" (resolves back)" if verified else " (does not resolve back)"))
        return name, verified

    def _origin(self, ip: str, trail: Trail) -> tuple[int | None, str]:
        """(origin AS, its name) from Team Cymru, shared by the /24 (/48) holding ``ip``."""
        found = self.shared.get(trail, f"origin:{block_of(ip)}", lambda sub: self._ask_origin(ip, sub))
        asn, prefix = found if found else (None, "")
        if prefix and ipaddress.ip_address(ip) not in ipaddress.ip_network(prefix):
            # announced more specifically than a /24 (/48): not shared, ask about this address itself
            asn, prefix = self._ask_origin(ip, trail)[0]
        if asn is None:
            return None, ""
        as_name = self.shared.get(trail, f"asname:{asn}", lambda sub: self._ask_as_name(int(asn), sub))
        trail.line(f"Origin AS{asn}" + (f" ({as_name})" if as_name else ""))
        return int(asn), as_name or ""

    def _ask_origin(self, ip: str, sub: Trail) -> tuple[list[Any], float]:
        try:
            asn, prefix, ttl = self.dns.origin_asn(ip)
        except LookupFailed as exc:
            sub.problem(f"Origin AS: {exc}")
            return [None, ""], 0.0
        return [asn, prefix], ttl

    def _ask_as_name(self, asn: int, sub: Trail) -> tuple[str, float]:
        try:
            return self.dns.as_name(asn)
        except LookupFailed as exc:
            sub.problem(f"AS name: {exc}")
            return "", 0.0

    def _abusix(self, ip: str, network: Network | None, trail: Trail,
                asked: Future[Records] | None = None) -> tuple[str, ...]:
        """Abusix' contacts for ``ip``: shared by every address whose registry answer is the same network
        (Abusix' zone is built from the registries' own objects), asked per address otherwise."""
        if network is None or network.source != "rdap" or not (network.start and network.end):
            return (asked.result() if asked is not None else self.abusix.contacts(ip)).values
        key = f"abusix:{network.registry}:{network.start}-{network.end}:{network.handle}"
        return tuple(self.shared.get(trail, key, lambda sub: self._ask_abusix(ip, sub, asked)))

    def _ask_abusix(self, ip: str, sub: Trail, asked: Future[Records] | None) -> tuple[list[str], float]:
        try:
            found, ttl = asked.result() if asked is not None else self.abusix.contacts(ip)
        except LookupFailed as exc:
            sub.problem(f"Abusix: {exc}")
            return [], 0.0
        return list(found), ttl


def _dns_name(name: str) -> bool:
    """Whether DNS can hold the name (labels of 63 octets, 255 in all, IDNA-encodable)."""
    try:
        dns.name.from_text(name)
    except (dns.exception.DNSException, ValueError):
        return False
    return True


def _sort_key(ip: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(ip)
    return addr.version, int(addr)
