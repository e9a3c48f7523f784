"""The attacker's domain: registered domain of the reverse name (Public Suffix List), or a guess
when there is none, its MX records, and its registration data over RDAP (whoisit).

whoisit keeps its IANA bootstrap in the process; we load it once, fetched through the injected
requests session (so the sandbox override applies), and never let whoisit fetch on its own.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import requests
import whoisit
from publicsuffixlist import PublicSuffixList

from bot.contacts import catch_all_reason, normalise_address
from bot.errors import LookupFailed, RateLimited
from bot.gather import rdapwalk
from bot.models import Network, RegistryEntity

_BOOTSTRAP_FILES = {"asn": "asn", "dns": "dns", "ipv4": "ipv4", "ipv6": "ipv6", "object": "object-tags"}
_bootstrap_lock = threading.Lock()
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


def _fetch_json(session: requests.Session, url: str) -> Any:
    try:
        resp = session.get(url)
    except requests.RequestException as exc:
        raise LookupFailed(f"{urlsplit(url).hostname}: could not fetch", source="domain",
                           temporary=True) from exc
    if resp.status_code != 200:
        raise LookupFailed(f"{urlsplit(url).hostname} answered HTTP {resp.status_code}", source="domain",
                           temporary=resp.status_code >= 500)
    try:
        return resp.json()
    except ValueError as exc:
        raise LookupFailed(f"{urlsplit(url).hostname}: malformed answer", source="domain",
                           temporary=True) from exc


def ensure_whoisit_bootstrap(session: requests.Session) -> None:
    """Load whoisit's bootstrap once per process, fetched through our session."""
    with _bootstrap_lock:
        if whoisit.is_bootstrapped():
            return
        data: dict[str, Any] = {"timestamp": int(time.time())}
        with ThreadPoolExecutor(max_workers=len(_BOOTSTRAP_FILES)) as pool:
            files = pool.map(lambda n: _fetch_json(session, f"https://data.iana.org/rdap/{n}.json"),
                             _BOOTSTRAP_FILES.values())
            data.update(zip(_BOOTSTRAP_FILES, files, strict=True))
        try:
            whoisit.load_bootstrap_data(json.dumps(data))
        except whoisit.errors.BootstrapError as exc:
            raise LookupFailed("IANA bootstrap data unusable", source="domain", temporary=True) from exc


def _safe_related(url: str) -> bool:
    """Only follow a registrar link to a public https host name (untrusted data)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or not host or "." not in host or host == "localhost":
        return False
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return True


def domain_registration(session: requests.Session, name: str) -> tuple[str, tuple[RegistryEntity, ...], int]:
    """(registrar name, entities, requests made) for a registered domain, via whoisit.

    The registry answer (thin for .com) is followed to the registrar's answer where the registry
    links one; the registrar's abuse contact is nested under the registrar entity.
    """
    ensure_whoisit_bootstrap(session)
    try:
        raw = whoisit.domain(name, raw=True, session=session, follow_related=False)
    except whoisit.errors.UnsupportedError as exc:
        raise LookupFailed(f"no RDAP service is known for {name}'s TLD", source="domain") from exc
    except whoisit.errors.RateLimitedError as exc:
        raise RateLimited(f"domain RDAP for {name}: rate limited", source="domain") from exc
    except whoisit.errors.ResourceDoesNotExist as exc:
        raise LookupFailed(f"domain RDAP has no record of {name}", source="domain") from exc
    except whoisit.errors.QueryError as exc:
        raise LookupFailed(f"domain RDAP for {name} failed", source="domain", temporary=True) from exc
    if not isinstance(raw, dict):
        raise LookupFailed(f"domain RDAP for {name}: unexpected answer", source="domain", temporary=True)
    answers = [raw]
    requests_made = 1
    for link in raw.get("links", []) if isinstance(raw.get("links"), list) else []:
        href = link.get("href", "") if isinstance(link, dict) else ""
        if (isinstance(link, dict) and link.get("rel") in ("related", "registration")
                and isinstance(href, str) and not str(link.get("type", "")).startswith("text/html")
                and href != link.get("value") and _safe_related(href)):
            requests_made += 1
            try:
                related = _fetch_json(session, href)
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
