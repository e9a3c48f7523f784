"""Gathering: ip -> findings (rDNS, RDAP network and entities, domain, MX, Abusix, probes).

One module per source, each behind a small interface with an injected client (bot.clients);
the :class:`Gatherer` orders them, retries, caches and turns failures into ``problems`` lines.

Public API::

    Gatherer(cfg, clients, *, cache=None)
        .gather(ip, *, probe=None, progress=None) -> Findings
        .gather_many(ips, *, probe=None, progress=None) -> Iterator[tuple[str, Findings]]
        .lookup(target, *, probe=None, progress=None) -> LookupResult
"""

from bot.gather.gatherer import Gatherer, parse_ip

__all__ = ["Gatherer", "parse_ip"]
