"""Which side of the traffic each address on a line was: the one that initiated, or the one hit.

A line is read in two steps, so that its structure is worked out once per line shape (the scanner
caches ``plan_line`` by the line with its digits and addresses taken out) and only what depends on
the addresses' values is done per line (``resolve``):

``plan_line`` (structure):
- text the client chose (``fields.client_spans``: user names, URLs, request lines, headers, HELO
  names, SIP URIs...) gives an address no role: it is never the attacker by its position;
- the daemon's own fields score by notation: arrows (``A:p -> B:p``, tcpdump ``A.p > B.p``), the key
  or word written before (``SRC=``/``DST=``, ``from``, ``rhost=``, ``client``, ``to``, ``lip=``...,
  see ``cues``), the head of an access log (its first field is the client), the host field of a
  syslog header (the reporting device), W3C/IIS columns, ``name[addr]``;
- the daemon's record of its peer, ``from ADDR port N`` outside client text, beats other cues;
- a key written twice at the same level (``rhost=A ... rhost=B``, ``client: A ... client: B``):
  the daemon wrote the last one, the earlier one sits in a field the client filled (also when it
  looks like a peer field: the client broke out of an unescaped quote to write it); but when quoted
  text follows the last one (nginx writes the request, host and referrer after its ``client:``),
  the client could have written either: when the two readings accuse different addresses, the line
  is ambiguous and names nobody (``Plan.ambiguous``);
- our own traffic going out (``sending ... from us to them``, an ASA ``Built outbound``
  connection, a record whose direction field says ``Outbound``) swaps the sides.

``resolve`` (values):
- ports: when a line holds two ``addr:port`` pairs with no better cue, the ephemeral one is the
  client's;
- forwarded-for lists (``X-Forwarded-For: a, b``, a comma list in the client field): each proxy
  appends the peer it saw, so the entries left of the last one were written by whoever connected.
  The client is the rightmost entry that is not a trusted proxy (own networks, private addresses);
  when every entry is trusted, the leftmost. When the line also names the connecting peer and that
  peer is not trusted, the list is text the client sent: the peer is the client.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from bot.models import Role
from bot.scan import cues
from bot.scan.addresses import Found
from bot.scan.cues import (
    CLIENT_TEXT,
    DEST,
    ENDPOINT,
    LOGGER,
    PEER,
    PROXY,
    SOURCE,
    STRONG,
    UNKNOWN,
    WEAK_SOURCE,
)
from bot.scan.fields import Span, client_spans, duplicate_keys, endpoint_indexes, inside, peer_indexes
from bot.scan.ranking import NO_HOST, is_global

__all__ = ["NO_HOST", "Plan", "Scored", "attacker_index", "host_best", "plan_line", "ranked", "resolve",
           "score_line"]

# Common Log Format: "ADDR ident user [date] \"GET ...": also without the date ("ADDR - user \"POST"),
# and HAProxy's "ADDR:PORT [06/Feb/2009:12:14:14.655]".
# The user field (%u, $remote_user: from the client's Authorization header) is free text.
# (Possessive runs, and no "\s*" before the date: a long run of spaces after an address made the
# old pattern try every split of it, cubic in the run's length.)
_ACCESS_HEAD = re.compile(r"\s++\S++\s++(?P<user>[^\n]{0,200}?)\[\d{1,2}/[A-Za-z]{3}/\d{4}:"
                          r"|\s++\S++\s++\S++\s++\"[A-Z]{3,7} "
                          r"|\s++\[\d{1,2}/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d\.\d+\]")
# What may come before an access log's head: a syslog header, "prog[pid]:", a virtual host, a
# container runtime's prefix, bracketed stamps; no quote or key (the head is never inside a field).
# (Pasted lines may be indented or quoted with ">": nobody's field, and not the client's.)
_HEAD_PREFIX = re.compile(r"[\s>]*(?:<\d{1,3}>\d?\s*)?"
                          r"(?:(?:[^\s\"'<>()\[\]{}=]+(?:\[\d+\])?:?|\[[^\[\]\"']*\])\s+){0,7}(?:\|\s+)?$")
_SYSLOG_HOST = re.compile(
    r"^[\s>]*(?:<\d{1,3}>\d?\s*)?(?:\[?[A-Z][a-z]{2}\s+\d{1,2}\s+(?:\d{4}\s+)?\d\d:\d\d:\d\d(?:\.\d+)?\]?"
    r"(?:\s+\d{4})?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s+"
    r"(?:<[a-z0-9]+\.[a-z]+>\s+)?"      # "<local0.info>": a relay that writes facility and level
    r"(?:\S+\s+)??"
)
_PORT_AFTER = re.compile(r"\]?\s+port\s+\d{1,5}\b")
# The logger sending something itself ("sending packet: from <us> to <them>"), written before the
# from/to pair; not a passive "was sent from A to B", which tells what A did.
# (The passive test comes after the literal "sen", so that the search runs at literal speed.)
_SENDING = re.compile(r"(?i)\bsen(?<!\bwas sen)(?<!\bwere sen)(?<!\bbeen sen)(?<!\bis sen)(?:d|t|ding)\b")
# The traffic's direction as the logger wrote it, when it says our side opened the connection and
# the line names its sides as fixed ones (foreign/local, remote/local): Cisco ASA's "Built outbound
# ... for outside:A to inside:B", a CSV field "Outbound" (Symantec Endpoint's "Local Host IP: ...
# Remote Host IP: ..."). Not a direction key beside source and destination fields, which already
# follow who opened the connection (Windows' "Direction: Outbound Source Address: ...", FortiGate's
# direction="outbound" srcip=), nor a name that starts with it (Istio's "outbound|9080||svc").
_OUTBOUND = re.compile(r"\bBuilt outbound\b|(?:^|,)\s*Outbound\s*(?:,|$)")
# IIS's default W3C layout without a #Fields header: date time [site host] s-ip method uri query
# s-port username c-ip ...
_W3C_DEFAULT = re.compile(r"\s+(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|PROPFIND|MKCOL|MOVE|COPY|LOCK)"
                          r"\s+\S+\s+\S+\s+\d{1,5}\s+\S+\s+$")


class Scored(NamedTuple):
    found: Found
    score: int
    role: Role


class Plan(NamedTuple):
    """What a line's structure says about its addresses (same order as ``found``)."""

    scores: tuple[int, ...]
    port_rule: bool                         # two addr:port pairs: ports may decide
    lists: tuple[tuple[int, ...], ...]      # forwarded-for lists, in written order
    peer: int | None                        # the connecting peer a list is checked against
    fixed: int | None                       # the attacker index when no value rule applies (-1: none)
    # A key is written twice, the client could have written either copy, and which one the daemon
    # wrote decides who is accused: the line is not used, so that text the client chose cannot.
    ambiguous: bool = False


