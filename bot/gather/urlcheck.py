"""Which URLs the bot may follow and which addresses it may connect to (pure: no network).

Every URL the gatherer fetches comes, directly or not, from untrusted data: RDAP links and a
registrar's "related" link are written by whoever runs that registry or registrar, and a redirect by
whoever answers. A URL is followed only when

- its scheme is http or https, it carries no user name or password, and it is plain ASCII text;
- its host is a DNS name (at least two labels, the last not numeric), not an address in any spelling:
  ``127.1``, ``0177.0.0.1``, ``0x7f.1``, ``2130706433`` and ``[::ffff:127.0.0.1]`` are refused before
  any connection, as are ``localhost`` and names under it;
- every address the name resolves to (with our configured resolver) is public: not loopback, private,
  link-local, shared (CGNAT), unspecified, multicast, reserved or documentation space, nor a cloud
  metadata service (169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16...), nor an
  IPv6 form carrying a refused IPv4 address (``::ffff:10.0.0.1``, 6to4, Teredo).

The fetcher (bot.gather.fetch) then connects to an address that was checked, never resolving again.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.errors import LookupFailed
from bot.public_address import is_public

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Returns why an address must not be connected to, or "" when it may be.
AddressPolicy = Callable[[IPAddress], str]

MAX_URL = 2000
# Cloud metadata and platform services. The link-local and ULA ones are refused as such already; they
# are listed to be named in the message. Azure's wire server sits at a public address.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",    # AWS, GCP, Azure, OpenStack, DigitalOcean... instance metadata
    "169.254.170.2",      # AWS ECS task metadata
    "169.254.169.253",    # AWS VPC DNS
    "fd00:ec2::254",      # AWS instance metadata over IPv6
    "fd00:ec2::253",      # AWS VPC DNS over IPv6
    "100.100.100.200",    # Alibaba Cloud metadata
    "168.63.129.16",      # Azure wire server (a public address)
    "192.0.0.192",        # Oracle Cloud metadata
))
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


class UrlRefused(LookupFailed):
    """A URL (or the address its host resolves to) that the bot does not follow. Definite."""

    def __init__(self, message: str, *, source: str = "fetch") -> None:
        super().__init__(message, source=source, temporary=False)


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, split into what a connection needs."""

    url: str
    scheme: str        # http or https
    host: str          # lower case, without a final dot
    port: int
    path: str          # path and query, at least "/"


def _kind(addr: IPAddress) -> str:
    checks = (("loopback", addr.is_loopback), ("unspecified", addr.is_unspecified),
              ("link-local", addr.is_link_local), ("multicast", addr.is_multicast),
              ("shared (CGNAT)", addr in ipaddress.ip_network("100.64.0.0/10")),
              ("private", addr.is_private), ("reserved", addr.is_reserved))
    return next((name for name, hit in checks if hit), "special-use")


def address_refusal(addr: IPAddress) -> str:
    """Why ``addr`` must not be connected to ("" when it may be): the default policy."""
    if addr in METADATA:
        return f"{addr} is a cloud metadata address"
    if isinstance(addr, ipaddress.IPv6Address):
        inner = addr.ipv4_mapped or addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if addr.teredo is not None:
            return f"{addr} is a Teredo address"
        if inner is not None and address_refusal(inner):
            return f"{addr} carries {inner}: {address_refusal(inner)}"
        if addr.ipv4_mapped is not None:
            return ""
    if not is_public(addr):
        return f"{addr} is not a public address ({_kind(addr)})"
    return ""


def _numeric_host(host: str) -> bool:
    """Whether a host is an address in some spelling (what inet_aton or a browser would take as one)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    last = host.rsplit(".", 1)[-1]
    if last.isdigit() or re.fullmatch(r"0x[0-9a-f]*", last):
        return True
    # every label a number (decimal, octal with a leading 0, or hex): 0177.0.0.1, 0x7f.1, 127.1
    return all(re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)", label) for label in host.split("."))


def check_url(url: object) -> Target:
    """The URL split for a connection; raises :class:`UrlRefused` saying why it is not followed."""
    if not isinstance(url, str) or not url:
        raise UrlRefused("not a URL")
    shown = url[:120]
    if len(url) > MAX_URL:
        raise UrlRefused(f"URL longer than {MAX_URL} characters")
    if not url.isascii() or any(not ch.isprintable() or ch.isspace() or ch == "\\" for ch in url):
        raise UrlRefused(f"URL with spaces, control or non-ASCII characters: {shown!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused(f"malformed URL: {shown!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused(f"not an http(s) URL: {shown!r}")
    if "@" in parts.netloc:
        raise UrlRefused(f"URL with a user name or password: {shown!r}")
    if "[" in parts.netloc or "%" in parts.netloc:
        raise UrlRefused(f"URL naming an address instead of a host name: {shown!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused(f"URL without a host: {shown!r}")
    if _numeric_host(host):
        raise UrlRefused(f"URL naming an address instead of a host name: {shown!r}")
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or len(host) > 253:
        raise UrlRefused(f"URL whose host is not a public DNS name: {shown!r}")
    if labels[-1] == "localhost":
        raise UrlRefused(f"URL naming localhost: {shown!r}")
    if port == 0:
        raise UrlRefused(f"URL with port 0: {shown!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80),
                  path=path)


def check_addresses(host: str, addresses: list[str], policy: AddressPolicy) -> list[str]:
    """The addresses of ``host`` a connection may use: all of them, or :class:`UrlRefused` when any is
    refused (a name that also resolves somewhere internal is not trusted with its public addresses)."""
    if not addresses:
        raise UrlRefused(f"{host} has no address")
    checked = []
    for text in addresses:
        addr = ipaddress.ip_address(text)
        reason = policy(addr)
        if reason:
            raise UrlRefused(f"{host} resolves to {reason}")
        checked.append(str(addr))
    return checked
