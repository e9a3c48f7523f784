"""The one place where network clients are built from the configuration.

``build_clients(cfg)`` returns a :class:`Clients` bundle that the gather sources receive:

- a dnspython ``Resolver`` asking ``gather.nameservers`` on ``gather.dns_port`` (the system's
  resolv.conf only when no nameserver is configured);
- a :class:`bot.gather.fetch.Fetcher`: the one HTTP client (URL and address checks, pinned
  connections, size cap, total deadline ``gather.deadline``, redirects checked one by one), which also
  talks port 43;
- a urllib ``OpenerDirector`` for ipwhois (its public ``proxy_opener`` seam) whose only handler hands
  every request to the fetcher (a public extension point, nothing patched), so ipwhois never opens a
  connection, resolves a name or follows a redirect itself.

``gather.rdap_url_override`` (tests, mirrors) is applied by the fetcher: the connection goes to
``{override}/HOST/PATH?Q``; the checks still apply to ``https://HOST/PATH?Q``. Environment proxies are
never used. Nothing here connects at import time or when the clients are built.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
import urllib.response
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dns.resolver

from bot.config import Config
from bot.errors import ConfigError
from bot.gather.dns import DnsSource
from bot.gather.fetch import RDAP_ACCEPT, USER_AGENT, Fetcher, Resolve
from bot.gather.urlcheck import AddressPolicy, UrlRefused, address_refusal

__all__ = ["USER_AGENT", "Clients", "FetchHandler", "build_clients"]


class FetchHandler(urllib.request.BaseHandler):
    """urllib handler (ipwhois' opener): every http(s) request is the fetcher's; other schemes refused.

    An answer other than 2xx is raised as ``HTTPError`` with its headers and body (ipwhois and our RDAP
    step read the status and ``Retry-After``); the fetcher's own errors (refused, too large, too slow)
    propagate as they are.
    """

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher

    def _open(self, req: urllib.request.Request) -> Any:
        answer = self.fetcher.get(req.full_url, accept=req.get_header("Accept") or RDAP_ACCEPT)
        if not 200 <= answer.status < 300:
            raise urllib.error.HTTPError(answer.url, answer.status, answer.reason, answer.headers,
                                         io.BytesIO(answer.body))
        return urllib.response.addinfourl(io.BytesIO(answer.body), answer.headers, answer.url, answer.status)

    http_open = _open
    https_open = _open

    def unknown_open(self, req: urllib.request.Request) -> Any:
        raise UrlRefused(f"not an http(s) URL: {req.full_url[:120]!r}")


@dataclass(frozen=True)
class Clients:
    """Network clients for the gather step. Shared by threads; holds no per-lookup state."""

    resolver: dns.resolver.Resolver
    fetcher: Fetcher                          # every HTTP request and port-43 query
    opener: urllib.request.OpenerDirector     # for ipwhois: Net(..., proxy_opener=opener)
    timeout: float
    whois_server: str | None = None           # host answering every port-43 query (None: the registry's)
    whois_port: int = 43


def build_resolver(nameservers: tuple[str, ...], port: int, timeout: float) -> dns.resolver.Resolver:
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(nameservers)
    else:
        resolver = dns.resolver.Resolver()
    resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.retry_servfail = False
    return resolver


def build_opener(fetcher: Fetcher) -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()  # no default handler: nothing but the fetcher connects
    opener.add_handler(FetchHandler(fetcher))
    return opener


def _whois_target(text: str) -> tuple[str | None, int]:
    if not text:
        return None, 43
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"gather.whois_server_override: expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


def build_clients(cfg: Config, *, policy: AddressPolicy = address_refusal,
                  resolve: Resolve | None = None) -> Clients:
    """Build every gather client from the configuration (no connection is made here).

    ``policy`` decides which addresses may be connected to (default: public ones only); ``resolve``
    replaces the configured resolver for host names fetched from. Both are seams for tests.
    """
    g = cfg.gather
    override = g.rdap_url_override.rstrip("/")
    if override and urlsplit(override).scheme not in ("http", "https"):
        raise ConfigError(f"gather.rdap_url_override: expected an http(s) URL, got {override!r}")
    server, port = _whois_target(g.whois_server_override)
    resolver = build_resolver(g.nameservers, g.dns_port, g.timeout)
    fetcher = Fetcher(resolve or DnsSource(resolver).resolve_host, timeout=g.timeout, deadline=g.deadline,
                      override=override, policy=policy)
    return Clients(
        resolver=resolver,
        fetcher=fetcher,
        opener=build_opener(fetcher),
        timeout=g.timeout,
        whois_server=server,
        whois_port=port,
    )