def plan_line(line: str, found: Sequence[Found], fields: tuple[str, ...] = ()) -> Plan:
    """The structural scores of the addresses ``found`` in ``line``; ``fields`` is a W3C ``#Fields:``
    header in force, if any."""
    n = len(found)
    scores = [UNKNOWN] * n
    header = _SYSLOG_HOST.match(line)
    header_end = header.end() if header else -1
    head_client = -1
    head_end = -1
    m = None
    # (the syslog header's host is the device that relayed the line, never the client of its access
    # log: "Jun 4 13:12:09 172.19.0.1 nginx[1]: 172.19.0.7 - - [04/Jun/2019:...")
    lead = int(n > 0 and header_end >= 0 and found[0].start <= header_end
               and _is_header_host(line, found[0], header_end))
    # (an access log's head: its first address, or a comma run from it, after little else)
    at = found[lead].start if lead < n else 0
    first = at - (at > 0 and line[at - 1] == "[")   # "[v6]:port"
    for i in range(lead, n if _HEAD_PREFIX.match(line, 0, first) else lead):
        m = _ACCESS_HEAD.match(line, found[i].end)
        if m and (i == lead or _comma_run(line, found, i, lead)):
            head_client, head_end = i, m.end()
            break
        m = None
    spans = client_spans(line, found, head_end)
    if head_client >= 0 and m is not None and m.group("user"):
        spans.append(Span(m.start("user"), m.end("user"), "user"))
    peers = [i for i in peer_indexes(line, found) if inside(spans, found[i]) is None]
    # (a peer field of the format table outranks an access-log head that text the client chose can
    # fake: "proftpd: SERVER (name[PEER]) - USER x - - [10/Mar/2026:...]")
    if head_client >= 0 and not peers and inside(spans, found[head_client]) is None:
        peers.append(head_client)
    lists = tuple(lst for lst in _lists(line, found, spans, head_client)
                  if not any(inside(spans, found[i]) is not None for i in lst))
    in_list = {i for lst in lists for i in lst}
    prev_end = -10
    for i, f in enumerate(found):
        score: int | None = None
        if cues.ARROW_AFTER.match(line, f.end):
            score = SOURCE
        elif header_end >= 0 and f.start <= header_end and _is_header_host(line, f, header_end):
            score = LOGGER
        elif i in in_list:
            score = STRONG if i == lists[[i in lst for lst in lists].index(True)][0] else PROXY
        else:
            between = line[prev_end:f.start] if prev_end >= 0 else ""
            if prev_end >= 0 and between.strip() in (",", "") and len(between) <= 3 and i \
                    and f.port is None and inside(spans, found[i - 1]) is None:
                # the second field of a CSV record (pf filterlog, Palo Alto): the destination
                score = min(PROXY, scores[i - 1] - 1)
            else:
                # (cue words inside a field the client chose are not the daemon's)
                floor = max([prev_end, 0, *(s.end for s in spans if s.end <= f.start)])
                score = cues.left_score(line, f, floor)
                if score is None and i == head_client:
                    score = SOURCE
        scores[i] = UNKNOWN if score is None else score
        prev_end = f.end
    if fields:
        _by_fields(line, found, scores, fields)
    _w3c_default(line, found, scores)
    _endpoint(line, found, scores, spans)
    _remote_servers(line, found, scores, spans)
    rewritten, doubt = duplicate_keys(line, found, scores, spans)
    peers = [i for i in peers if i not in rewritten]
    for i, f in enumerate(found):
        if inside(spans, f) is not None and i not in in_list:
            scores[i] = min(scores[i], CLIENT_TEXT)
    for i in peers:
        if i not in in_list:
            scores[i] = PEER
    if n >= 2 and _SENDING.search(line):
        _swap_from_to(line, found, scores)
    outbound = _OUTBOUND.search(line) if n >= 2 else None
    if outbound and not any(s.start <= outbound.start() < s.end for s in spans):
        scores[:] = [-s if s in (SOURCE, DEST, WEAK_SOURCE + 1) else s for s in scores]
    with_port = sum(1 for f in found if f.port is not None)
    port_rule = with_port >= 2
    peer = None
    if lists:
        peer = next((i for i in range(n) if i not in in_list and scores[i] >= SOURCE), None)
        if peers and peers[0] not in in_list:
            peer = peers[0]
    fixed = None if (port_rule or lists) else _best(scores)
    ambiguous = any(_either_copy(found, scores, pair, fixed) for pair in doubt)
    return Plan(tuple(scores), port_rule, lists, peer, fixed, ambiguous)


