"""The attacker's domain: registered domain of the reverse name (Public Suffix List), or a guess
when there is none, its MX records, and its registration data over RDAP.

The registry serving a TLD comes from IANA's dns.json bootstrap (bot.gather.bootstrap, refreshed when
stale); its answer and the registrar's "related" answer are fetched by bot.gather.fetch (checked,
pinned, capped, bounded in time). whoisit, used before, keeps its bootstrap process-wide and can only
replace it by clearing it first (a window where a concurrent lookup fails or whoisit fetches IANA on its
own, unchecked), and added nothing else we used.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from publicsuffixlist import PublicSuffixList

from bot.contacts import catch_all_reason, normalise_address
from bot.errors import LookupFailed, RateLimited
from bot.gather import rdapwalk
from bot.gather.fetch import Fetcher
from bot.models import Network, RegistryEntity

_psl: PublicSuffixList | None = None
_psl_lock = threading.Lock()


def psl() -> PublicSuffixList:
    """The bundled Public Suffix List (loaded once; read-only afterwards)."""
    global _psl
    with _psl_lock:
        if _psl is None:
            _psl = PublicSuffixList()
        return _psl


def registered_domain(name: str) -> str | None:
    """``host.dsl.example.co.uk`` -> ``example.co.uk``; None for a bare suffix or an IP literal."""
    name = name.strip().rstrip(".").lower()
    if not name or "." not in name:
        return None
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        pass
    result = psl().privatesuffix(name)
    return str(result) if result else None


def guess_domain(network: Network | None, as_name: str = "",
                 name_servers: Iterable[str] = ()) -> tuple[str, str] | None:
    """(domain, basis) when the reverse lookup failed, as the old tool did; None if no basis.

    The registry's e-mail domains come first (abuse entities, then the others), skipping the
    registries' own domains; then the reverse zone's name servers; then a domain-looking word in
    the AS name.
    """
    if network is not None:
        ordered = sorted(network.entities, key=lambda e: 0 if "abuse" in e.roles else 1)
        for ent in ordered:
            for raw in ent.emails:
                address = normalise_address(raw)
                if not address or catch_all_reason(address):
                    continue
                domain = registered_domain(address.split("@", 1)[1])
                if domain:
                    who = ent.handle or ent.name or "an entity"
                    return domain, f"guessed from the registry's e-mail address {address} ({who})"
    for host in name_servers:
        domain = registered_domain(host)
        if domain and not catch_all_reason(f"hostmaster@{domain}"):
            return domain, f"guessed from the reverse zone's name server {host}"
    for word in as_name.replace(",", " ").split():
        domain = registered_domain(word) if "." in word else None
        if domain and psl().is_public(domain.split(".", 1)[1]):
            return domain, f"guessed from the AS name {as_name!r}"
    return None


def _fetch_json(fetcher: Fetcher, url: str, name: str) -> Any:
    """One RDAP answer about ``name``; LookupFailed saying why not (a definite answer when it is one)."""
    host = urlsplit(url).hostname
    try:
        answer = fetcher.get(url)
    except LookupFailed as exc:  # refused, too large, too slow: a failure, never a definite answer
        raise LookupFailed(f"domain RDAP for {name}: {exc}", source="domain", temporary=True) from exc
    if answer.status == 404:
        raise LookupFailed(f"domain RDAP has no record of {name}", source="domain")
    if answer.status == 429:
        raise RateLimited(f"domain RDAP for {name}: rate limited ({host})", source="domain")
    if answer.status != 200:
        raise LookupFailed(f"{host} answered HTTP {answer.status}", source="domain",
                           temporary=answer.status >= 500)
    try:
        return json.loads(answer.body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise LookupFailed(f"{host}: malformed answer", source="domain", temporary=True) from exc


def _safe_related(url: str) -> bool:
    """Only a registrar link to an https host name is followed (the fetcher then checks where it points)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or not host or "." not in host or host == "localhost":
        return False
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return True


def domain_registration(fetcher: Fetcher, base: str | None,
                        name: str) -> tuple[str, tuple[RegistryEntity, ...], int]:
    """(registrar name, entities, requests made) for a registered domain, from the RDAP service at
    ``base`` (IANA's for the TLD; None: there is none).

    The registry answer (thin for .com) is followed to the registrar's answer where the registry
    links one; the registrar's abuse contact is nested under the registrar entity.
    """
    if base is None:
        raise LookupFailed(f"no RDAP service is known for {name}'s TLD", source="domain")
    url = f"{base.rstrip('/')}/domain/{quote(name, safe='.-')}"
    raw = _fetch_json(fetcher, url, name)
    if not isinstance(raw, dict):
        raise LookupFailed(f"domain RDAP for {name}: unexpected answer", source="domain", temporary=True)
    error = rdapwalk.error_text(raw)
    if error:
        raise LookupFailed(f"domain RDAP for {name}: {error}", source="domain")
    answers = [raw]
    requests_made = 1
    for link in raw.get("links", []) if isinstance(raw.get("links"), list) else []:
        href = link.get("href", "") if isinstance(link, dict) else ""
        if (isinstance(link, dict) and link.get("rel") in ("related", "registration")
                and isinstance(href, str) and not str(link.get("type", "")).startswith("text/html")
                and href.lower() != url.lower() and _safe_related(href)):
            requests_made += 1
            try:
                related = _fetch_json(fetcher, href, name)
            except LookupFailed:
                break
            if isinstance(related, dict):
                answers.append(related)
            break
    entities: list[RegistryEntity] = []
    for answer in answers:
        entities.extend(rdapwalk.flatten_entities(answer.get("entities")))
    registrar = next((e.name for e in entities if "registrar" in e.roles and e.name), "")
    return registrar, _dedupe(entities), requests_made


def _dedupe(entities: Iterable[RegistryEntity]) -> tuple[RegistryEntity, ...]:
    return tuple(dict.fromkeys(entities))
