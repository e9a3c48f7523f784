"""Gathering: ip -> findings (rDNS, RDAP network and entities, domain, MX, Abusix, probes).

One module per source, each behind a small interface with an injected client (bot.clients);
the :class:`Gatherer` orders them, retries, caches and turns failures into ``problems`` lines.

ipwhois' known problems and what we do instead: abuse contacts nested under the registrant org
(ARIN) and the roles of re-fetched root entities are lost by its parser -> we walk the raw answer
(rdapwalk); ``inc_nir`` with bootstrap crashes -> NIR delegation is read from the APNIC answer;
``Net.get_host`` is broken -> reverse DNS through our own resolver; ``get_http_json`` sleeps 120 s
on a 429 -> called with ``retry_count=0`` and backoff is ours; its opener is ours, whose only handler
is our fetcher (bot.gather.fetch: checked, pinned, capped, bounded in time); ``get_whois`` reads
without a limit -> port 43 is the fetcher's too.

Public API::

    Gatherer(cfg, clients, *, cache=None)
        .gather(ip, *, probe=None, progress=None) -> Findings
        .gather_many(ips, *, probe=None, progress=None) -> Iterator[tuple[str, Findings]]
        .lookup(target, *, probe=None, progress=None) -> LookupResult
"""

from bot.gather.gatherer import Gatherer, parse_ip

__all__ = ["Gatherer", "parse_ip"]
