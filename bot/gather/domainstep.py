"""The domain part of a gather: which domain the address belongs to, its MX and address records, and
its registration (the registrar's abuse contact).

Everything here but the choice of domain depends on the domain alone, so it is a shared answer
(bot.gather.shared): asked once per domain in a run, and kept in the lookup cache for its TTL.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from bot.errors import LookupFailed
from bot.gather import domain as domain_mod
from bot.gather.dns import DnsSource, Records, mx_hosts
from bot.gather.shared import SharedAnswers
from bot.gather.trail import Trail
from bot.models import DomainInfo, Network, RegistryEntity

if TYPE_CHECKING:
    from bot.gather.network import NetworkStep

log = logging.getLogger(__name__)
Beside = Callable[[bool, Callable[[], Any]], Callable[[], Any]]


@functools.lru_cache(maxsize=4096)
def block_of(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) holding ``ip``: the longest prefixes routed on the Internet, so what
    is announced, delegated (reverse zone) or asked about it holds for all of the block."""
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return f"{ipaddress.IPv4Address(int(addr) >> 8 << 8)}/24"
    return f"{ipaddress.IPv6Address(int(addr) >> 80 << 80)}/48"


class DomainStep:
    def __init__(self, dns: DnsSource, shared: SharedAnswers, net: NetworkStep, domain_rdap: bool,
                 beside: Beside) -> None:
        self.dns = dns
        self.shared = shared
        self.net = net
        self.domain_rdap = domain_rdap
        self.beside = beside     # runs a call on a side thread when it must ask someone (Gatherer._beside)

    def pick(self, ip: str, rdns: str | None, verified: bool, network: Network | None, as_name: str,
             trail: Trail, hint: tuple[str, str, str] | None = None) -> DomainInfo | None:
        """The domain to report about: the one looked up (``hint``), the reverse name's, or a guess."""
        if hint is not None:
            return self.info(hint[0], hint[1], False, hint[2], trail)
        if rdns:
            registered = domain_mod.registered_domain(rdns)
            if registered:
                # the reverse name's zone (host label dropped), then the registered domain: the MX of
                # "the domain and its parent", as the old tool looked them up
                zone = rdns.split(".", 1)[1] if rdns.count(".") > registered.count(".") + 1 else registered
                if not verified:  # the address's owner writes its PTR: any name, someone else's too
                    return self.info(registered, zone, True, f"from the reverse name {rdns}, which does "
                                     "not resolve back to the address", trail)
                return self.info(registered, zone, False, f"registered domain of {rdns}", trail)
        trail.line("Trying to figure out domain name after failed reverse lookup.")
        guess = domain_mod.guess_domain(network)
        if guess is None and ip:
            servers = self.shared.get(trail, f"rzns:{block_of(ip)}", lambda sub: self._zone_ns(ip, sub))
            guess = domain_mod.guess_domain(None, as_name, servers or ())
        if guess is None:
            trail.line("No candidate found.")
            return None
        trail.line(f"Possible candidate: {guess[0]} ({guess[1]})")
        return self.info(guess[0], guess[0], True, guess[1], trail)

    def info(self, name: str, host: str, guessed: bool, reason: str, trail: Trail) -> DomainInfo:
        """The domain's MX (and its parent's, and the reverse name's zone's), whether it has an address,
        and its registration: the DNS questions asked together, the registration beside them."""
        host_trail, dns_trail, reg_trail = (Trail(shared=trail.shared) for _ in range(3))
        host_mx = self.beside(host != name and not self.shared.known(trail, f"mx:{host}"),
                              lambda: self.mx(host, host_trail) if host != name else ())
        registration = self.beside(
            self.domain_rdap and not self.shared.known(trail, f"registration:{name}"),
            lambda: self._registered(name, reg_trail))
        mx, parent_mx, has_address = self.shared.get(dns_trail, f"domain:{name}",
                                                     lambda sub: self._domain_dns(name, sub))
        host_found, found = host_mx(), registration()
        for part in (host_trail, dns_trail, reg_trail):
            trail.merge(part)
        registrar, entities = found[0], tuple(_entity(e) for e in found[1])
        return DomainInfo(name=name, guessed=guessed, guess_reason=reason if guessed else "", mx=tuple(mx),
                          parent_mx=tuple(parent_mx), has_address=bool(has_address), registrar=registrar,
                          entities=entities, host=host, host_mx=tuple(host_found))

    def _registered(self, name: str, trail: Trail) -> list[Any]:
        if not self.domain_rdap:
            return ["", []]
        found: list[Any] = self.shared.get(trail, f"registration:{name}",
                                           lambda sub: self._registration(name, sub))
        return found

    def mx(self, name: str, trail: Trail) -> tuple[str, ...]:
        return tuple(self.shared.get(trail, f"mx:{name}", lambda sub: self._mx(name, sub)))

    # -- the questions (each run once per domain or block; ``sub`` collects its lines) -----------------

    def _mx(self, name: str, sub: Trail) -> tuple[list[str], float]:
        try:
            hosts, ttl = self.dns.mx(name)
        except LookupFailed as exc:
            sub.problem(f"MX of {name}: {exc}")
            hosts, ttl = (), 0.0
        sub.line(f"Looking up MX record for {name}..." + ("succeeded." if hosts else "failed."))
        return list(hosts), ttl

    def _domain_dns(self, name: str, sub: Trail) -> tuple[list[Any], float]:
        """[MX, parent's MX, has an address] of a domain, one round trip: the questions asked at once."""
        parent = name.split(".", 1)[1] if "." in name else ""
        questions = [(name, "MX"), (name, "A"), (name, "AAAA")]
        if parent and domain_mod.registered_domain(parent):
            questions.append((parent, "MX"))
        answers = self.dns.query_many(questions)
        ttls = [a.ttl for a in answers if not isinstance(a, LookupFailed)]
        mx = self._mx_lines(name, answers[0], sub)
        parent_mx = self._mx_lines(parent, answers[3], sub) if len(answers) > 3 else []
        addresses = [a for a in answers[1:3] if not isinstance(a, LookupFailed)]
        if not addresses:
            sub.problem(f"Address of {name}: {answers[1]}")
        return [mx, parent_mx, any(a.values for a in addresses)], min(ttls, default=0.0)

    def _mx_lines(self, name: str, answer: Records | LookupFailed, sub: Trail) -> list[str]:
        if isinstance(answer, LookupFailed):
            sub.problem(f"MX of {name}: {answer}")
            hosts: tuple[str, ...] = ()
        else:
            hosts = mx_hosts(answer)
        sub.line(f"Looking up MX record for {name}..." + ("succeeded." if hosts else "failed."))
        return list(hosts)

    def _zone_ns(self, ip: str, sub: Trail) -> tuple[list[str], float]:
        try:
            hosts, ttl = self.dns.reverse_zone_ns(ip)
        except LookupFailed as exc:
            sub.problem(f"Reverse zone name servers: {exc}")
            return [], 0.0
        return list(hosts), ttl

    def _registration(self, name: str, sub: Trail) -> tuple[list[Any], float | None]:
        """[registrar, entities as dicts] over RDAP; a definite answer ("no record", no service for the
        TLD) is a note, a failure a problem. Kept for the cache's TTL (None)."""
        try:
            base = self.net.bootstraps.tld_base(name, sub)
            registrar, entities, made = domain_mod.domain_registration(self.net.rdap.clients.fetcher,
                                                                       base, name)
        except LookupFailed as exc:
            self.net.count("domain")
            sub.line(f"RDAP domain {name}..." + ("failed." if exc.temporary else f"{exc}."))
            (sub.problem if exc.temporary else sub.notes.append)(f"Domain RDAP: {exc}")
            return ["", []], None
        self.net.count("domain", made)
        sub.line(f"RDAP domain {name}...succeeded.")
        return [registrar, [asdict(e) for e in entities]], None


def _entity(d: dict[str, Any]) -> RegistryEntity:
    return RegistryEntity(**{**d, "roles": tuple(d["roles"]), "emails": tuple(d["emails"])})