def _either_copy(found: Sequence[Found], scores: Sequence[int], doubt: tuple[int, int],
                 fixed: int | None) -> bool:
    """Whether the line accuses another address when an earlier copy of a key is the one the daemon
    wrote (``doubt``: that copy, and the last one, as read). Where values decide (``fixed`` None),
    it may."""
    if fixed is None:
        return True
    first, later = doubt
    other = list(scores)
    other[first], other[later] = scores[later], scores[first]
    alt = _best(other)
    return (found[alt].ip if alt >= 0 else None) != (found[fixed].ip if fixed >= 0 else None)


def resolve(plan: Plan, found: Sequence[Found], trusted: Callable[[str], bool]) -> list[int]:
    """The final scores of a line's addresses: ``plan`` with the rules that depend on values."""
    scores = list(plan.scores)
    if plan.port_rule:
        for i, f in enumerate(found):
            if f.port is not None and scores[i] in (UNKNOWN, SOURCE, WEAK_SOURCE, WEAK_SOURCE + 1, PROXY):
                scores[i] += -2 if f.port in cues.SERVICE_PORTS or f.port < 1024 else 2
    if plan.lists:
        peer_trusted = plan.peer is None or trusted(found[plan.peer].ip)
        if plan.peer is not None and peer_trusted and scores[plan.peer] == PEER:
            # the head of an access log written by our proxy: the forwarded list says who came
            scores[plan.peer] = PROXY
        for lst in plan.lists:
            if not peer_trusted:
                for i in lst:
                    scores[i] = CLIENT_TEXT
                continue
            untrusted = [i for i in lst if not trusted(found[i].ip)]
            client = untrusted[-1] if untrusted else lst[0]
            for i in lst:
                scores[i] = STRONG if i == client else PROXY
    return scores


