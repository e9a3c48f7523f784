"""The per-line work of a scan: one implementation for every input, a pasted excerpt or a 1 GB file.

Every line goes through the same rules (``roles``: client-chosen fields give no role, the daemon's
own fields score by notation). They are costly, and a log repeats a few line shapes millions of
times, so their result is kept per *shape*: the line's bytes without their digits and month names.
For a line whose shape is known, the addresses are taken with two fast patterns
(``addresses.TOKENS4``, ``TOKENS6``) and checked against what the shape recorded (the same tokens,
the same ones valid); anything else is worked out in full (``addresses.find`` +
``roles.plan_line``), under a second key (the line with its addresses taken out) so that a log of
rotating IPv6 addresses still reuses the role rules. Both caches are bounded.

Also here: session correlation (a ``program[pid]`` line without an address counts for the address
of its session, when that is one address) and the ``Received:`` chain of mail headers (``received``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from bot.config import ScanConfig
from bot.errors import InputError
from bot.scan import addresses, roles
from bot.scan.addresses import Found
from bot.scan.ranking import OwnNetworks, clip, is_global
from bot.scan.received import Chain
from bot.scan.sessions import Sessions, session_of, tag
from bot.scan.tally import Counts
from bot.scan.timestamps import Clock, zone

RECEIVED = "Received:"
_DIGITS = b"0123456789"
_MAYBE = re.compile(r"\d\.\d|:[0-9A-Fa-f]*:")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RECEIVED_HEAD = re.compile(r"(?i)received:")
SHAPES_MAX = 20_000          # cached line shapes (each also under its address-free key)
EVIDENCE_REFS_MAX = 2_000_000   # evidence line references kept over all addresses (line path)


class Shape(NamedTuple):
    """What a line shape says: its tokens, which of them are addresses, and their roles."""

    n4: int
    n6: int
    invalid: tuple[int, ...]            # tokens (TOKENS4 then TOKENS6) that were no address at all
    picks: tuple[int, ...]              # per address (find() order): its token
    own_named: tuple[bool, ...]         # per address: written after an own host name
    plan: roles.Plan | None             # None: no address on the line
    session: tuple[str, int] | None     # a program[pid] tag: (program, its "]:" is the n-th)


_SLOW = Shape(-1, -1, (), (), (), None, None)
# IPv6 tokens' bodies (after their first group) are masked in the shape key: their hex letters would
# otherwise make each address a shape of its own.
_V6_BODY = re.compile(addresses.TOKENS6.pattern.encode())


# Month names, and the day's padding after them: a log's lines differ by date, not by shape.
_MONTH = re.compile(rb"(?<![A-Za-z])(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)(?![a-z]) ?")


def undated(key: bytes) -> bytes:
    """A line's key (its bytes without digits) without month names."""
    return _MONTH.sub(b"\x01", key)


def plain_keys(data: bytes) -> list[bytes]:
    """The shape key of each line of ``data``: the line without digits and month names."""
    return _MONTH.sub(b"\x01", data.translate(None, _DIGITS)).split(b"\n")


def shape_keys(data: bytes) -> list[bytes]:
    """plain_keys, also without IPv6 tokens' bodies."""
    if b":" in data:
        data = _V6_BODY.sub(b":~", data)
    return plain_keys(data)


_F4 = addresses.TOKENS4.findall
_F6 = addresses.TOKENS6.findall


_V4 = addresses.token_value
_PARSE = addresses.parse_token


