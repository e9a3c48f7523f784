"""Legacy port-43 whois, the fallback when RDAP gives no answer.

The server comes from bot/registries.py for the registry, or ``gather.whois_server_override``. The
query is sent by our fetcher (bot.gather.fetch: the answer capped at MAX_WHOIS_BYTES and bounded by
``gather.deadline``); ipwhois' ``Net.get_whois`` reads until the server closes, without a limit, and
resolves the server's name with the system resolver, so it is not used.
The text is parsed here into the same :class:`Network` the RDAP source returns: RPSL objects
(RIPE, APNIC, AFRINIC, LACNIC) and ARIN's ``Key: value`` blocks. Abuse contacts are the
``abuse-mailbox`` / IRT / ``abuse-c`` objects, ARIN's ``OrgAbuseEmail``/``RAbuseEmail``, and
RIPE's ``% Abuse contact for ... is '...'`` comment.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from bot import registries
from bot.errors import LookupFailed, RateLimited
from bot.gather.fetch import AnswerTooLarge
from bot.gather.rdapwalk import clean_text
from bot.models import Network, RegistryEntity

if TYPE_CHECKING:
    from bot.clients import Clients

MAX_WHOIS_BYTES = 1_000_000  # a network's whois text is a few kilobytes; ARIN's longest, tens
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_ABUSE_COMMENT_RE = re.compile(r"^%\s*abuse contact for .* is '([^']+)'", re.IGNORECASE)
_SKIP_KEYS = {"changed", "notify", "upd-to", "mnt-nfy", "auth"}
_ABUSE_KEYS = {"abuse-mailbox", "orgabuseemail", "rabuseemail"}
_NET_KEYS = ("inetnum", "inet6num", "netrange", "cidr")


def query_whois(clients: Clients, ip: str, registry: str) -> str:
    """The raw whois text for ``ip`` from ``registry``'s server (or the configured override)."""
    address = str(ipaddress.ip_address(ip))
    query = f"n + {address}" if registry == "arin" else address  # ARIN: networks only, not its POCs
    server = clients.whois_server or registries.BY_KEY[registry].whois_host
    try:
        raw = clients.fetcher.port43(server, clients.whois_port, query, max_bytes=MAX_WHOIS_BYTES,
                                     trusted=bool(clients.whois_server))
    except AnswerTooLarge as exc:
        raise LookupFailed(f"whois ({registry}) sent an answer too large to read", source="whois") from exc
    except LookupFailed as exc:
        raise LookupFailed(f"whois ({registry}): {exc}", source="whois", temporary=exc.temporary) from exc
    text = raw.decode("utf-8", "replace")
    if "%ERROR:201" in text or "query rate limit exceeded" in text.lower():
        raise RateLimited(f"whois ({registry}) asked us to slow down", source="whois")
    if not text.strip():
        raise LookupFailed(f"whois ({registry}) closed without an answer", source="whois", temporary=True)
    return text


def _objects(text: str) -> list[list[tuple[str, str]]]:
    objects: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            if current:
                objects.append(current)
                current = []
            continue
        if line.startswith(("%", "#")):
            m = _ABUSE_COMMENT_RE.match(line)
            if m:
                objects.append([("abuse-comment", m.group(1))])
            continue
        key, sep, value = line.partition(":")
        if sep and key and " " not in key.strip():
            current.append((clean_text(key).lower(), clean_text(value)))
    if current:
        objects.append(current)
    return objects


def _range(value: str) -> tuple[str, str, tuple[str, ...]]:
    value = value.split(",")[0].strip()
    try:
        if " - " in value:
            a, b = (ipaddress.ip_address(x.strip()) for x in value.split(" - ", 1))
            cidrs = tuple(str(n) for n in ipaddress.summarize_address_range(a, b))
            return str(a), str(b), cidrs
        prefix, _, length = value.partition("/")
        if ":" not in prefix and 0 < prefix.count(".") < 3:  # LACNIC writes 200.57.128/19
            prefix += ".0" * (3 - prefix.count("."))
        net = ipaddress.ip_network(f"{prefix}/{length}" if length else prefix, strict=False)
        return str(net[0]), str(net[-1]), (str(net),)
    except (ValueError, TypeError):
        return "", "", ()


def _holds(first: str, last: str, ip: str) -> bool:
    a, b, x = (ipaddress.ip_address(v) for v in (first, last, ip))
    return a.version == x.version == b.version and int(a) <= int(x) <= int(b)


def parse_whois(text: str, registry: str, ip: str = "") -> Network:
    """A :class:`Network` from a port-43 answer. Raises LookupFailed when it holds no network."""
    objects = _objects(text)
    start = end = handle = name = country = org = ""
    cidrs: tuple[str, ...] = ()
    size = -1
    others = ""
    for obj in objects:
        keys = dict(reversed(obj))  # first value of each key
        net_key = next((k for k in _NET_KEYS if k in keys), "")
        if not net_key:
            continue
        first, last, ranges = _range(keys[net_key])
        if not first:
            continue
        span = int(ipaddress.ip_address(last)) - int(ipaddress.ip_address(first))
        if ip and not _holds(first, last, ip):
            others = others or f"{first} - {last}"
            continue
        if size < 0 or span < size:  # the most specific (ARIN lists the allocation before reassignments)
            start, end, cidrs, size = first, last, ranges, span
            handle = keys.get("nethandle", keys[net_key])
            name = keys.get("netname", "")
            country = keys.get("country", "")[:2].upper()
            org = keys.get("orgname", keys.get("owner", keys.get("descr", "")))
    if not start:
        if others:
            raise LookupFailed(f"whois answer is for {others}, not for {ip}", source="whois")
        raise LookupFailed("whois answer holds no network (no match)", source="whois")
    abuse_handles = {v.upper() for obj in objects for k, v in obj if k == "abuse-c"}
    entities: list[RegistryEntity] = []
    for obj in objects:
        kind_key, first = obj[0]
        named = first if kind_key in ("irt", "role", "person") else ""
        ent_handle = dict(reversed(obj)).get("nic-hdl", named)
        abuse, other, remarks = [], [], []
        for key, value in obj:
            if key in _SKIP_KEYS:
                continue
            found = _EMAIL_RE.findall(value)
            if key in _ABUSE_KEYS or key == "abuse-comment":
                abuse.extend(found)
            elif key in ("remarks", "descr", "comment"):
                remarks.extend(found)
            else:
                other.extend(found)
        is_abuse = kind_key == "irt" or (ent_handle.upper() in abuse_handles and ent_handle)
        if is_abuse:
            abuse, other = abuse + other, []
        for emails, roles in ((abuse, ("abuse",)), (other, ("contact",)), (remarks, ("remarks",))):
            if emails:
                ent_name = org if kind_key.startswith("org") else ""
                entities.append(RegistryEntity(handle=ent_handle, name=ent_name, kind=kind_key, roles=roles,
                                               emails=tuple(dict.fromkeys(emails))))
    return Network(registry=registry, handle=handle, name=name, cidrs=cidrs, start=start, end=end,
                   country=country, org=org or name, asn=None, as_name="", entities=tuple(entities),
                   source="whois", url="")
