"""The Gatherer: ip -> Findings, one source after another, each failure a line in ``problems``.

Sources raise :class:`bot.errors.LookupFailed`; the Gatherer decides: retry (registries, with
backoff), fall back (whois), or note the problem and go on. A failing source never ends the
gather. ``gather_many`` runs lookups of different IPs at once in a bounded thread pool.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from typing import Any, TypeVar

import dns.exception
import dns.name

from bot.clients import Clients
from bot.config import Config
from bot.contacts import abuse_status
from bot.errors import InputError, LookupFailed
from bot.gather import domain as domain_mod
from bot.gather.abusix import AbusixSource
from bot.gather.cache import LookupCache, default_path
from bot.gather.dns import DnsSource
from bot.gather.network import NetworkStep
from bot.gather.probe import probe as probe_ports
from bot.gather.probe import probe_refusal
from bot.gather.rdap import RdapSource
from bot.gather.trail import BatchMemo, Trail
from bot.models import DomainInfo, Findings, LookupResult, Network, ProbeResult, RegistryEntity
from bot.public_address import is_public

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

    def close(self) -> None:
        """Close the cache's database connection (the clients hold no open connection)."""
        self.cache.close()

    def __enter__(self) -> Gatherer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests(self) -> dict[str, int]:
        """Requests made so far, by registry (``iana`` for bootstrap files, ``domain`` for whoisit)."""
        return dict(self.net.requests)

    # -- public API ----------------------------------------------------------------------------

    def gather(self, ip: str, *, probe: bool | None = None, progress: Progress | None = None) -> Findings:
        """Everything we can learn about one address. Raises InputError for a non-address only."""
        return self._gather(parse_ip(ip), probe, Trail(emit=progress))

    def gather_many(self, ips: Iterable[str], *, probe: bool | None = None,
                    progress: Progress | None = None) -> Iterator[tuple[str, Findings]]:
        """(ip, findings) for each distinct address, in input order, looked up concurrently.

        Addresses are sorted and split into contiguous runs, one per worker, so that the addresses
        of one network are looked up one after the other: the first RDAP answer serves the rest
        from the cache and each network costs one registry query.
        """
        wanted = list(dict.fromkeys(parse_ip(ip) for ip in ips))
        if not wanted:
            return
        ordered = sorted(wanted, key=_sort_key)
        workers = max(1, min(self.cfg.gather.workers, len(ordered)))
        size = -(-len(ordered) // workers)
        chunks = [ordered[i:i + size] for i in range(0, len(ordered), size)]
        shared = BatchMemo()
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
                    found = self._gather(ip, probe, Trail(emit=emit, prefix=f"{ip}: ", shared=shared))
                except Exception:  # a bug must not lose the other results
                    log.exception("gather of %s failed", ip)
                    found = Findings(ip, None, False, None, None, problems=("internal error (logged)",))
                with ready:
                    results[ip] = found
                    ready.notify_all()

        with ThreadPoolExecutor(max_workers=len(chunks), thread_name_prefix="gather") as pool:
            futures = [pool.submit(work, c) for c in chunks]
            try:
                for ip in wanted:
                    with ready:
                        while ip not in results:
                            ready.wait(0.5)
                            if all(f.done() for f in futures) and ip not in results:  # pragma: no cover
                                raise RuntimeError(f"worker ended without a result for {ip}")
                        found = results.pop(ip)
                    yield ip, found
            finally:
                stop.set()  # leaving early: each worker ends after the lookup it is in

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
            dom = self._domain(registered, name, False, hint[2], None, trail)
            findings = Findings("", None, False, None, dom, problems=tuple(trail.problems),
                                notes=tuple(trail.notes), progress=tuple(trail.lines))
        return LookupResult(text, kind, addresses, findings)

    # -- steps ---------------------------------------------------------------------------------

    def _gather(self, ip: str, probe: bool | None, trail: Trail,
                domain_hint: tuple[str, str, str] | None = None) -> Findings:
        if not is_public(ip):
            trail.problem(f"{ip} is not a global address: there is nobody to report it to")
            probes = self._probe(ip, probe, trail)  # refused unless probe.allow_non_global (tests)
            return Findings(ip, None, False, None, None, probes=probes, problems=tuple(trail.problems),
                            progress=tuple(trail.lines))
        rdns, verified = self._reverse(ip, trail)
        network = self._step("RDAP", trail, lambda: self.net.network(ip, trail))
        as_name = ""
        if network is not None:
            network, as_name = self._origin(ip, network, trail)
        abusix: tuple[str, ...] = ()
        if self.cfg.gather.abusix:
            abusix = self._step("Abusix", trail, lambda: self.abusix.contacts(ip)) or ()
        dom = self._pick_domain(rdns, network, as_name, trail, domain_hint, verified, ip)
        probes = self._probe(ip, probe, trail)
        findings = Findings(ip, rdns, verified, network, dom, abusix, probes)
        notes = [abuse_status(findings), *trail.notes]
        if dom is not None and dom.guessed:
            notes.append(f"the domain {dom.name} is a guess: {dom.guess_reason}")
        return replace(findings, problems=tuple(trail.problems), notes=tuple(notes),
                       progress=tuple(trail.lines))

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

    def _step(self, name: str, trail: Trail, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except LookupFailed as exc:
            trail.problem(f"{name}: {exc}")
        except Exception:
            log.exception("%s step failed", name)
            trail.problem(f"{name}: internal error (details in the log)")
        return None

    def _reverse(self, ip: str, trail: Trail) -> tuple[str | None, bool]:
        try:
            name = self.dns.ptr(ip)
        except LookupFailed as exc:
            trail.line("Reverse lookup: failed")
            trail.problem(f"Reverse lookup: {exc}")
            return None, False
        if not name:
            trail.line("Reverse lookup: failed")
            return None, False
        verified = bool(self._step("Forward check", trail, lambda: self.dns.forward_confirms(name, ip)))
        trail.line(f"Reverse lookup: {name}"
                   + (" (resolves back)" if verified else " (does not resolve back)"))
        return name, verified

    def _origin(self, ip: str, network: Network, trail: Trail) -> tuple[Network, str]:
        asn = self._known_origin(ip, trail)
        if asn is None:
            found = self._step("Origin AS", trail, lambda: self.dns.origin_asn(ip))
            asn, prefix = found if found else (None, "")
            if asn is not None and prefix and trail.shared is not None:
                with trail.shared.lock:
                    trail.shared.memo.setdefault("origins", []).append((ipaddress.ip_network(prefix), asn))
        if asn is None:
            return network, ""
        as_name = self._memo(trail, f"as:{asn}", lambda sub: self._step("AS name", sub,
                                                                      lambda: self.dns.as_name(asn)) or "")
        trail.line(f"Origin AS{asn}" + (f" ({as_name})" if as_name else ""))
        return replace(network, asn=asn, as_name=as_name or network.as_name), as_name

    @staticmethod
    def _known_origin(ip: str, trail: Trail) -> int | None:
        """In a bulk run, the origin AS of an announced prefix already seen that holds ``ip``."""
        if trail.shared is None:
            return None
        addr = ipaddress.ip_address(ip)
        with trail.shared.lock:
            origins = list(trail.shared.memo.get("origins", ()))
        best = max(((net, asn) for net, asn in origins if addr.version == net.version and addr in net),
                   key=lambda pair: pair[0].prefixlen, default=None)
        return best[1] if best else None

    def _pick_domain(self, rdns: str | None, network: Network | None, as_name: str, trail: Trail,
                     hint: tuple[str, str, str] | None, verified: bool = True,
                     ip: str = "") -> DomainInfo | None:
        if hint is not None:
            return self._domain(hint[0], hint[1], False, hint[2], network, trail)
        if rdns:
            registered = domain_mod.registered_domain(rdns)
            if registered:
                # the reverse name's zone (host label dropped), then the registered domain: the MX of
                # "the domain and its parent", as the old tool looked them up
                zone = rdns.split(".", 1)[1] if rdns.count(".") > registered.count(".") + 1 else registered
                if not verified:  # the address's owner writes its PTR: any name, someone else's too
                    return self._domain(registered, zone, True, f"from the reverse name {rdns}, which does "
                                        "not resolve back to the address", network, trail)
                return self._domain(registered, zone, False, f"registered domain of {rdns}", network, trail)
        trail.line("Trying to figure out domain name after failed reverse lookup.")
        guess = domain_mod.guess_domain(network)
        if guess is None and ip:
            servers = self._step("Reverse zone name servers", trail, lambda: self.dns.reverse_zone_ns(ip))
            guess = domain_mod.guess_domain(None, as_name, servers or ())
        if guess is None:
            trail.line("No candidate found.")
            return None
        trail.line(f"Possible candidate: {guess[0]} ({guess[1]})")
        return self._domain(guess[0], guess[0], True, guess[1], network, trail)

    def _mx(self, name: str, trail: Trail) -> tuple[str, ...]:
        found = self._step(f"MX of {name}", trail, lambda: self.dns.mx(name))
        trail.line(f"Looking up MX record for {name}..." + ("succeeded." if found else "failed."))
        return found or ()

    def _domain(self, name: str, host: str, guessed: bool, reason: str, network: Network | None,
                trail: Trail) -> DomainInfo:
        host_mx = self._memo(trail, f"mx:{host}", lambda sub: self._mx(host, sub)) if host != name else ()
        mx, parent_mx, has_address, registrar, entities = self._memo(
            trail, f"domain:{name}", lambda sub: self._domain_core(name, sub))
        return DomainInfo(name=name, guessed=guessed, guess_reason=reason if guessed else "", mx=mx,
                          parent_mx=parent_mx, has_address=has_address, registrar=registrar,
                          entities=entities, host=host, host_mx=host_mx)

    def _domain_core(self, name: str, trail: Trail) -> tuple[tuple[str, ...], tuple[str, ...], bool, str,
                                                          tuple[RegistryEntity, ...]]:
        """What depends on the domain alone (shared by every address of it in one bulk run)."""
        mx = self._mx(name, trail)
        parent = name.split(".", 1)[1] if "." in name else ""
        parent_mx = self._mx(parent, trail) if parent and domain_mod.registered_domain(parent) else ()
        has_address = bool(self._step(f"Address of {name}", trail, lambda: self.dns.addresses(name)))
        registrar = ""
        entities: tuple[RegistryEntity, ...] = ()
        if self.cfg.gather.domain_rdap:
            registrar, entities = self._registration(name, trail)
        return mx, parent_mx, has_address, registrar, entities

    def _memo(self, trail: Trail, key: str, compute: Callable[[Trail], T]) -> T:
        """Within one gather_many, compute a per-domain/per-AS answer once and replay its lines."""
        shared = trail.shared
        if shared is None:
            return compute(trail)
        with shared.lock:
            hit = shared.memo.get(key)
        if hit is None:
            sub = Trail(shared=shared)
            value = compute(sub)
            hit = (value, tuple(sub.lines), tuple(sub.problems), tuple(sub.notes))
            with shared.lock:
                shared.memo.setdefault(key, hit)
        value, lines, problems, notes = hit
        for line in lines:
            trail.line(line)
        trail.problems.extend(problems)
        trail.notes.extend(notes)
        return value

    def _registration(self, name: str, trail: Trail) -> tuple[str, tuple[RegistryEntity, ...]]:
        key = f"domain-rdap:{name}"
        cached = self.cache.get(key)
        if cached is not None:
            trail.line(f"RDAP domain {name}...cached...succeeded.")
            return cached["registrar"], tuple(_entity(e) for e in cached["entities"])
        shared = trail.shared
        if shared is not None:
            with shared.lock:
                failed = shared.domains.get(name)
            if failed:
                _problem_or_note(trail, f"Domain RDAP: {failed[0]}", failed[1])
                return "", ()
        try:
            registrar, entities, made = domain_mod.domain_registration(self.clients.session, name)
        except LookupFailed as exc:
            self.net.count("domain")
            trail.line(f"RDAP domain {name}..." + ("failed." if exc.temporary else f"{exc}."))
            _problem_or_note(trail, f"Domain RDAP: {exc}", exc.temporary)
            if shared is not None:
                with shared.lock:
                    shared.domains[name] = (str(exc), exc.temporary)
            return "", ()
        self.net.count("domain", made)
        trail.line(f"RDAP domain {name}...succeeded.")
        self.cache.put(key, {"registrar": registrar, "entities": [asdict(e) for e in entities]})
        return registrar, entities


def _problem_or_note(trail: Trail, text: str, failed: bool) -> None:
    """A lookup that failed is a problem; a definite answer ("no record", "no RDAP service for the
    TLD") is a fact worth a note, not a failure."""
    if failed:
        trail.problem(text)
    else:
        trail.notes.append(text)


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


def _entity(d: dict[str, Any]) -> RegistryEntity:
    return RegistryEntity(**{**d, "roles": tuple(d["roles"]), "emails": tuple(d["emails"])})