def host_best(scores: Sequence[int], ips: Sequence[str]) -> int:
    """``best`` among the addresses ``ips`` that a host can send from; -1 if none."""
    return _best(scores, [ip in NO_HOST for ip in ips])


def best(scores: Sequence[int]) -> int:
    """Index of the attacker side among ``scores``: the best, then the leftmost; -1 if all are
    negative."""
    return _best(scores)


def _best(scores: Sequence[int], barred: Sequence[bool] = ()) -> int:
    best = -1
    for i, s in enumerate(scores):
        if barred and barred[i]:
            continue
        if s >= 0 and (best < 0 or s > scores[best]):
            best = i
    return best


def _role(score: int) -> Role:
    r = cues.role_score(score)
    return Role.SOURCE if r > 0 else Role.DESTINATION if r < 0 else Role.UNKNOWN


def score_line(line: str, found: Sequence[Found], *, fields: tuple[str, ...] = (),
               trusted: Callable[[str], bool] | None = None) -> list[Scored]:
    """Scores and roles for the addresses ``found`` in ``line`` (same order). ``trusted`` says which
    addresses are proxies of ours (default: the non-global ones, as the scan without own networks)."""
    plan = plan_line(line, found, fields)
    scores = resolve(plan, found, trusted or (lambda ip: not is_global(ip)))
    return [Scored(f, s, _role(s)) for f, s in zip(found, scores, strict=True)]


def attacker_index(scored: Sequence[Scored]) -> int | None:
    """Index of the line's attacker-side address: best score, then leftmost; None if all negative."""
    best = _best([s.score for s in scored])
    return None if best < 0 else best


def ranked(scored: Sequence[Scored]) -> list[str]:
    """The line's distinct addresses, attacker side first."""
    order = sorted(range(len(scored)), key=lambda i: (-scored[i].score, i))
    out: list[str] = []
    for i in order:
        ip = scored[i].found.ip
        if ip not in out:
            out.append(ip)
    return out


# --- the rules ------------------------------------------------------------------------------------


def _comma_run(line: str, found: Sequence[Found], i: int, lead: int = 0) -> bool:
    """Address ``i`` ends a comma list that starts the line's client field ("a, b, c - - ["), the
    first address after the syslog header's host (``lead`` 1) or the line's first."""
    j = i
    while j > lead and line[found[j - 1].end:found[j].start].strip() == ",":
        j -= 1
    return j < i and (j == lead or not line[:found[j].start].strip())


def _lists(line: str, found: Sequence[Found], spans: Sequence[object], head_client: int) -> \
        tuple[tuple[int, ...], ...]:
    """Forwarded-for lists: runs of addresses joined by "," under a forwarded-for key, in an
    access-log head, or filling one quoted field. Other runs are addresses side by side (a DNS
    answer's "ipaddr=A, B", PIM's "(S, G)"), each read on its own."""
    out: list[tuple[int, ...]] = []
    i = 0
    n = len(found)
    while i < n:
        j = i
        while j + 1 < n and _joined(line, found[j], found[j + 1]):
            j += 1
        run = tuple(range(i, j + 1))
        f = found[i]
        key = cues.last_word(line, f, 24)
        keyed = bool(key) and cues.is_forwarded_key(key)
        # (a list a key names as servers or destinations is no chain of proxies)
        servers = bool(key) and (cues.word_score(key) or 0) <= DEST
        joined = head_client == j or _one_quoted(line, found[i], found[j])
        if keyed or (len(run) > 1 and not servers and joined):
            out.append(run)
        i = j + 1
    return tuple(out)


