"""The recorded registry answers in tests/data/fixtures, indexed for the sandbox servers.

Reads the INDEX.json files once (about a millisecond) and offers lookups by host+path, by
address (the most specific recorded network holding it), the IANA bootstrap files, and the
recorded port-43 texts. Nothing here opens a socket.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
BOOTSTRAP_FILES = ("ipv4.json", "ipv6.json", "asn.json", "dns.json", "object-tags.json")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, content type and body bytes."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Network:
    """An address range some registry answers for, with the answer it gives."""

    version: int
    first: int
    last: int
    host: str              # the RDAP host that answers for it (rdap.arin.net...)
    answer: Answer
    label: str             # fixture file name, or "synthetic:<handle>"

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def holds(self, version: int, first: int, last: int) -> bool:
        return version == self.version and self.first <= first and last <= self.last


@dataclass(frozen=True)
class WhoisText:
    """A recorded port-43 answer and the most specific range it describes."""

    query: str
    text: bytes
    ranges: tuple[tuple[int, int, int], ...]   # (version, first, last): the range it describes


def parse_address(text: str) -> IPAddress:
    """An address as registries write it: leading zeros ('074.125.000.000'), a bogus '/32'
    suffix (RIPE 2015), upper-case hex."""
    text = text.strip().split("/")[0]
    if ":" not in text and "." in text:
        text = ".".join(str(int(part)) for part in text.split("."))
    return ipaddress.ip_address(text)


def parse_query(text: str) -> tuple[int, int, int] | None:
    """(version, first, last) for an address or CIDR query, None if it is neither."""
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            return net.version, int(net.network_address), int(net.broadcast_address)
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return addr.version, int(addr), int(addr)


@dataclass
class Recorded:
    """Everything read from tests/data/fixtures."""

    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    prefix_routes: list[tuple[str, str, Answer]] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    bootstrap: dict[str, Answer] = field(default_factory=dict)
    whois: list[WhoisText] = field(default_factory=list)
    index: dict[str, dict[str, object]] = field(default_factory=dict)

    def route(self, host: str, path: str) -> Answer | None:
        """The recorded answer for exactly this host+path (domain names case-insensitively)."""
        found = self.routes.get((host, path)) or self.routes.get((host, path.lower()))
        if found is not None:
            return found
        for phost, prefix, answer in self.prefix_routes:
            if phost == host and path.startswith(prefix):
                return answer
        return None

    def bootstrap_services(self, name: str) -> list[tuple[list[str], list[str]]]:
        data = json.loads(self.bootstrap[name].body)
        return [(entry[0], entry[1]) for entry in data["services"]]


def _load_answer(path: Path, status: int = 200, content_type: str = "application/rdap+json") -> Answer:
    return Answer(status=status, content_type=content_type, body=path.read_bytes())


_RANGE_RES = (
    re.compile(r"^(?:NetRange|inetnum|inet6num):\s*(\S+)\s*-\s*(\S+)\s*$", re.M | re.I),
    re.compile(r"^(?:CIDR|inetnum|inet6num):\s*([0-9a-fA-F:.]+/\d+)\s*$", re.M | re.I),
)


def _lacnic_cidr(text: str) -> str:
    """LACNIC writes '200.57.128/19': pad the missing octets."""
    addr, _, length = text.partition("/")
    if ":" not in addr:
        parts = addr.split(".")
        addr = ".".join(parts + ["0"] * (4 - len(parts)))
    return f"{addr}/{length}"


def whois_ranges(text: str) -> list[tuple[int, int, int]]:
    """Every address range named in a port-43 answer, as (version, first, last)."""
    out: list[tuple[int, int, int]] = []
    for match in _RANGE_RES[0].finditer(text):
        try:
            a, b = parse_address(match.group(1)), parse_address(match.group(2))
        except ValueError:
            continue
        out.append((a.version, int(a), int(b)))
    for match in _RANGE_RES[1].finditer(text):
        try:
            net = ipaddress.ip_network(_lacnic_cidr(match.group(1)), strict=False)
        except ValueError:
            continue
        out.append((net.version, int(net.network_address), int(net.broadcast_address)))
    return out


@cache
def load(root: Path = FIXTURES) -> Recorded:
    """Read the fixtures once per process (the result is shared and must not be mutated)."""
    rec = Recorded()
    index = json.loads((root / "rdap" / "INDEX.json").read_text(encoding="utf-8"))["files"]
    rec.index = index
    superseded = {name for name, meta in index.items() if meta.get("older_capture_of")}
    older: list[Network] = []     # served only where no newer recording holds the address
    for name, meta in index.items():
        answer = _load_answer(root / "rdap" / name, int(meta["status"]), str(meta["content_type"]))
        host, path = str(meta["host"]), str(meta["path"])
        if path.endswith("{any}"):
            rec.prefix_routes.append((host, path[: -len("{any}")], answer))
            continue
        keys = [(host, path)] + ([(host, path.lower())] if "/domain/" in path else [])
        for key in keys:
            if name in superseded:
                rec.routes.setdefault(key, answer)    # the newer capture of one URL wins
            else:
                rec.routes[key] = answer
        if meta.get("startAddress") and meta.get("endAddress") and int(meta["status"]) == 200:
            first = parse_address(str(meta["startAddress"]))
            last = parse_address(str(meta["endAddress"]))
            net = Network(first.version, int(first), int(last), host, answer, name)
            (older if name in superseded else rec.networks).append(net)
    rec.networks.extend(older)
    boot_dir = root / "iana-bootstrap"
    for fname in BOOTSTRAP_FILES:
        rec.bootstrap[fname] = _load_answer(boot_dir / fname, 200, "application/json")
    windex = json.loads((root / "whois" / "INDEX.json").read_text(encoding="utf-8"))["files"]
    for name, meta in windex.items():
        raw = (root / "whois" / name).read_bytes()
        query = str(meta["query"])
        target = query.split()[-1]
        parsed = parse_query(target)
        ranges = tuple(whois_ranges(raw.decode("utf-8", "replace")))
        if parsed is not None:
            holding = [r for r in ranges if r[0] == parsed[0] and r[1] <= parsed[1] and parsed[2] <= r[2]]
            if holding:
                ranges = (min(holding, key=lambda r: r[2] - r[1]),)
        rec.whois.append(WhoisText(query=query, text=raw, ranges=ranges))
    return rec


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


def email_domains(rec: Recorded) -> set[str]:
    """Domains of the e-mail addresses the recorded answers name (INDEX.json and whois texts), lower-case."""
    text = json.dumps(rec.index) + "\n".join(w.text.decode("utf-8", "replace") for w in rec.whois)
    return {match.group(1).lower().rstrip(".") for match in _EMAIL.finditer(text)}


def http_hosts(rec: Recorded) -> set[str]:
    """Every host name the bot may fetch from in the sandbox: the hosts of the recorded answers (the
    registrars' among them), the services IANA's bootstrap files name, IANA and ARIN's bootstrap service."""
    hosts = {str(meta["host"]).lower() for meta in rec.index.values()}
    for answer in rec.bootstrap.values():
        for service in json.loads(answer.body).get("services", []):
            for url in service[-1]:
                match = re.match(r"https?://([A-Za-z0-9.-]+)", url)
                if match:
                    hosts.add(match.group(1).lower().rstrip("."))
    return {h for h in hosts if "." in h} | {"data.iana.org", "rdap-bootstrap.arin.net"}


def most_specific(networks: list[Network], host: str | None, version: int, first: int,
                  last: int) -> Network | None:
    """The smallest network (of `host`, or any host if None) holding first..last; on a tie the
    one listed first wins: INDEX.json order, older captures of a URL after every other one."""
    best: Network | None = None
    for net in networks:
        if host is not None and net.host != host:
            continue
        if net.holds(version, first, last) and (best is None or net.size < best.size):
            best = net
    return best
