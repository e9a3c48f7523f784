"""Which parts of a log line the client chose: the principle behind the scanner's anti-framing rules.

A daemon writes its own fields (the peer it accepted a connection from, the key it names) in fixed
places; some of its fields hold text the client sent (a user name, a requested URL, a header, a SIP
URI, an HELO name). An address inside such a field is data, never the attacker by its position: an
attacker writes a third party's address there to have it reported. ``client_spans`` returns those
fields' character spans. What makes a field client-chosen is format knowledge, kept here as one
small table of kinds:

- URLs and URIs (``scheme://...``, ``sip:user@host``), request lines (``GET target``), and the
  quoted fields and ``{captures}`` written after an access-log head (request, referer, user agent,
  captured headers);
- values of keys that carry request data: ``request``, ``url``, ``uri``, ``path``, ``query``,
  ``referer``, ``user-agent``, ``headers``, and ``host`` next to a request (the Host header);
- user names: ``user=``/``username=``/``login=``... values, quoted names after ``user``/``for``,
  the free-text name sshd writes between ``user`` and its own ``[from] ADDR port N``, and the
  remote user name of its ``ssh1: ruser NAME`` tail;
- commands the client sent, echoed: Exim's ``SMTP protocol error in "..."``;
- mail: HELO/EHLO names (``helo=<...>``, ``(name) [addr]``, an echoed ``EHLO x``), envelope
  addresses (``<x@[addr]>``, ``F=<...>``) and ``user@host`` forms;
- Windows workstation names;
- a CEF record's ``msg=`` prose.

A daemon writes each of its keys once: ``duplicate_keys`` finds a key written twice at one nesting
level (the earlier copy is text the client chose) and the lines where either copy could be (a
quote follows the last one), which are not used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from bot.scan.addresses import Found
from bot.scan.cues import CLIENT_TEXT, norm_word


class Span(NamedTuple):
    start: int
    end: int
    kind: str


# --- kinds found by pattern -------------------------------------------------------------------

# A URL or URI: "http://x/...", "tcp://[v6]:80"; SIP URIs with a user part or in <...>.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]{1,15}://[^\s\"'<>{}|\\^`]*")
_SIP = re.compile(r"<sips?:[^<>\s]*>|\bsips?:[^\s\"'<>;,@]+@[^\s\"'<>;,]*")
# A request line: the method and its target (and a query string on a path).
_METHODS = ("GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PROPFIND|PROPPATCH|MKCOL|COPY|MOVE|"
            "LOCK|UNLOCK|SEARCH|REPORT|MKCALENDAR")
_REQUEST = re.compile(r"(?<![\w-])(?:" + _METHODS + r")\s+(\S+)")
_QUERY = re.compile(r"(?<=[\w/])\?[^\s\"']+")
# A path (quoted, it may hold spaces): a file a request named ("open() \"/srv/www/...\" failed").
_PATH = re.compile(r"\"/[^\"]*\"|'/[^']*'|(?<=[\s:=(])/[^\s\"'<>]+")
# "user@ADDR", "x@[ADDR]": the host part of a user@host form (SIP, mail, scp targets).
_AT_HOST = re.compile(r"(?<=[\w\-.+%!])@\[?(?=[0-9A-Fa-f:]{2})")
# Mail: an HELO name, an envelope address, a parameter echoed after a reply code.
_HELO_KEY = re.compile(r"(?i)\b(?:helo|ehlo)\s*=\s*(<[^<>]*>|\S+)")
_HELO_CMD = re.compile(r"(?<![\w=])(?:EHLO|HELO|ehlo|helo)\s+([^\s\\,;]+)")
_HELO_PAREN = re.compile(r"\(([^()]*)\)\s*\[(?=[0-9A-Fa-f:.]+\])")      # exim/sendmail "(name) [addr]"
_ENVELOPE = re.compile(r"(?i)(?<![\w])(?:F|from|to|orig_to|sender|recipient|rcpt|arg1)=<[^<>]*>"
                       r"|<[^<>\s]*@[^<>\s]*>|\b\d\.\d\.\d{1,3}\s+<[^<>]*>")
# HAProxy's captured request/response headers: "{h1|h2}" after its head.
_CAPTURE = re.compile(r"\{[^{}]*\}")
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"")
# A single-quoted SIP header value: "Registration from '\"100\" <sip:...>' failed for '...'".
_SIP_QUOTED = re.compile(r"'[^']*sips?:[^']*'")

# --- kinds found by key ------------------------------------------------------------------------

# Keys whose value the client wrote (compared without case and without "-", "_", ".", "(", ")").
_REQUEST_KEYS = frozenset({
    "request", "req", "requestline", "requesturi", "requestpath", "url", "uri", "path", "query",
    "querystring", "args", "referer", "referrer", "httpreferer", "httpreferrer", "csreferer",
    "useragent", "httpuseragent", "agent", "csuseragent", "csuristem", "csuriquery", "headers",
    "requestheaders", "data", "matcheddata", "requestaddr", "requesthost",
})
_HOST_KEYS = frozenset({"host", "hostname", "httphost", "authority", "servername", "vhost", "cshost"})
_USER_KEYS = frozenset({
    "user", "username", "usr", "login", "loginname", "uname", "ruser", "logname", "account", "accountname",
    "setid", "saslusername", "authid", "userid", "targetusername", "subjectusername", "clientusername",
    "workstation", "workstationname", "email", "mail", "sender", "recipient", "helo", "ehlo",
})
# key=value, key: value, "key":"value", [key "value"], <Data Name="key">value</Data>
# ("ruser= rhost=A": a key with nothing after its "=" is empty, the next key is not its value)
_KEY = re.compile(
    r"(?:(?<=[\s,;{\[(|\"'])|^)\"?(?P<key>[A-Za-z][A-Za-z0-9_.\-()]{0,40}?)\"?"
    r"(?:\s*=(?!\s+[A-Za-z][\w.\-]*=)\s*|\s*:\s*|\s+(?=\")|\">)"
)
_VALUE_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'|<[^<>]*>|\[[^\[\]]*\]|\{(?:[^{}]|\{[^{}]*\})*\}")
_VALUE_BARE = re.compile(r"[^\s,;\"'<>\[\]{}]*")
# "user 'name'", "for \"name\"", "User 'x' failed"
_QUOTED_NAME = re.compile(r"(?i)\b(?:user(?:name)?|login|account|(?:request|attempt|password|authentication|"
                          r"failure|login)\s+for)\s+(\"(?:[^\"\\]|\\.)*\"|'[^']*'|\[[^\]]*\])")
# sshd and friends: "invalid user NAME [from] ADDR port N", "for NAME from ADDR port N": the name
# runs from the key word to the daemon's own endpoint, the last one on the line.
_USER_WORD = re.compile(r"(?i)\b(?:for(?:\s+invalid\s+user)?|invalid\s+user|authenticating\s+user|user|"
                        r"login\s+as|as\s+user)\s+")
_ENDPOINT_AFTER = re.compile(r"\]?\s+port\s+\d{1,5}\b")
_FROM_BEFORE = re.compile(r"(?i)\bfrom\s+\[?$")
# Format knowledge: free-text fields whose end the format marks.
_FREE_TEXT = re.compile("|".join((
    r"\(set_id=(?P<exim>[^)]*)\)",                                  # Exim authenticators
    r"\[pid \d+\] \[(?P<vsftpd>[^\]]*)\] (?:FAIL|OK) ",               # vsftpd
    r"Workstation Name:\s*(?P<win>.*?)\s+Source Network Address:",  # Windows security event text
    r"\]\\\[(?P<smb>[^\]]*)\]",                                      # Samba "[DOMAIN]\[user]"
    r"\bssh[12]: ruser (?P<ruser>.*)$",                              # sshd: the client's remote user
    r"\bSMTP (?:protocol|syntax) error in \"(?P<smtp>.*)\" H=",       # Exim: the command, up to its H=
)))
# pam_unix writes "user=" last: "authentication failure; logname= uid=0 ... rhost=A  user=NAME"
_PAM_USER = re.compile(r"(?i)\bauthentication failure;.*?\s(user=.*)$")
# A line with a request in it (for the Host header rule)
_HAS_REQUEST = re.compile(r"(?<![\w-])(?:" + _METHODS + r")\s+\S"
                          r"|(?i:\"?(?:request|method|uri|url)\"?\s*[=:])")


def _norm_key(key: str) -> str:
    return re.sub(r"[-_.()\s]", "", key).lower()


def endpoint_indexes(line: str, found: Sequence[Found]) -> list[int]:
    """Indexes of the addresses a daemon wrote as its peer's endpoint: "from ADDR" (its last word
    before the address) or "ADDR port N"."""
    out = []
    for i, f in enumerate(found):
        if _ENDPOINT_AFTER.match(line, f.end) or _FROM_BEFORE.search(line, max(0, f.start - 7), f.start):
            out.append(i)
    return out


def client_spans(line: str, found: Sequence[Found], access_head_end: int = -1) -> list[Span]:
    """Spans of ``line`` holding text the client chose. ``access_head_end``: where the client field
    of an access-log head ends (the quoted fields and captures after it are the client's), or -1."""
    spans: list[Span] = []
    add = spans.append
    for m in _URL.finditer(line):
        add(Span(m.start(), m.end(), "url"))
    if "sip" in line:
        for m in _SIP.finditer(line):
            add(Span(m.start(), m.end(), "sip"))
        for m in _SIP_QUOTED.finditer(line):
            add(Span(m.start(), m.end(), "sip"))
    for m in _REQUEST.finditer(line):
        add(Span(m.start(1), m.end(1), "request"))
    for m in _QUERY.finditer(line):
        add(Span(m.start(), m.end(), "query"))
    if "/" in line:
        for m in _PATH.finditer(line):
            add(Span(m.start(), m.end(), "path"))
    if "@" in line:
        for m in _AT_HOST.finditer(line):
            # the host part runs to the end of the address that follows
            end = next((f.end for f in found if f.start >= m.end() - 1 and f.start <= m.end() + 1), m.end())
            if not _quoted_host(line, m.start()):
                add(Span(m.start(), end, "user@host"))
    _mail(line, spans)
    _keyed(line, spans)
    if access_head_end >= 0:
        for m in _QUOTED.finditer(line, access_head_end):
            if not _labelled_forwarded(line, m.start()):
                add(Span(m.start(), m.end(), "access-field"))
        for m in _CAPTURE.finditer(line, access_head_end):
            add(Span(m.start(), m.end(), "capture"))
    if "CEF:" in line:
        cef = _cef_message(line)
        if cef:
            add(Span(*cef, "message"))
    placed = _PEER_PLACE.match(line) if line.lstrip(" \t>").startswith("[") else None
    if placed:
        add(Span(placed.start("client"), placed.end("client"), "access-field"))
    _user_names(line, found, spans)
    return spans


def _quoted_host(line: str, at: int) -> bool:
    # MySQL's account form 'user'@'host': the host part is the daemon's record of the peer.
    return at > 0 and line[at - 1] in "'\"" and line[at + 1:at + 2] in ("'", "\"")


def _labelled_forwarded(line: str, start: int) -> bool:
    """A quoted field named by a forwarded-for key (x_forwarded_for="...") is the log format's own."""
    left = line[max(0, start - 24):start].rstrip("=: ").lower().replace("-", "_")
    return left.endswith(("forwarded_for", "real_ip", "client_ip"))


def _mail(line: str, spans: list[Span]) -> None:
    emit = spans.append
    if "elo" in line or "ELO" in line:
        for m in _HELO_KEY.finditer(line):
            emit(Span(m.start(1), m.end(1), "helo"))
        for m in _HELO_CMD.finditer(line):
            emit(Span(m.start(1), m.end(1), "helo"))
    if "(" in line:
        for m in _HELO_PAREN.finditer(line):
            emit(Span(m.start(1), m.end(1), "helo"))
    if "<" in line:
        for m in _ENVELOPE.finditer(line):
            emit(Span(m.start(), m.end(), "envelope"))


def _keyed(line: str, spans: list[Span]) -> None:
    emit = spans.append
    request_context: bool | None = None
    for m in _KEY.finditer(line):
        key = _norm_key(m.group("key"))
        if key in _REQUEST_KEYS or key in _USER_KEYS:
            kind = "user" if key in _USER_KEYS else "request"
        elif key in _HOST_KEYS:
            if request_context is None:
                request_context = bool(_HAS_REQUEST.search(line))
            if not request_context:
                continue
            kind = "host-header"
        else:
            continue
        start = m.end()
        if line[start:start + 1] == "{" and key not in ("headers", "requestheaders"):
            continue        # a structured record ("request":{...}): its own keys say what they hold
        if kind == "request" and _PEER_BEFORE.search(line, max(0, start - 80), start):
            continue        # the format table's peer field (Unbound's "query: ADDR name A IN")
        if m.group(0).endswith("\">"):          # <Data Name="key">value</Data>
            end = line.find("<", start)
            end = len(line) if end < 0 else end
        else:
            v = _VALUE_QUOTED.match(line, start) or _VALUE_BARE.match(line, start)
            end = v.end() if v else start
        if end > start:
            emit(Span(start, end, kind))
    if "user=" in line and "authentication failure;" in line:
        pam = _PAM_USER.search(line)
        if pam:
            emit(Span(pam.start(1), len(line), "user"))
    for m in _QUOTED_NAME.finditer(line):
        emit(Span(m.start(1), m.end(1), "user"))
    for m in _FREE_TEXT.finditer(line):
        name = m.lastgroup
        if name is not None:
            emit(Span(m.start(name), m.end(name), "user"))


def _user_names(line: str, found: Sequence[Found], spans: list[Span]) -> None:
    """sshd-style free-text user names: from the key word to the daemon's last endpoint."""
    emit = spans.append
    # (an endpoint written inside another field the client chose is not the daemon's)
    ends = [i for i in endpoint_indexes(line, found) if inside(spans, found[i]) is None]
    if not ends:
        return
    last = found[ends[-1]]
    # "from" belongs to the endpoint: the name ends before it
    stop = last.start
    fm = _FROM_BEFORE.search(line, max(0, last.start - 7), last.start)
    if fm:
        stop = fm.start()
    m = _USER_WORD.search(line, 0, stop)
    if m and m.end() < stop:
        emit(Span(m.end(), stop, "user"))


# A daemon's own peer field, in the fixed place its format writes it: the text right before the
# address (the format table). An address written there is the peer whatever else the line holds.
_PEER_BEFORE = re.compile("|".join((
    r"\[client $",                                        # Apache error log
    r"(?:^|[,:] )client: $",                               # nginx error log
    r"\bClient \"$",                                       # vsftpd
    r"\bfailed for '$", r"\bCall from '[^']*' \($",        # Asterisk chan_sip / PJSIP
    r"\(\?@$",                                             # pure-ftpd
    r"\brip=$",                                             # Dovecot
    r"\b(?:connect|disconnect|lost connection after \w+|RCPT|CONNECT|PREGREET \d+ after [\d.]+) "
    r"from [\w.\-]*\[$", r"\bwarning: [\w.\-]+\[$",          # Postfix smtpd, postscreen
    r"\bH=(?:[\w.\-]+ )?(?:\([^()]*\) )?\[$",                 # Exim
    r"\bauthenticator failed for (?:[\w.\-]+ )?(?:\([^()]*\) )?\[$",
    r"\bproftpd\[\d+\]:? \S+ \([\w.\-:]*\[$",                 # ProFTPD "server (name[ADDR])"
    r"\bSource Network Address:\s*$", r"Name=\"IpAddress\">$",  # Windows security events
    r"\binvalid authentication from (?:\S+ \()?$",           # Home Assistant
    r"'@'$",                                                # MySQL/MariaDB 'user'@'ADDR'
    r"\bremote host \[ipv[46]:\[?$",                          # Samba
    r"\[(?:NOTICE|INFO|WARN|ERROR|DEBUG)\] \[\d+\] \[$",      # LiteSpeed "[ADDR:PORT:PROTO-ID#vhost]"
    r"\bPulseSecure: (?:- )+[\d\-]+ [\d:]+ - [\w.\-]+ - \[$",          # Pulse Connect Secure "[ADDR] user"
    r"\btr=\"(?:TCP|UDP)\|[^|\"]*\|\d+\|$",                   # Oracle Messaging: local|port|remote
    r"\bmartian source [\d.]+ from $",                      # Linux: "martian source DST from SRC"
    r"\bunbound\[\d+\]: \[\d+:\d+\] (?:query|reply): $",       # Unbound: "query: CLIENT name A IN"
)))


# CEF (ArcSight's Common Event Format): the extension's keys (src=, dst=, shost=...) name the sides;
# msg= is prose, which quotes what the client sent (a WAF's request line, a user name), up to the
# next key.
_CEF_HEAD = re.compile(r"\bCEF:\d+\|")
_CEF_MSG_KEY = re.compile(r"[|\s]msg=")
_NEXT_FIELD = re.compile(r"\s[A-Za-z][\w.]*=")


def _cef_message(line: str) -> tuple[int, int] | None:
    """Where a CEF line's msg= value is: to the next " key=", or the line's end. (Found step by
    step: one lazy pattern with a look-ahead retried every space of a long run, and every later
    "CEF:0|" of a line full of them: quadratic.)"""
    head = _CEF_HEAD.search(line)
    key = _CEF_MSG_KEY.search(line, head.end()) if head else None
    if key is None:
        return None
    nxt = _NEXT_FIELD.search(line, key.end())
    end = len(line) if nxt is None else nxt.start()
    return key.end(), key.end() + len(line[key.end():end].rstrip())


# Layouts whose peer field is found by its place among the fields, not by the text before it:
# Envoy's (and Istio's) default access log ends with "UPSTREAM_HOST" CLUSTER UPSTREAM_LOCAL
# DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE SERVER_NAME ROUTE; the downstream remote is the client.
# Everything from its request line to the upstream host is what the client sent or its outcome.
_PEER_PLACE = re.compile(r"^[\s>]*\[\d{4}-\d\d-\d\dT[\d:.]+Z?\] (?P<client>\"[^\"]*\" \d{1,3} .*)"
                         r"\"[^\"]*\" \S+ \S+ \S+ (?P<peer>\S+) \S+ \S+$")


def peer_indexes(line: str, found: Sequence[Found]) -> list[int]:
    """Indexes of the addresses written in a daemon's own peer field (the format tables above)."""
    out = [i for i, f in enumerate(found) if _PEER_BEFORE.search(line, max(0, f.start - 80), f.start)]
    placed = _PEER_PLACE.match(line) if line.lstrip(" \t>").startswith("[") else None
    if placed:
        out += [i for i, f in enumerate(found) if placed.start("peer") <= f.start < placed.end("peer")]
    return out


def inside(spans: Sequence[Span], f: Found) -> Span | None:
    """The client-chosen span holding address ``f``, if any."""
    for s in spans:
        if s.start <= f.start < s.end:
            return s
    return None


# The key written right before an address: "key=A", "key=[A", "key=name [A", Exim's
# "H=name (helo) [A", Asterisk's "key=\"IPV4/UDP/A"; "key: A" in a comma-separated list of such
# fields (nginx's ", client: A, server: ...").
_KEY_EQ = re.compile(r"([A-Za-z][\w.\-]*)=(?:[\[(\"'<]|(?:[\w.\-]+\s)?(?:\([^()]*\)\s)?\[)?"
                     r"(?:[Ii][Pp][Vv][46]/[A-Za-z]{2,4}/)?$"
                     r"|(?:^|(?<=[,;] ))([A-Za-z][\w.\-]*): $")


def duplicate_keys(line: str, found: Sequence[Found], scores: list[int],
                   spans: Sequence[Span]) -> tuple[set[int], list[tuple[int, int]]]:
    """``rhost=A ... rhost=B``, ``client: A ... client: B`` at the same nesting level: the daemon
    writes its key once, so the earlier ones are in text the client chose. Returns the earlier
    ones, and the readings in doubt: (an earlier copy, the last copy) of every key whose last copy
    has a quote after it, where the client may have written the last copy and the daemon one of the
    earlier (nginx's request, host and referrer follow its ``client:``, unescaped). (A key inside a
    field already known to be the client's, pam_unix's ``user=`` written last, is not a second one:
    it must not take the daemon's own away.)"""
    earlier: set[int] = set()
    if len(found) < 2 or ("=" not in line and ": " not in line):
        return earlier, []
    copies: dict[tuple[str, int], list[int]] = {}
    for i, f in enumerate(found):
        if inside(spans, f) is not None:
            continue
        m = _KEY_EQ.search(line, max(0, f.start - 64), f.start)
        if m is None:
            continue
        key = (norm_word(m.group(1) or m.group(2)), _depth(line, f.start))
        copies.setdefault(key, []).append(i)
    doubts = []
    for idxs in copies.values():
        for j in idxs[:-1]:
            scores[j] = min(scores[j], CLIENT_TEXT)
            earlier.add(j)
        if len(idxs) > 1 and '"' in line[found[idxs[-1]].end:]:
            doubts += [(j, idxs[-1]) for j in idxs[:-1]]
    return earlier, doubts


def _depth(line: str, pos: int) -> int:
    """How deep in brackets, braces and parentheses ``pos`` is: "IP=A (IP=B)" are two levels."""
    head = line[:pos]
    return head.count("[") - head.count("]") + head.count("{") - head.count("}") \
        + head.count("(") - head.count(")")