def _joined(line: str, a: Found, b: Found) -> bool:
    between = line[a.end:b.start]
    return between.strip(" []") == "," and len(between) <= 4


def _one_quoted(line: str, a: Found, b: Found) -> bool:
    qa = line.rfind('"', 0, a.start)
    return qa >= 0 and line.find('"', qa + 1) > b.start and line[qa + 1:a.start].strip(" [") == ""


def _is_header_host(line: str, f: Found, header_end: int) -> bool:
    # The host field is the token right after the timestamp: "Jun 1 10:00:00 10.0.0.1 sshd[1]: ..."
    head = line[:f.start]
    return head.strip().count(" ") <= 6 and f.end <= header_end + 45 and (
        f.end >= len(line) or line[f.end] in " \t")


def _endpoint(line: str, found: Sequence[Found], scores: list[int], spans: Sequence[object]) -> None:
    """sshd/pam "from ADDR port N": the daemon's record of its peer, written after any client text."""
    if len(found) < 2:
        return
    ends = [i for i in endpoint_indexes(line, found) if inside(spans, found[i]) is None  # type: ignore[arg-type]
            and scores[i] >= 0 and _PORT_AFTER.match(line, found[i].end)]
    if ends:
        last = ends[-1]
        scores[last] = max(scores[last], ENDPOINT)


def _remote_servers(line: str, found: Sequence[Found], scores: list[int], spans: Sequence[Span]) -> None:
    """"remote" is the far side as the logger sees it: the client of a server, but the server of a
    session a firewall logs for its own client. An address the line also names as the server or
    destination is that: ``"SServerAddr":"A", "remoteAddr":"A", "CClientAddr":"B"``."""
    # (what the client wrote names nobody a server)
    hit = {f.ip for i, f in enumerate(found) if scores[i] <= DEST and inside(spans, f) is None}
    if not hit:
        return
    for i, f in enumerate(found):
        if f.ip in hit and scores[i] >= SOURCE and "remote" in cues.norm_word(cues.last_word(line, f)):
            scores[i] = DEST


def _swap_from_to(line: str, found: Sequence[Found], scores: list[int]) -> None:
    """``sending packet: from <us> to <them>``: our own message, so the "to" side is the remote one
    (when the sending is written before the "from")."""
    i_from = i_to = None
    for i, f in enumerate(found):
        w = cues.last_word(line, f, 12).lower()
        if w == "from" and i_from is None:
            i_from = i
        elif w == "to" and i_from is not None and i_to is None:
            i_to = i
    if i_from is not None and i_to is not None and scores[i_from] >= SOURCE and scores[i_to] <= DEST \
            and _SENDING.search(line, 0, found[i_from].start):
        scores[i_from], scores[i_to] = DEST, SOURCE


def _w3c_default(line: str, found: Sequence[Found], scores: list[int]) -> None:
    """IIS's default columns without a #Fields header: s-ip before the method, c-ip after the port
    and user name."""
    for i in range(1, len(found)):
        s, c = found[i - 1], found[i]
        if _W3C_DEFAULT.match(line[s.end:c.start] + " "):
            scores[i - 1], scores[i] = DEST, SOURCE


_TOKEN = re.compile(r"\S+")


def _by_fields(line: str, found: Sequence[Found], scores: list[int], fields: tuple[str, ...]) -> None:
    """W3C extended logs (IIS...): the ``#Fields:`` header names each column; ``c-ip`` is the
    client, ``s-ip`` the server, ``X-Forwarded-For`` the client behind a proxy."""
    spans = [(m.start(), m.end()) for m in _TOKEN.finditer(line)]
    if len(spans) != len(fields):
        return
    for i, f in enumerate(found):
        name = next((fields[k] for k, (a, b) in enumerate(spans) if a <= f.start < b), "").lower()
        if "forwarded-for" in name:
            scores[i] = STRONG
        elif name in ("c-ip", "clientip", "client-ip", "cs-ip"):
            scores[i] = SOURCE
        elif name in ("s-ip", "serverip", "server-ip", "s-computername"):
            scores[i] = DEST
