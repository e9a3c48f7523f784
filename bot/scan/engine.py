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
from datetime import datetime
from functools import lru_cache

from bot import models
from bot.config import ScanConfig
from bot.errors import InputError
from bot.scan import addresses, roles
from bot.scan.addresses import Found
from bot.scan.ranking import OwnNetworks, clip, is_global
from bot.scan.received import Chain
from bot.scan.sessions import SessionEvents, Sessions, session_of, tag
from bot.scan.shapes import _SLOW, Shape, shape_keys, shape_of, token_spans
from bot.scan.tally import Counts, Tally
from bot.scan.timestamps import Clock, zone

RECEIVED = "Received:"
_MAYBE = re.compile(r"\d\.\d|:[0-9A-Fa-f]*:")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SHAPES_MAX = 20_000          # cached line shapes (each also under its address-free key)
EVIDENCE_REFS_MAX = 2_000_000   # evidence line references kept over all addresses (line path)
# A line naming more addresses than this is a list, not one event, or a line written to pick who is
# accused (padding the real peer with a crowd) or to make the scan slow (reading roles is quadratic
# in a line's addresses): it is not used, like a line with no address. (Defined beside ScanResult,
# whose message quotes it.)
LIST_LINE = models.LIST_LINE
# A JSON document printed over several lines (an EDR or SIEM alert pasted as it was shown) is one
# record: a line that is only "{" opens it, and its lines are read as one line once the
# brackets close, so that its keys are compared with each other ("computer_ip" beside
# "attack_source"). A record longer than these is read line by line after all.
RECORD_LINES = 500
RECORD_CHARS = 1 << 20
RECORD_OPEN = "{"      # the whole line, bar its line end
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
        # (asked per line of a shape whose roles depend on values: remembered per address)
        self.trusted: Callable[[str], bool] = lru_cache(maxsize=1 << 16)(
            lambda ip: ip in own or not is_global(ip))
        self.clock = Clock(zone(cfg.timezone), now)
        self.counts = Counts(capacity)     # (None: tally.DEFAULT_CAPACITY)
        self.lines_read = 0
        self.lines_used = 0
        self.skipped_received = 0
        self.ambiguous = 0       # lines whose peer field the client may have written (roles.Plan)
        self.crowded = 0         # lines naming more than LIST_LINE addresses
        self.nonblank = False
        self.evidence_refs = 0
        self.credited = 0        # lines counted for an address they do not write (_credit)
        self.fields: tuple[str, ...] = ()
        self.shapes: dict[bytes, Shape] = {}
        self.plans: dict[str, roles.Plan] = {}
        self.sessions = Sessions()
        self.record: list[tuple[str, bytes, int]] = []    # the lines of an open JSON record
        self.record_depth = 0
        self.record_chars = 0
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
        for i, line in enumerate(lines):
            feed(line, keys[i], pos + i)

    def line(self, line: str, key: bytes, pos: int) -> None:
        """Scan one line (``key``: its bytes without digits; ``pos``: its input position)."""
        self.lines_read += 1
        if not self.nonblank and line.strip():
            self.nonblank = True
        if self.record or (line[:1] == "{" and line.rstrip("\r\n") == RECORD_OPEN):
            self._record_line(line, key, pos)
            return
        self._take(line, key, pos)

    def _record_line(self, line: str, key: bytes, pos: int) -> None:
        self.record.append((line, key, pos))
        self.record_depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
        self.record_chars += len(line)
        if self.record_depth <= 0:
            self.end_record()
        elif len(self.record) >= RECORD_LINES or self.record_chars > RECORD_CHARS:
            self.end_record(whole=False)

    def end_record(self, whole: bool = True) -> None:
        """Read the open JSON record, if any: as one line, or (``whole`` False) line by line."""
        record, self.record, self.record_depth, self.record_chars = self.record, [], 0, 0
        if not record:
            return
        if not whole:
            for line, key, pos in record:
                self._take(line, key, pos)
            return
        text = " ".join(line.strip() for line, _, _ in record)
        used = self.lines_used
        self._take(text, shape_keys(text.encode("utf-8", "surrogatepass"))[0], record[0][2])
        if self.lines_used > used:
            self.lines_used += len(record) - 1

    def _take(self, line: str, key: bytes, pos: int) -> None:
        """Scan one line, or one JSON record's lines joined."""
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
        self.read(line, key, pos)

    def read(self, line: str, key: bytes, pos: int) -> None:
        """Read a line by its shape key: as its known shape says, else in full (learning the shape)."""
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
        if shape.plan is not None and shape.plan.ambiguous:
            self.ambiguous += 1
            return True
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
        if len(found) > LIST_LINE:
            self.crowded += 1
            if learn:
                self._learn(key, _SLOW)     # (each such line comes here again)
            return
        session = session_of(line)
        if not found:
            self.lines_used += 1
            if learn:
                spans = token_spans(line)
                n4 = sum(1 for sp in spans if not sp[3])
                invalid = tuple(i for i, sp in enumerate(spans) if sp[2] is None)
                self._learn(key, Shape(n4, len(spans) - n4, invalid, (), (), None, session))
            if session:
                self._session_line(line, session, pos)
            return
        own_named = tuple(self._after_own_name(line, f) for f in found)
        plan = self._plan(line, found)
        if learn:
            self._learn(key, shape_of(line, found, own_named, plan, session))
        if plan.ambiguous:
            self.ambiguous += 1
            return
        self.lines_used += 1
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

    def counts_for(self, line: str, ip: str) -> bool:
        """Whether the scan counts ``line`` (a line, or a JSON record joined) as one that mentions
        ``ip``, read alone: what the bulk path asks of the evidence lines it looks up afterwards, so
        that they are the lines the line path keeps. Lines set aside (more than LIST_LINE addresses,
        a field written twice) are not, nor a mail header: with -r only the source hop of its chain
        counts, which a line read alone cannot tell from the forged hops below it."""
        if RECEIVED in line:
            return False
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        if ip in self.own:
            return False
        found = addresses.find(line)
        if len(found) > LIST_LINE or not any(f.ip == ip and not self._after_own_name(line, f) for f in found):
            return False
        return not self._plan(line, found).ambiguous

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
        if len(found) > LIST_LINE:
            self.crowded += 1
            return
        plan = self._plan(line, found)
        if plan.ambiguous:
            self.ambiguous += 1
            return
        self.lines_used += 1
        own_named = tuple(self._after_own_name(line, f) for f in found)
        self._count(line, [(f.ip, f.port) for f in found], plan, own_named, None, pos)

    # --- counting ------------------------------------------------------------------------------

    def _count(self, line: str, found: list[tuple[str, int | None]], plan: roles.Plan,
               own_named: tuple[bool, ...], session: tuple[str, int] | None, pos: int) -> None:
        """Count one line whose addresses are ``found`` ((address, port), in written order)."""
        top = plan.fixed
        scores: Sequence[int] = plan.scores
        if top is None:
            scores = roles.resolve(plan, [Found(ip, 0, 0, port) for ip, port in found], self.trusted)
            top = roles.best(scores)
        if top >= 0 and found[top][0] in roles.NO_HOST:
            top = roles.host_best(scores, [ip for ip, _ in found])
        when = self.clock.parse(line) if self.times else None
        keep = self.keep
        text: str | None = None
        seen: set[str] = set()
        own = self.own if self.own_any else ()
        tallies = self.counts.tallies
        top_ip = found[top][0] if top >= 0 else None
        i = -1
        for ip, _ in found:
            i += 1
            if own_named[i] or ip in seen or ip in own:
                continue
            seen.add(ip)
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
        if t is not None:
            self._credit(t, self.clock.parse(line) if self.times else None, line)

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
        assert self.chain is not None
        taken, ended = self.chain.take(line, pos)
        if taken:
            self.lines_used += 1
        elif ended:
            self.finish_chain(pos)
        return taken

    def finish(self, pos: int) -> None:
        """At the end of the input (``pos``: the position after it): read a JSON record left open
        line by line, and end a Received chain left open."""
        self.end_record(whole=False)
        self.finish_chain(pos)

    def finish_chain(self, pos: int) -> None:
        """Count the source of the message whose headers were being read, if any."""
        if self.chain is None or not self.chain.open:
            return
        start = self.chain.start
        hop = self.chain.source()
        if hop is not None and hop.ip not in self.own:
            when = self.clock.parse_rfc5322(hop.date) if self.times else None
            self._credit(self.counts.get(hop.ip, start), when, hop.text)

    def _credit(self, t: Tally, when: datetime | None, text: str) -> None:
        """One more attacker-side line for ``t``: a session's line, a mail's source hop."""
        self.credited += 1
        t.count += 1
        t.source_count += 1
        t.seen(when)
        if self.keep and (t.lines is None or len(t.lines) < self.keep) \
                and self.evidence_refs < EVIDENCE_REFS_MAX:
            if t.lines is None:
                t.lines = []
            t.lines.append(clip(text.rstrip("\r\n")))
            self.evidence_refs += 1


_NO_DIGITS = str.maketrans("", "", "0123456789")


