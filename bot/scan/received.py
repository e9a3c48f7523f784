"""Mail headers kept with ``-r``: the ``Received:`` chain of each message is read as a chain.

Each server that handles a message adds a Received line at the top, naming the host that handed the
message to it (``from HELO (rdns [ADDR])``) and itself (``by NAME``). The lines our own servers wrote
are the only ones we can trust: everything below them was written by the sender's side and can be
forged. So, as SpamCop reads a message, the chain is walked from the top while the handing host is
one of ours (own networks, own host names, or a private address: an internal relay); the first hop
handed over by somebody else is the source, and the Received lines below it count for nothing. When
own host names are configured, the walk also stops at a line whose ``by`` is not one of them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from bot.scan.addresses import find

_FROM = re.compile(r"(?i)^received:\s*from\s+(.*?)(?:\s+by\s+(\S+)|;|$)")
_HELO = re.compile(r"(?i)\b(?:helo|ehlo)[=\s]+\S+")
_FIRST_WORD = re.compile(r"^\S+")
_HEADER = re.compile(r"^[!-9;-~]+:")
_RECEIVED = re.compile(r"(?i)received:")

# Private, loopback, link-local, CGNAT and unique-local space: the addresses of internal relays.
_INTERNAL = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
    "::1/128", "fc00::/7", "fe80::/10"))


class Hop(NamedTuple):
    """The Received line a source was read from."""

    ip: str
    text: str           # the whole header, continuation lines joined
    date: str           # what follows its last ";" (an RFC 5322 date)


def internal(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr.version == n.version and addr in n for n in _INTERNAL)


def handing_address(header: str) -> tuple[str | None, str]:
    """The address of the host that handed the message over, and the ``by`` host name."""
    m = _FROM.match(" ".join(header.split()))
    if m is None:
        return None, ""
    clause, by = m.group(1), (m.group(2) or "").rstrip(";").lower()
    # the first word after "from" is the name the client gave in HELO, unless it is "[ADDR]" (exim)
    first = _FIRST_WORD.match(clause)
    if first and not first.group(0).startswith("["):
        clause = " " * first.end() + clause[first.end():]
    clause = _HELO.sub(lambda h: " " * len(h.group(0)), clause)
    found = find(clause)
    return (found[-1].ip if found else None), by


@dataclass
class Chain:
    """The Received headers of the message being read (top first)."""

    ours: Callable[[str], bool]                 # an address of ours (own networks)
    own_names: tuple[str, ...]                  # own host names (lower case)
    headers: list[str] = field(default_factory=list)
    current: list[str] | None = None
    start: int = 0                              # input position of the message's first Received line

    @property
    def open(self) -> bool:
        return self.current is not None or bool(self.headers)

    def take(self, line: str, pos: int) -> tuple[bool, bool]:
        """Read ``line`` (input position ``pos``): (it was a Received header or its continuation,
        it ended the message's header block)."""
        if _RECEIVED.match(line):
            self.begin(line, pos)
            return True, False
        if self.continues(line):
            return True, False
        return False, self.open and self.ends_block(line)

    def begin(self, line: str, pos: int) -> None:
        """A Received header starts at ``line`` (input position ``pos``)."""
        self._close_header()
        if not self.headers:
            self.start = pos
        self.current = [line.strip()]

    def continues(self, line: str) -> bool:
        """Takes ``line`` if it continues the header being read (folded header line)."""
        if self.current is not None and line[:1] in (" ", "\t") and line.strip():
            self.current.append(line.strip())
            return True
        return False

    def ends_block(self, line: str) -> bool:
        """``line`` ends the message's header block: a blank line or a line that is no header."""
        self._close_header()
        return not line.strip() or not _HEADER.match(line)

    def _close_header(self) -> None:
        if self.current is not None:
            self.headers.append(" ".join(self.current))
            self.current = None

    def source(self) -> Hop | None:
        """The hop that handed the message to our servers; the chain is reset."""
        self._close_header()
        headers, self.headers = self.headers, []
        reached = not self.own_names        # the topmost line written by one of our servers
        for header in headers:
            ip, by = handing_address(header)
            if self.own_names:
                mine = bool(by) and self._our_name(by)
                if not reached:
                    reached = mine
                    if not mine:
                        continue    # above our servers (a local delivery step)
                elif not mine:
                    return None     # below our servers: written by somebody else
            if ip is None:
                continue
            if self.ours(ip) or internal(ip):
                continue            # an internal hop: the next line down is still ours
            return Hop(ip, header, header.rsplit(";", 1)[1].strip() if ";" in header else "")
        return None

    def _our_name(self, by: str) -> bool:
        by = by.strip("[]().").lower()
        found = find(by)
        if found and found[0].start == 0:
            return self.ours(found[0].ip)
        return any(by == n or by.endswith("." + n) for n in self.own_names)
