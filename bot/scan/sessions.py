"""Session correlation: a ``program[pid]`` line without an address belongs to its process's session.

sshd writes ``Disconnecting: Too many authentication failures [preauth]`` with no address: the
process that wrote it had written its peer's address on earlier lines. A session is the run of lines
of one program and pid; its address is the attacker side of its latest line that named one. The
address of a session is not used when the pid's lines went back to an address they had left
(``A``, ``B``, ``A``): sessions interleaved under one pid, so an address-less line could be either's.
A pid used again later (a new connection) simply starts a new address.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice, repeat

SESSIONS_MAX = 20_000        # sessions remembered; the oldest quarter goes when full
# "host sshd[4242]:", "postfix/smtpd[77]:"
_SESSION = re.compile(r"(?:^|\s)([\w.\-/]+?)\[(\d{1,10})\]:\s")


def session_of(line: str) -> tuple[str, int] | None:
    """The program[pid] tag of a line: its program (sshd-session, OpenSSH 9.8's name for a
    connection's process, is sshd) and which "]:" of the line ends it."""
    m = _SESSION.search(line, 0, 160)
    if m is None:
        return None
    prog = m.group(1).rsplit("/", 1)[-1]
    if prog.startswith("sshd"):
        prog = "sshd"
    return prog, line.count("]:", 0, m.end(2))


def tag(line: str, session: tuple[str, int]) -> str | None:
    """The session tag ("sshd[4242") of a line of a known shape."""
    end = -1
    for _ in range(session[1] + 1):
        end = line.find("]:", end + 1)
        if end < 0:
            return None
    return session[0] + line[line.rfind("[", 0, end):end]


class Sessions:
    """The address of each open session: tag -> (address, the one before it); "" when unusable."""

    def __init__(self) -> None:
        self.state: dict[str, tuple[str, str]] = {}

    def address(self, tag: str, ip: str) -> None:
        """A line of session ``tag`` names ``ip`` as its attacker side."""
        state = self.state
        old = state.get(tag)
        if old is None:
            if len(state) >= SESSIONS_MAX:
                for stale in list(state)[:SESSIONS_MAX // 4]:
                    del state[stale]
            state[tag] = (ip, "")
        elif old[0] == ip or not old[0]:
            return
        elif old[1] == ip:
            state[tag] = ("", "")           # back to an address it had left: interleaved
        else:
            state[tag] = (ip, old[0])

    def owner(self, tag: str) -> str | None:
        """The address an address-less line of session ``tag`` counts for, if any."""
        known = self.state.get(tag)
        return known[0] if known is not None and known[0] else None

    def addresses(self, positions: list[int], tags: list[str], ips: list[str]) -> None:
        """Many address lines at once (``positions`` give their input order)."""
        last = dict(zip(tags, ips, strict=True))
        multi: set[str] = set()
        if len(set(zip(tags, ips, strict=True))) != len(last):
            multi = {t for t, n in Counter(t for t, _ in set(zip(tags, ips, strict=True))).items() if n > 1}
        state = self.state
        known = last.keys() & state.keys()
        fresh = [t for t in last if t not in known and t not in multi]
        state.update(zip(fresh, zip(map(last.__getitem__, fresh), repeat("")), strict=False))
        for t in known:
            if t not in multi:
                self.address(t, last[t])
        if multi:
            for _, t, ip in sorted(e for e in zip(positions, tags, ips, strict=True) if e[1] in multi):
                self.address(t, ip)
        if len(state) > SESSIONS_MAX:
            for stale in list(islice(state, len(state) - SESSIONS_MAX * 3 // 4)):
                del state[stale]


@dataclass
class SessionEvents:
    """The session events of a batched chunk: (position, tag, address) of address lines (also as
    columns: lists of positions, tags, addresses), (position, tag, line) of address-less lines."""

    addresses: list[tuple[int, str, str]] = field(default_factory=list)
    columns: list[tuple[list[int], list[str], list[str]]] = field(default_factory=list)
    lines: list[tuple[int, str, str]] = field(default_factory=list)
