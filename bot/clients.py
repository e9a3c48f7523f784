"""The one place where network clients are built from the configuration.

``build_clients(cfg)`` returns a :class:`Clients` bundle that the gather sources receive:

- a dnspython ``Resolver`` asking ``gather.nameservers`` on ``gather.dns_port`` (the system's
  resolv.conf only when no nameserver is configured);
- a urllib ``OpenerDirector`` for ipwhois (its public ``proxy_opener`` seam);
- a ``requests.Session`` for whoisit (which accepts a session).

When ``gather.rdap_url_override`` is set, both HTTP clients send a request for
``https://HOST/PATH?Q`` to ``{override}/HOST/PATH?Q`` instead, redirects included, through a
urllib handler and a requests transport adapter (public extension points, nothing patched).
Environment proxies are ignored so that no request leaves by another route.
Nothing here connects at import time or when the clients are built.
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
import requests
import requests.adapters

from bot.config import Config
from bot.errors import ConfigError

USER_AGENT = "incident-bot (abuse reporting; +https://github.com/)"
MAX_ANSWER_BYTES = 8_000_000


def rewrite_url(url: str, override: str) -> str:
    """``https://HOST/PATH?Q`` -> ``{override}/HOST/PATH?Q``; other URLs unchanged.

    Plain ``http://`` registry links (old APNIC answers use them) are rewritten too, except those
    that already point at the override itself.
    """
    if not override:
        return url
    base = override.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return url
    if parts.scheme == "http" and url.startswith(base + "/"):
        return url
    rest = url.split("://", 1)[1]
    return f"{base}/{rest}"


class RewriteHandler(urllib.request.BaseHandler):
    """urllib request processor: sends every registry URL to the override base instead."""

    handler_order = 100  # before the handlers that open connections

    def __init__(self, override: str) -> None:
        self.override = override

    def _rewrite(self, req: urllib.request.Request) -> urllib.request.Request:
        new = rewrite_url(req.full_url, self.override)
        if new != req.full_url:
            req.full_url = new  # re-parses scheme and host; urllib then opens the new URL
        return req

    https_request = _rewrite
    http_request = _rewrite


class AnswerTooLarge(urllib.error.URLError):
    """A server sent more than MAX_ANSWER_BYTES: not read further (untrusted, would fill memory)."""


class BufferingHandler(urllib.request.BaseHandler):
    """Reads each answer whole and closes its connection at once.

    ipwhois never closes the responses it opens; without this, every RDAP request would leave a
    socket for the garbage collector (a ResourceWarning each). The body is kept in memory, up to
    MAX_ANSWER_BYTES (a registry answer is some kilobytes; the biggest, a few hundred).
    """

    handler_order = 900  # before HTTPErrorProcessor (1000), so error answers are buffered too

    def http_response(self, req: urllib.request.Request, response: Any) -> Any:
        try:
            body = response.read(MAX_ANSWER_BYTES + 1)
            if len(body) > MAX_ANSWER_BYTES:
                raise AnswerTooLarge(f"answer larger than {MAX_ANSWER_BYTES} bytes")
        finally:
            response.close()
        buffered = urllib.response.addinfourl(io.BytesIO(body), response.headers, response.url,
                                              response.code)
        buffered.msg = response.msg  # type: ignore[attr-defined]  # HTTPErrorProcessor reads it
        return buffered

    https_response = http_response


class RewriteAdapter(requests.adapters.HTTPAdapter):
    """requests transport adapter: rewrites to the override base and enforces our timeout."""

    def __init__(self, override: str, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.override = override
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.url:
            request.url = rewrite_url(request.url, self.override)
        kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


@dataclass(frozen=True)
class Clients:
    """Network clients for the gather step. Shared by threads; holds no per-lookup state."""

    resolver: dns.resolver.Resolver
    opener: urllib.request.OpenerDirector     # for ipwhois: Net(..., proxy_opener=opener)
    session: requests.Session                 # for whoisit: whoisit.domain(..., session=session)
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


def build_opener(override: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), RewriteHandler(override),
                                         BufferingHandler())
    opener.addheaders = [("User-Agent", USER_AGENT)]
    return opener


def build_session(override: str, timeout: float) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies or netrc from the environment
    adapter = RewriteAdapter(override, timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def _whois_target(text: str) -> tuple[str | None, int]:
    if not text:
        return None, 43
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"gather.whois_server_override: expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


def build_clients(cfg: Config) -> Clients:
    """Build every gather client from the configuration (no connection is made here)."""
    g = cfg.gather
    override = g.rdap_url_override.rstrip("/")
    if override and urlsplit(override).scheme not in ("http", "https"):
        raise ConfigError(f"gather.rdap_url_override: expected an http(s) URL, got {override!r}")
    server, port = _whois_target(g.whois_server_override)
    return Clients(
        resolver=build_resolver(g.nameservers, g.dns_port, g.timeout),
        opener=build_opener(override),
        session=build_session(override, g.timeout),
        timeout=g.timeout,
        whois_server=server,
        whois_port=port,
    )
