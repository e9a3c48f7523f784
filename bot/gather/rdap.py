"""RDAP for IP networks through ipwhois' ``Net`` (with our injected urllib opener: every request goes
through bot.gather.fetch, checked, capped and bounded in time).

Which registry to ask comes from IANA's bootstrap files (bot.gather.bootstrap), with ARIN's bootstrap
redirect service as the fallback. The answer is read raw and its entity tree walked by
:mod:`bot.gather.rdapwalk`. ipwhois is asked with ``retry_count=0`` so that it never sleeps its 120 s
on a 429: retries and backoff are the Gatherer's business.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit

from ipwhois.exceptions import HTTPLookupError, HTTPRateLimitError, IPDefinedError
from ipwhois.net import Net

from bot.errors import LookupFailed, RateLimited
from bot.gather import rdapwalk
from bot.gather.fetch import AnswerTooLarge
from bot.models import Network

if TYPE_CHECKING:
    from bot.clients import Clients

ARIN_BOOTSTRAP = "https://rdap-bootstrap.arin.net/bootstrap/ip/{}"
_ACCEPT = {"Accept": "application/rdap+json, application/json"}
_ENTITY_FETCH_LIMIT = 3
Slot = Callable[[str], AbstractContextManager[object]]


def _no_slot(url: str) -> AbstractContextManager[object]:
    return nullcontext()


def _retry_after(exc: BaseException | None) -> float | None:
    if isinstance(exc, HTTPError) and exc.headers is not None:
        value = exc.headers.get("Retry-After", "")
        if value and value.strip().isdigit():
            return float(value.strip())
    return None


def _failure(url: str, exc: BaseException) -> LookupFailed:
    """Turn what ipwhois raised (and the cause it chained) into our own error."""
    cause = exc.__context__
    host = urlsplit(url).hostname or url
    if isinstance(cause, LookupFailed) and not isinstance(cause, AnswerTooLarge):
        return LookupFailed(str(cause), source="rdap", temporary=cause.temporary)  # the fetcher's words
    if isinstance(exc, HTTPRateLimitError):
        return RateLimited(f"{host} asked us to slow down (rate limit)", source="rdap",
                           retry_after=_retry_after(cause))
    if isinstance(cause, HTTPError):
        if cause.code == 404:
            return LookupFailed(f"{host} has no record (HTTP 404)", source="rdap")
        if cause.code == 429:
            return RateLimited(f"{host} asked us to slow down (HTTP 429)", source="rdap",
                               retry_after=_retry_after(cause))
        return LookupFailed(f"{host} answered HTTP {cause.code}", source="rdap",
                            temporary=cause.code >= 500 or cause.code == 408)
    if isinstance(cause, TimeoutError | socket.timeout) or (
            isinstance(cause, URLError) and isinstance(cause.reason, TimeoutError | socket.timeout)):
        return LookupFailed(f"{host} did not answer in time", source="rdap", temporary=True)
    if isinstance(cause, AnswerTooLarge):
        return LookupFailed(f"{host} sent an answer too large to read", source="rdap")
    if isinstance(cause, ValueError | RecursionError):  # JSONDecodeError, UnicodeDecodeError, deep nesting
        return LookupFailed(f"{host} sent a malformed answer (not JSON)", source="rdap", temporary=True)
    if isinstance(cause, URLError | OSError | http.client.HTTPException):
        return LookupFailed(f"{host} could not be reached", source="rdap", temporary=True)
    return LookupFailed(f"{host}: RDAP lookup failed", source="rdap", temporary=True)


def _rate_limit_body(data: dict[str, Any]) -> bool:
    """RIPE's rate-limit error comes as an RDAP error body rather than (only) a 429.

    Only an error body or an answer without a network counts: registries put policy notices
    (about their rate limits too) in good answers.
    """
    if data.get("errorCode") in (429, "429"):
        return True
    if "errorCode" not in data and (data.get("startAddress") or data.get("handle")):
        return False
    texts = [str(data.get("title", ""))]
    for notice in data.get("notices", []) if isinstance(data.get("notices"), list) else []:
        if isinstance(notice, dict):
            texts.append(str(notice.get("title", "")))
    return any("rate limit" in t.lower() or "too many requests" in t.lower() for t in texts)


class RdapSource:
    """IP network answers from the RIRs. One instance is shared by threads; it keeps no lookup state."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self._net: Net | None = None
        self._net_lock = threading.Lock()

    def _ipwhois(self, ip: str) -> Net:
        """ipwhois' ``Net``, for its ``get_http_json``. A Net is made for one address and checks it
        against ipwhois' tables of special ranges (about 1 ms of CPU, more than all our handling of
        the answer); ``get_http_json`` uses only its opener and timeout, so one Net serves every request
        (ipwhois' own debug log names the address it was made for). The address has passed
        bot.public_address already."""
        with self._net_lock:
            if self._net is None:
                try:
                    net = Net(ip, timeout=self.clients.timeout, proxy_opener=self.clients.opener)
                except IPDefinedError as exc:
                    raise LookupFailed(f"{ip} is not a global address", source="rdap") from exc
                net.dns_resolver = self.clients.resolver  # never the system resolver
                self._net = net
            return self._net

    # -- transport -----------------------------------------------------------------------------

    def fetch_json(self, url: str, ip: str) -> dict[str, Any]:
        """GET an RDAP URL through ipwhois (no retries, no sleeping). Raises LookupFailed."""
        net = self._ipwhois(ip)
        try:
            data = net.get_http_json(url=url, retry_count=0, rate_limit_timeout=0, headers=dict(_ACCEPT))
        except (HTTPLookupError, HTTPRateLimitError) as exc:
            raise _failure(url, exc) from exc
        if not isinstance(data, dict):
            raise LookupFailed(f"{urlsplit(url).hostname}: unexpected RDAP answer", source="rdap",
                               temporary=True)
        if _rate_limit_body(data):
            raise RateLimited(f"{urlsplit(url).hostname} asked us to slow down (rate-limit error)",
                              source="rdap")
        return data

    def fetch_plain_json(self, url: str) -> Any:
        """GET a JSON document (IANA bootstrap) through the fetcher."""
        host = urlsplit(url).hostname
        answer = self.clients.fetcher.get(url, accept="application/json")
        if answer.status != 200:
            raise LookupFailed(f"{host} answered HTTP {answer.status}", source="rdap",
                               temporary=answer.status >= 500 or answer.status == 429)
        try:
            return json.loads(answer.body.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise LookupFailed(f"{host} sent a malformed answer (not JSON)", source="rdap",
                               temporary=True) from exc

    # -- lookups -------------------------------------------------------------------------------

    def network(self, ip: str, base: str | None, slot: Slot = _no_slot) -> tuple[Network, int]:
        """The network holding ``ip`` and the number of HTTP requests it took.

        ``base`` is the registry's RDAP base URL; None asks ARIN's bootstrap redirect service.
        ``slot(url)`` is entered around each request (the caller's per-registry rate limit).
        """
        url = (base.rstrip("/") + "/ip/" + quote(ip, safe=":.")) if base else ARIN_BOOTSTRAP.format(ip)
        with slot(url):
            data = self.fetch_json(url, ip)
        error = rdapwalk.error_text(data)
        if error:
            raise LookupFailed(f"{urlsplit(url).hostname}: {error}", source="rdap")
        if not (data.get("startAddress") or data.get("handle")):
            raise LookupFailed(f"{urlsplit(url).hostname}: answer is not an IP network", source="rdap",
                               temporary=True)
        # the answer says who wrote it: a registry may have redirected us to another (transfers)
        registry = rdapwalk.registry_from_answer(data) or rdapwalk.registry_from_url(url) or "unknown"
        nir = rdapwalk.detect_nir(data) if registry == "apnic" else ""
        net = rdapwalk.network_from_rdap(data, registry=nir or registry, url=url)
        if net.start and not rdapwalk.contains(net, ip):
            # untrusted: an answer about another range must neither describe ip nor be cached for it
            raise LookupFailed(f"{urlsplit(url).hostname}: the answer is for {net.start} - {net.end}, "
                               f"not for {ip}", source="rdap")
        requests = 1
        net, fetched = self._complete_entities(net, data, ip, slot)
        return net, requests + fetched

    def _complete_entities(self, net: Network, data: dict[str, Any], ip: str,
                           slot: Slot = _no_slot) -> tuple[Network, int]:
        """Fetch abuse entities the answer names without any e-mail (bounded, own registry only)."""
        missing = [e for e in net.entities if "abuse" in e.roles and not e.emails and e.handle]
        if not missing:
            return net, 0
        links = _entity_links(data.get("entities"))
        fetched = 0
        entities = list(net.entities)
        for ent in missing[:_ENTITY_FETCH_LIMIT]:
            link = links.get(ent.handle)
            if not link or not rdapwalk.registry_from_url(link):
                continue  # only follow links to a known registry (untrusted data)
            try:
                with slot(link):
                    body = self.fetch_json(link, ip)
            except LookupFailed:
                continue
            finally:
                fetched += 1
            _, _, emails = rdapwalk.vcard_fields(body.get("vcardArray"))
            if emails:
                entities[entities.index(ent)] = replace(ent, emails=emails)
        return replace(net, entities=tuple(entities)), fetched


def _entity_links(entities: Any, out: dict[str, str] | None = None) -> dict[str, str]:
    out = {} if out is None else out
    for ent in entities if isinstance(entities, list) else []:
        if not isinstance(ent, dict):
            continue
        handle = rdapwalk.clean_text(ent.get("handle"))  # as the walker keys entities
        for link in ent.get("links", []) if isinstance(ent.get("links"), list) else []:
            if (isinstance(link, dict) and link.get("rel") == "self" and handle
                    and isinstance(link.get("href"), str) and link["href"].startswith("https://")):
                out.setdefault(handle, link["href"])
        _entity_links(ent.get("entities"), out)
    return out
