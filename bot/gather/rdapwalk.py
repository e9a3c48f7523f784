"""Walk a raw RDAP answer ourselves (pure: no network).

ipwhois' own parser misses abuse contacts nested under the registrant organisation (ARIN) and
loses the roles of root entities it re-fetches; reading the answer's entity tree directly keeps
every entity with its roles, e-mail addresses, depth and parent. Registry answers are untrusted
data: every field is type-checked and anything odd is skipped, never raised on.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from bot import registries
from bot.models import Network, RegistryEntity
from bot.text import single_line

# National registries under APNIC, recognised in handles and remarks.
_NIR_WORDS = {r.name: r.key for r in registries.REGISTRIES if r.under == "apnic"}
_NIR_RE = re.compile(r"\b(" + "|".join(_NIR_WORDS) + r")\b")
_MAX_DEPTH = 6
_MAX_ENTITIES = 200
_MAX_TEXT = 300


def registry_name(key: str) -> str:
    return registries.name(key)


def registry_from_url(url: str) -> str:
    """Our registry key for an RDAP URL (``""`` when the host is not a known RIR)."""
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith(".rdap.apnic.net"):  # jpnic.rdap.apnic.net, krnic.rdap.apnic.net...
        return "apnic"
    return registries.RDAP_HOSTS.get(host, "")


def registry_from_answer(data: dict[str, Any]) -> str:
    """The registry that wrote an answer, from its port43 server or its self link."""
    port43 = data.get("port43")
    if isinstance(port43, str) and port43.lower() in registries.WHOIS_HOSTS:
        return registries.WHOIS_HOSTS[port43.lower()]
    for link in _list(data.get("links")):
        if isinstance(link, dict) and link.get("rel") == "self" and isinstance(link.get("href"), str):
            reg = registry_from_url(link["href"])
            if reg:
                return reg
    return ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def clean_text(value: Any, limit: int = _MAX_TEXT) -> str:
    """A registry string as one printable line of at most ``limit`` characters (``""`` if not a string).

    Registry text is untrusted and ends up on terminals, in mails and in chat; a registry field is
    never legitimately longer.
    """
    return single_line(value, limit)


_text = clean_text


def vcard_fields(vcard: Any) -> tuple[str, str, tuple[str, ...]]:
    """(full name, kind, e-mail addresses) of a jCard ``vcardArray``."""
    name, kind = "", ""
    emails: list[str] = []
    if isinstance(vcard, list) and len(vcard) >= 2 and isinstance(vcard[1], list):
        for prop in vcard[1]:
            if not isinstance(prop, list) or len(prop) < 4 or not isinstance(prop[0], str):
                continue
            key, value = prop[0].lower(), prop[3]
            values = value if isinstance(value, list) else [value]
            if key == "fn" and not name:
                name = _text(values[0]) if values else ""
            elif key == "kind" and not kind:
                kind = _text(values[0]).lower() if values else ""
            elif key == "email":
                emails.extend(_text(v) for v in values if _text(v))
    return name, kind, tuple(dict.fromkeys(emails))


def flatten_entities(entities: Any, depth: int = 0, parent: str | None = None,
                     out: list[RegistryEntity] | None = None) -> list[RegistryEntity]:
    """Every entity of the tree, depth-first, with its depth and parent handle."""
    out = [] if out is None else out
    if depth > _MAX_DEPTH:
        return out
    for ent in _list(entities):
        if not isinstance(ent, dict) or len(out) >= _MAX_ENTITIES:
            continue
        name, kind, emails = vcard_fields(ent.get("vcardArray"))
        handle = _text(ent.get("handle"))
        roles = tuple(r.strip().lower() for r in _list(ent.get("roles")) if isinstance(r, str))
        out.append(RegistryEntity(handle=handle, name=name, kind=kind, roles=roles, emails=emails,
                                  depth=depth, parent=parent))
        flatten_entities(ent.get("entities"), depth + 1, handle or name or None, out)
    return out


def detect_nir(data: dict[str, Any]) -> str:
    """The national registry an APNIC answer delegates to (``""`` if none is recognisable)."""
    texts: list[str] = [_text(data.get("name"))]
    for rem in _list(data.get("remarks")):
        if isinstance(rem, dict):
            texts.extend(_text(d) for d in _list(rem.get("description")))
    for ent in flatten_entities(data.get("entities")):
        texts.append(ent.handle)
    for text in texts:
        m = _NIR_RE.search(text.upper())
        if m:
            return _NIR_WORDS[m.group(1)]
    return ""


def _address(value: Any) -> str:
    text = _text(value).split("/")[0]  # old RIPE answers append a bogus "/32"
    if text.count(".") == 3 and ":" not in text:  # old ARIN answers zero-pad: 074.125.000.000
        text = ".".join(str(int(p)) if p.isdigit() else p for p in text.split("."))
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def _cidrs(data: dict[str, Any], start: str, end: str) -> tuple[str, ...]:
    out: list[str] = []
    for item in _list(data.get("cidr0_cidrs")):
        if not isinstance(item, dict):
            continue
        prefix = item.get("v4prefix") or item.get("v6prefix")
        length = item.get("length")
        if isinstance(prefix, str) and isinstance(length, int):
            try:
                out.append(str(ipaddress.ip_network(f"{prefix}/{length}", strict=False)))
            except ValueError:
                continue
    if not out and start and end:
        try:
            first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
            out = [str(n) for n in ipaddress.summarize_address_range(first, last)]
        except (ValueError, TypeError):
            out = []
    return tuple(out[:16])


def _origin_asn(data: dict[str, Any]) -> int | None:
    for key in ("arin_originas0_originautnums",):
        for value in _list(data.get(key)):
            if isinstance(value, int) and value > 0:
                return value
    return None


def network_from_rdap(data: dict[str, Any], *, registry: str, url: str = "") -> Network:
    """A :class:`Network` from an RDAP ``ip network`` answer (already parsed JSON)."""
    start, end = _address(data.get("startAddress")), _address(data.get("endAddress"))
    entities = tuple(flatten_entities(data.get("entities")))
    org = next((e.name for e in entities if "registrant" in e.roles and e.name), "")
    return Network(
        registry=registry,
        handle=_text(data.get("handle")),
        name=_text(data.get("name")),
        cidrs=_cidrs(data, start, end),
        start=start,
        end=end,
        country=_text(data.get("country")).upper()[:2],
        org=org or _text(data.get("name")),
        asn=_origin_asn(data),
        as_name="",
        entities=entities,
        source="rdap",
        url=url,
    )


def contains(network: Network, ip: str) -> bool:
    """Whether ``ip`` lies inside the network's range."""
    try:
        addr = ipaddress.ip_address(ip)
        first, last = ipaddress.ip_address(network.start), ipaddress.ip_address(network.end)
    except ValueError:
        return False
    if not addr.version == first.version == last.version:
        return False
    return int(first) <= int(addr) <= int(last)


def error_text(data: Any) -> str:
    """A short description of an RDAP error body, or ``""`` when it is not one."""
    if not isinstance(data, dict) or "errorCode" not in data:
        return ""
    title = _text(data.get("title"))
    return f"error {data.get('errorCode')}{': ' + title if title else ''}"[:200]
