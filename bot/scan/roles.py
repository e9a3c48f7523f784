"""Which side of the traffic each address on a line was: the one that initiated, or the one hit.

Each address gets a score from general notation rules; the highest-scoring address of a line is its
attacker side (ties go to the leftmost). The rules:

- arrows: ``A:p -> B:p``, ``A->B``, tcpdump ``A.p > B.p``: A is the source, B the destination;
- the key or word written before it: ``SRC=``/``DST=``, pf/json ``src``/``dst``, ``from X``,
  ``rhost=``, ``client X``, ``remote_addr``, ``RemoteAddress=`` (SIP: the remote party is the client),
  ``LocalAddress``/``server``/``upstream``/``to`` (the side that was hit);
- proxy chains: the first address of ``X-Forwarded-For``/``X-Real-IP``/``client_ip`` beats the peer that
  connected (a proxy), later addresses of a comma list are proxies;
- a log line's own header: the host field of a syslog line and the address a server listens on are
  the side that was hit; the first field of a Common Log Format line is the client;
- ports: when a line holds two ``addr:port`` pairs, the ephemeral port is the client's;
- ``sending ... from X to Y`` is our own message going out: Y is the remote side;
- ``from X port N`` (sshd, pam) is the daemon's own record of the peer: the last one on a line beats
  every cue before it, which may sit in text the client chose (a user name); likewise an address in
  the request line, referer or user agent of a Common Log Format line is no role of its own.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from bot.models import Role
from bot.scan.addresses import Found

STRONG = 6      # forwarded-for / real client of a proxy
SOURCE = 5
WEAK_SOURCE = 2
UNKNOWN = 0
PROXY = 1
DEST = -3
LOGGER = -4

# Key words, compared without case and without "-", "_", "." (so X-Forwarded-For == xforwardedfor).
# The peer of a connection is the remote side even when the packet it sent names another source.
_STRONG_PARTS = ("forwardedfor", "realip", "clientip", "connectingip", "trueclient", "originalclient",
                 "peer")
_DEST_PARTS = ("local", "server", "dest", "dst", "upstream", "backend", "target", "daddr", "listen",
               "nas", "gateway", "proxy", "origin", "interface", "bind", "vip", "router")
_SOURCE_PARTS = ("source", "src", "client", "remote", "rhost", "peer", "attacker", "saddr", "caller",
                 "sender", "requester", "clnt", "offender", "visitor", "banned", "blocked")
_SOURCE_WORDS = frozenset({
    "from", "ip", "ipaddr", "ipaddress", "addr", "address", "rip", "von", "de", "host", "hostaddr",
    "connection", "connect", "by", "user", "rcpt", "for", "ban", "unban", "hit", "fromip", "srcip",
    "sip", "ipv4", "ipv6", "clientaddress", "rhostaddr", "userip", "reqip", "login", "attempt",
})
_DEST_WORDS = frozenset({"to", "dst", "lip", "on", "at", "via", "dport", "towards", "into", "dstip",
                         "daddr", "sport"})
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_LEFT_STRIP = " \t\"'[(<{=:,;|/@#"
_PROTO_PREFIX = re.compile(r"(?i)ipv[46](?:[:/](?:udp|tcp|tls|wss?|sctp))?[:/]?$")
_ARROW_AFTER = re.compile(r"\s*(?:-+>|=>|\s>\s)")
_ARROW_BEFORE = re.compile(r"(?:-+>|=>|\s>)\s*[\[(<]?$")
# Common Log Format: "ADDR ident user [date] \"GET ...": also without the date ("ADDR - user \"POST").
_CLF_AFTER = re.compile(r"\s+\S+\s+\S+\s+(?:\[\d{1,2}/[A-Za-z]{3}/\d{4}:|\"[A-Z]{3,7} )")
# Its request line, referer and user agent: the first three quoted fields after the head.
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
# "host[1.2.3.4]", "unknown[1.2.3.4]": the name and address of a connecting peer (postfix, proftpd).
_NAME_BRACKET = re.compile(r"[\w.\-]\[$")
_SYSLOG_HOST = re.compile(
    r"^(?:<\d{1,3}>\d?\s*)?(?:\[?[A-Z][a-z]{2}\s+\d{1,2}\s+\d\d:\d\d:\d\d(?:\.\d+)?\]?(?:\s+\d{4})?"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s+(?:\S+\s+)??"
)
_SENDING = re.compile(r"(?i)\bsen(?:d|t|ding)\b")
# "from ADDR port N" (sshd, pam): the endpoint a daemon writes after the message text. Text before it
# (a user name such as "x from 9.9.9.9") is the client's to choose: the last such address wins.
_FROM_BEFORE = re.compile(r"(?i)\bfrom\s+\[?$")
_PORT_AFTER = re.compile(r"\]?\s+port\s+\d{1,5}\b")
ENDPOINT = STRONG + 1
# Ports that name a service: an address written with one of these is the server side.
_SERVICE_PORTS = frozenset({
    20, 21, 22, 23, 25, 53, 67, 68, 69, 80, 88, 110, 111, 119, 123, 135, 137, 138, 139, 143, 161, 162,
    179, 389, 443, 445, 465, 500, 514, 515, 554, 587, 593, 631, 636, 873, 902, 989, 990, 993, 995,
    1080, 1194, 1433, 1434, 1521, 1701, 1723, 1812, 1813, 1883, 1900, 2049, 2082, 2083, 2086, 2087,
    2095, 2096, 2222, 2375, 2376, 2377, 3000, 3128, 3306, 3389, 4500, 5000, 5060, 5061, 5222, 5432,
    5672, 5900, 5938, 5984, 6379, 6443, 6667, 7001, 8000, 8008, 8080, 8081, 8088, 8443, 8888, 9000,
    9090, 9100, 9200, 9443, 10000, 10443, 11211, 27017, 51820,
})


class Scored(NamedTuple):
    found: Found
    score: int
    role: Role


def _norm_word(w: str) -> str:
    return w.lower().replace("-", "").replace("_", "").replace(".", "")


_W3C = {"c-ip": SOURCE, "s-ip": DEST}     # W3C/IIS field names, also as XML Name="c-ip"


def _word_score(word: str) -> int | None:
    named = _W3C.get(word.lower())
    if named is not None:
        return named
    w = _norm_word(word)
    if not w:
        return None
    if any(p in w for p in _STRONG_PARTS):
        return STRONG
    if w in _DEST_WORDS:
        return DEST
    if w in _SOURCE_WORDS:
        return SOURCE
    if len(w) > 3 and any(p in w for p in _DEST_PARTS):
        return DEST
    if any(p in w for p in _SOURCE_PARTS):
        return SOURCE
    return None


def _left_score(line: str, f: Found) -> int | None:
    left = line[max(0, f.start - 60):f.start]
    if f.start > 0 and line[f.start - 1] == "[" and f.start > 1 and line[f.start - 2] == "(":
        return -1    # exim/postfix "([1.2.3.4])": the name the client claimed in HELO, not its address
    if _ARROW_BEFORE.search(left):
        return DEST
    left = _PROTO_PREFIX.sub("", left.rstrip(_LEFT_STRIP)).rstrip(_LEFT_STRIP)
    words = _WORD.findall(left[-40:])
    if not words:
        return None
    score = _word_score(words[-1])
    if score is None and len(words) > 1:
        # "from unknown[1.2.3.4]", "client @0x7f.. ::1#53", "from peer 1 (10.0.0.1:51820)"
        score = _word_score(words[-2])
        if score is not None and score > 0:
            score -= 1
    return score


def context_score(left: str) -> int | None:
    """The score that the text written right before an address gives it (None: no cue)."""
    if _ARROW_BEFORE.search(left):
        return DEST
    left = _PROTO_PREFIX.sub("", left.rstrip(_LEFT_STRIP)).rstrip(_LEFT_STRIP)
    words = _WORD.findall(left)
    return _word_score(words[-1]) if words else None


def score_line(line: str, found: list[Found]) -> list[Scored]:
    """Scores and roles for the addresses ``found`` in ``line`` (same order)."""
    scores: list[int] = []
    with_port = sum(1 for f in found if f.port is not None)
    header = _SYSLOG_HOST.match(line)
    header_end = header.end() if header else -1
    prev_end = -10
    for f in found:
        score: int | None = None
        after = _ARROW_AFTER.match(line, f.end)
        if after:
            score = SOURCE
        elif header_end >= 0 and f.start <= header_end and _is_header_host(line, f, header_end):
            score = LOGGER
        else:
            between = line[prev_end:f.start] if prev_end >= 0 else ""
            if prev_end >= 0 and between.strip() in (",", "") and len(between) <= 3 and scores \
                    and f.port is None:
                # A later element of "a, b, c": a proxy the request went through, or in a CSV record
                # (pf filterlog, Palo Alto) the destination that follows the source.
                score = min(PROXY, scores[-1] - 1)
            else:
                score = _left_score(line, f)
                if score is None and _CLF_AFTER.match(line, f.end):
                    score = SOURCE
                elif score is None and _NAME_BRACKET.search(line, max(0, f.start - 2), f.start):
                    score = WEAK_SOURCE + 1
        if score is None:
            score = UNKNOWN
        if with_port >= 2 and f.port is not None and score in (UNKNOWN, SOURCE, WEAK_SOURCE, PROXY):
            score += -2 if f.port in _SERVICE_PORTS or f.port < 1024 else 2
        scores.append(score)
        prev_end = f.end
    if len(found) >= 2:
        client = next((i for i, f in enumerate(found)
                       if scores[i] > 0 and _CLF_AFTER.match(line, f.end)), None)
        if client is not None:
            _cap_client_text(line, found, scores, client)
    if len(found) >= 2:
        endpoint = None
        for i, f in enumerate(found):
            if _PORT_AFTER.match(line, f.end) and _FROM_BEFORE.search(line, max(0, f.start - 8), f.start):
                endpoint = i
        if endpoint is not None:
            scores[endpoint] = max(scores[endpoint], ENDPOINT)
        if _SENDING.search(line):
            _swap_from_to(line, found, scores)
    return [Scored(f, s, _role(s)) for f, s in zip(found, scores, strict=True)]


def _cap_client_text(line: str, found: list[Found], scores: list[int], client: int) -> None:
    """A Common Log Format line: addresses in its request line, referer and user agent are text the
    client chose ("GET /?X-Forwarded-For=9.9.9.9"), no cue of theirs beats the client field."""
    quoted = _QUOTED.finditer(line, found[client].end)
    spans = [(m.start(), m.end()) for _, m in zip(range(3), quoted, strict=False)]
    for i in range(client + 1, len(found)):
        if scores[i] > 0 and any(a < found[i].start < b for a, b in spans):
            scores[i] = UNKNOWN


def _is_header_host(line: str, f: Found, header_end: int) -> bool:
    # The host field is the token right after the timestamp: "Jun 1 10:00:00 10.0.0.1 sshd[1]: ..."
    head = line[:f.start]
    return head.rstrip().count(" ") <= 6 and f.end <= header_end + 45 and (
        f.end >= len(line) or line[f.end] in " \t")


def _swap_from_to(line: str, found: list[Found], scores: list[int]) -> None:
    """``sending packet: from <us> to <them>``: our own message, so the "to" side is the remote one.

    Only when a "from" address is followed by a "to" address on the line."""
    i_from = i_to = None
    for i, f in enumerate(found):
        words = _WORD.findall(line[max(0, f.start - 12):f.start])
        w = words[-1].lower() if words else ""
        if w == "from" and i_from is None:
            i_from = i
        elif w == "to" and i_from is not None and i_to is None:
            i_to = i
    if i_from is not None and i_to is not None and scores[i_from] >= SOURCE and scores[i_to] <= DEST:
        scores[i_from], scores[i_to] = DEST, SOURCE


def _role(score: int) -> Role:
    if score >= 3:
        return Role.SOURCE
    if score <= -2:
        return Role.DESTINATION
    return Role.UNKNOWN


_TOKEN = re.compile(r"\S+")


def by_fields(line: str, scored: list[Scored], fields: tuple[str, ...]) -> list[Scored]:
    """W3C extended logs (IIS...): the ``#Fields:`` header names each column; ``c-ip`` is the
    client, ``s-ip`` the server, ``X-Forwarded-For`` the client behind a proxy."""
    spans = [(m.start(), m.end()) for m in _TOKEN.finditer(line)]
    if len(spans) != len(fields):
        return scored
    out = []
    for s in scored:
        name = next((fields[i] for i, (a, b) in enumerate(spans) if a <= s.found.start < b), "").lower()
        score = s.score
        if "forwarded-for" in name:
            score = STRONG
        elif name in ("c-ip", "clientip", "client-ip", "cs-ip"):
            score = SOURCE
        elif name in ("s-ip", "serverip", "server-ip", "s-computername"):
            score = DEST
        out.append(s._replace(score=score, role=_role(score)))
    return out


def attacker_index(scored: list[Scored]) -> int | None:
    """Index of the line's attacker-side address: best score, then leftmost; None if all negative."""
    best: int | None = None
    for i, s in enumerate(scored):
        if s.score < 0:
            continue
        if best is None or s.score > scored[best].score:
            best = i
    return best


def ranked(scored: list[Scored]) -> list[str]:
    """The line's distinct addresses, attacker side first."""
    order = sorted(range(len(scored)), key=lambda i: (-scored[i].score, i))
    out: list[str] = []
    for i in order:
        ip = scored[i].found.ip
        if ip not in out:
            out.append(ip)
    return out