class Engine:
    """State of one scan (or one part of a big input); never shared between scans."""

    def __init__(self, cfg: ScanConfig, *, select: str | None = None, keep_received: bool = False,
                 now: datetime | None = None, keep_lines: bool = True, times: bool = True,
                 capacity: int | None = None) -> None:
        self.keep = max(0, cfg.excerpt_lines) if keep_lines else 0
        self.times = times
        self.keep_received = keep_received
        self.own = OwnNetworks(cfg.own_networks, cfg.own_hostnames)
        names = [h for h in cfg.own_hostnames if addresses.normalise(h) is None]
        # "fw1.mydomain.com[1.2.3.4]": a whole name (or a subdomain of it), not "notmydomain.com"
        alts = "|".join(re.escape(h) for h in names)
        self.own_names = re.compile(r"(?i)(?<![\w-])(?:" + alts + r")\s*[\[(]\s*$") if names else None
        own = self.own
        self.own_any = bool(cfg.own_networks or cfg.own_hostnames)
        self.trusted: Callable[[str], bool] = lambda ip: ip in own or not is_global(ip)
        self.clock = Clock(zone(cfg.timezone), now)
        self.counts = Counts(capacity)     # (None: tally.DEFAULT_CAPACITY)
        self.lines_read = 0
        self.lines_used = 0
        self.skipped_received = 0
        self.nonblank = False
        self.evidence_refs = 0
        self.fields: tuple[str, ...] = ()
        self.shapes: dict[bytes, Shape] = {}
        self.plans: dict[str, roles.Plan] = {}
        self.sessions = Sessions()
        # while a chunk is batched (batch.py): its session events, applied in input order at its end
        self.events: SessionEvents | None = None
        self.session_programs: set[str] = set()   # (batched chunks) programs whose sessions matter
        self.token_values: dict[object, tuple[str, int | None] | None] = {}   # (batch.py)
        self.chain = Chain(lambda ip: ip in own, tuple(n.lower() for n in names)) if keep_received else None
        self.selected_ip: str | None = None
        self.select_string: str | None = None
        self.needle: re.Pattern[str] | None = None
        if select:
            ip = addresses.normalise(select)
            if ip is not None:
                if ip in self.own:
                    raise InputError(f"{select} is in your own networks (config scan.own_networks)")
                self.selected_ip = ip
                # A quick test before parsing a line: its IPv4 text, leading zeros allowed
                # ("010.001.002.003"). IPv6 has too many spellings: addresses.find decides.
                if ":" not in ip:
                    self.needle = re.compile(r"(?<!\d)" + r"\.".join(f"0{{0,2}}{o}" for o in ip.split("."))
                                             + r"(?!\d)")
            else:
                self.select_string = select

    # --- feeding -------------------------------------------------------------------------------

    def feed_lines(self, lines: Iterable[str], pos: int = 0) -> int:
        """Scan ``lines`` (text, without their line ends or with them); ``pos`` is the input position
        of the first. Returns the position after the last."""
        feed = self.line
        for line in lines:
            key = shape_keys(line.encode("utf-8", "surrogatepass"))[0]
            feed(line, key, pos)
            pos += 1
        return pos

    def feed_chunk(self, data: bytes, pos: int) -> None:
        """Scan ``data`` (whole lines, terminal colours removed) that starts at input byte ``pos``.
        A line's position is ``pos`` plus its index: increasing over the input, as the next chunk
        starts at least as many bytes further as this one has lines."""
        keys = shape_keys(data)
        lines = data.decode("utf-8", "replace").split("\n")
        if data.endswith(b"\n"):
            keys.pop()
            lines.pop()
        feed = self.line
        if self.keep_received or self.selected_ip is not None or self.select_string is not None \
                or self.fields or b"#Fields:" in data:
            for i, line in enumerate(lines):
                feed(line, keys[i], pos + i)
            return
        # The common case, with line() inlined: no selector, no W3C header, no mail headers kept.
        if not self.nonblank and data.strip():
            self.nonblank = True
        shapes = self.shapes
        known = self._known
        full = self._full
        skipped = 0
        for i, line in enumerate(lines):
            if RECEIVED in line:
                skipped += 1
                continue
            key = keys[i]
            shape = shapes.get(key)
            if shape is None or shape is _SLOW or not known(line, shape, pos + i):
                full(line, key, pos + i, shape is None)
        self.lines_read += len(lines)
        self.skipped_received += skipped

    def line(self, line: str, key: bytes, pos: int) -> None:
        """Scan one line (``key``: its bytes without digits; ``pos``: its input position)."""
        self.lines_read += 1
        if not self.nonblank and line.strip():
            self.nonblank = True
        if RECEIVED in line or (self.chain is not None and self.chain.open):
            if not self.keep_received:
                self.skipped_received += 1
                return
            if self._received(line, pos):
                return
        if line.startswith("#Fields:"):     # W3C extended log header (IIS): names the columns
            fields = tuple(line[8:].split())
            if fields != self.fields:
                self.fields = fields
                self.shapes.clear()
                self.plans.clear()
        if self.select_string is not None and self.select_string not in line:
            return
        if self.selected_ip is not None:
            self._selected(line, pos)
            return
        shape = self.shapes.get(key)
        if shape is None or shape is _SLOW or not self._known(line, shape, pos):
            self._full(line, key, pos, shape is None)

    def _known(self, line: str, shape: Shape, pos: int) -> bool:
        """Scan a line of a known shape; False if its tokens do not fit the shape after all."""
        n4 = shape.n4
        if n4 == 0 and shape.n6 == 0:
            if _MAYBE.search(line):
                return False
            self.lines_used += 1
            if shape.session:
                self._session_line(line, shape.session, pos)
            return True
        # A family the shape has no token of is not looked for: the line has the shape's non-digit
        # text, so only digits could make such a token appear, and only where the daemon did not
        # write an address (there the learnt line had one): in text the client chose.
        if n4:
            t4 = _F4(line)
            if len(t4) != n4:
                return False
        else:
            t4 = []
        if shape.n6:
            t6 = _F6(line)
            if len(t6) != shape.n6:
                return False
        else:
            t6 = []
        for i in shape.invalid:
            if (_V4(t4[i], False) if i < n4 else _V4(t6[i - n4], True)) is not None:
                return False
        parsed = []
        for i in shape.picks:
            if i < n4:
                g = t4[i]
                p = _PARSE((g[0] or g[1] or g[2]) + "." + g[3])
                port = g[4] or g[5]
            else:
                g = t6[i - n4]
                p = _PARSE((g[0] or g[1] or g[2] or g[3]) + ":" + g[4])
                port = g[5] or g[6]
            if p is None:
                return False
            parsed.append((p[0], int(port)) if port else p)
        self.lines_used += 1
        if shape.plan is None:
            if shape.session:
                self._session_line(line, shape.session, pos)
            return True
        self._count(line, parsed, shape.plan, shape.own_named, shape.session, pos)
        return True

    # --- the full path -------------------------------------------------------------------------

    def _full(self, line: str, key: bytes, pos: int, learn: bool) -> None:
        if not _MAYBE.search(line):
            self.lines_used += 1
            shape = Shape(0, 0, (), (), (), None, session_of(line))
            if learn:
                self._learn(key, shape)
            if shape.session:
                self._session_line(line, shape.session, pos)
            return
        if "\x1b" in line:
            line = _ANSI.sub("", line)      # terminal colours (Gitea, Docker logs) are not text
        found = addresses.find(line)
        self.lines_used += 1
        session = session_of(line)
        if not found:
            if learn:
                spans = _token_spans(line)
                n4 = sum(1 for sp in spans if not sp[3])
                invalid = tuple(i for i, sp in enumerate(spans) if sp[2] is None)
                self._learn(key, Shape(n4, len(spans) - n4, invalid, (), (), None, session))
            if session:
                self._session_line(line, session, pos)
            return
        own_named = tuple(self._after_own_name(line, f) for f in found)
        plan = self._plan(line, found)
        if learn:
            self._learn(key, self._shape(line, found, own_named, plan, session))
        self._count(line, [(f.ip, f.port) for f in found], plan, own_named, session, pos)

    def _plan(self, line: str, found: list[Found]) -> roles.Plan:
        """The roles of a line's addresses, cached by the line without digits and addresses."""
        parts = []
        at = 0
        for f in found:
            parts.append(line[at:f.start])
            at = f.end
        parts.append(line[at:])
        masked = "\0".join(parts).translate(_NO_DIGITS)
        plan = self.plans.get(masked)
        if plan is None:
            if len(self.plans) >= SHAPES_MAX:
                self.plans.clear()
            plan = self.plans[masked] = roles.plan_line(line, found, self.fields)
        return plan

    def _shape(self, line: str, found: list[Found], own_named: tuple[bool, ...], plan: roles.Plan,
               session: tuple[str, int] | None) -> Shape:
        """The shape of a line whose addresses its tokens give exactly, else _SLOW."""
        spans = _token_spans(line)
        n4 = sum(1 for s in spans if not s[3])
        parsed = [sp[2] for sp in spans]
        picks: list[int] = []
        for f in found:
            k = next((i for i, (a, b, _, _) in enumerate(spans)
                      if a < f.end and f.start < b and parsed[i] == (f.ip, f.port) and i not in picks), None)
            if k is None:
                return _SLOW
            picks.append(k)
        return Shape(n4, len(spans) - n4, tuple(i for i, p in enumerate(parsed) if p is None), tuple(picks),
                     own_named, plan, session)

    def _learn(self, key: bytes, shape: Shape) -> None:
        if len(self.shapes) >= SHAPES_MAX:
            self.shapes.clear()
        self.shapes[key] = shape

    def _after_own_name(self, line: str, f: Found) -> bool:
        return self.own_names is not None and bool(self.own_names.search(line, 0, f.start))

    def _selected(self, line: str, pos: int) -> None:
        """With an IP named, only the lines that write it are used."""
        if self.needle is not None and self.needle.search(line) is None:
            return
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        found = addresses.find(line)
        if not any(f.ip == self.selected_ip for f in found):
            return
        self.lines_used += 1
        own_named = tuple(self._after_own_name(line, f) for f in found)
        self._count(line, [(f.ip, f.port) for f in found], self._plan(line, found), own_named, None, pos)

    # --- counting ------------------------------------------------------------------------------

    def _count(self, line: str, found: list[tuple[str, int | None]], plan: roles.Plan,
               own_named: tuple[bool, ...], session: tuple[str, int] | None, pos: int) -> None:
        """Count one line whose addresses are ``found`` ((address, port), in written order)."""
        top = plan.fixed
        scores: Sequence[int] = plan.scores
        if top is None:
            scores = roles.resolve(plan, [Found(ip, 0, 0, port) for ip, port in found], self.trusted)
            top = roles.best(scores)
        when = self.clock.parse(line) if self.times else None
        keep = self.keep
        text: str | None = None
        seen: list[str] = []
        own = self.own if self.own_any else ()
        tallies = self.counts.tallies
        top_ip = found[top][0] if top >= 0 else None
        i = -1
        for ip, _ in found:
            i += 1
            if own_named[i] or ip in seen or ip in own:
                continue
            seen.append(ip)
            t = tallies.get(ip)
            if t is None:
                t = self.counts.get(ip, pos)
            elif t.first_pos > pos:         # a batched chunk (batch.py) is not counted in input order
                t.first_pos = pos
            t.count += 1
            if ip == top_ip:
                t.source_count += 1
            elif scores[i] <= -2:
                t.dest_count += 1
            if when is not None:
                t.seen(when)
            if keep and (t.lines is None or len(t.lines) < keep) and self.evidence_refs < EVIDENCE_REFS_MAX:
                if text is None:
                    text = clip(line.rstrip("\r\n"))
                if t.lines is None:
                    t.lines = []
                t.lines.append(text)
                self.evidence_refs += 1
        if session is not None and top_ip is not None and top_ip in seen:
            self._session_address(line, session, top_ip, pos)

    def _session_address(self, line: str, session: tuple[str, int], ip: str, pos: int) -> None:
        t = tag(line, session)
        if t is not None:
            if self.events is not None:
                self.events.addresses.append((pos, t, ip))
            else:
                self.sessions.address(t, ip)

    def _session_line(self, line: str, session: tuple[str, int], pos: int) -> None:
        t = tag(line, session)
        if t is not None:
            if self.events is not None:
                self.events.lines.append((pos, t, line))
            else:
                self.session_line(t, line)

    def session_line(self, tag: str, line: str) -> None:
        """A line without an address, of a session whose address is known: it counts for it."""
        ip = self.sessions.owner(tag)
        t = self.counts.tallies.get(ip) if ip is not None else None
        if t is None:
            return
        t.count += 1
        t.source_count += 1
        if self.times:
            t.seen(self.clock.parse(line))
        if self.keep and (t.lines is None or len(t.lines) < self.keep) \
                and self.evidence_refs < EVIDENCE_REFS_MAX:
            if t.lines is None:
                t.lines = []
            t.lines.append(clip(line.rstrip("\r\n")))
            self.evidence_refs += 1

    def replay_sessions(self) -> None:
        """Apply the session events a batched chunk collected, in input order."""
        events, self.events = self.events, None
        if events is None:
            return
        pos: list[int] = [p for p, _, _ in events.addresses]
        tags: list[str] = [t for _, t, _ in events.addresses]
        ips: list[str] = [ip for _, _, ip in events.addresses]
        for p_col, t_col, ip_col in events.columns:
            pos += p_col
            tags += t_col
            ips += ip_col
        if not events.lines:
            if tags:
                self.sessions.addresses(pos, tags, ips)
            return
        merged = sorted([(p, t, ip, "") for p, t, ip in zip(pos, tags, ips, strict=True)]
                        + [(p, t, "", line) for p, t, line in events.lines])
        for _, t, ip, line in merged:
            if ip:
                self.sessions.address(t, ip)
            else:
                self.session_line(t, line)

    def _received(self, line: str, pos: int) -> bool:
        """-r: a Received header is read with its chain. True when ``line`` was taken."""
        chain = self.chain
        assert chain is not None
        if _RECEIVED_HEAD.match(line):
            self.lines_used += 1
            chain.begin(line, pos)
            return True
        if chain.continues(line):
            self.lines_used += 1
            return True
        if chain.open and chain.ends_block(line):
            self.finish_chain(pos)
        return False

    def finish_chain(self, pos: int) -> None:
        """Count the source of the message whose headers were being read, if any."""
        if self.chain is None or not self.chain.open:
            return
        start = self.chain.start
        hop = self.chain.source()
        if hop is None or hop.ip in self.own:
            return
        t = self.counts.get(hop.ip, start)
        t.count += 1
        t.source_count += 1
        if self.times:
            t.seen(self.clock.parse_rfc5322(hop.date))
        if self.keep and (t.lines is None or len(t.lines) < self.keep):
            if t.lines is None:
                t.lines = []
            t.lines.append(clip(hop.text))


_NO_DIGITS = str.maketrans("", "", "0123456789")


@dataclass
class SessionEvents:
    """The session events of a batched chunk: (position, tag, address) of address lines (also as
    columns: lists of positions, tags, addresses), (position, tag, line) of address-less lines."""

    addresses: list[tuple[int, str, str]] = field(default_factory=list)
    columns: list[tuple[list[int], list[str], list[str]]] = field(default_factory=list)
    lines: list[tuple[int, str, str]] = field(default_factory=list)


def _token_spans(line: str) -> list[tuple[int, int, tuple[str, int | None] | None, bool]]:
    """(start, end, (address, port) or None, is IPv6) of the tokens of ``line``, in the order the
    scan takes them (TOKENS4, then TOKENS6)."""
    out = []
    if "." in line:
        for m in addresses.TOKENS4.finditer(line):
            head = m.group(1) or m.group(2) or m.group(3) or ""
            out.append((m.start() - len(head), m.end(), addresses.token_value(m.groups(), False), False))
    if ":" in line:
        for m in addresses.TOKENS6.finditer(line):
            head = m.group(1) or m.group(2) or m.group(3) or m.group(4) or ""
            out.append((m.start() - len(head), m.end(), addresses.token_value(m.groups(), True), True))
    return out
