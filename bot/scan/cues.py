"""The words and notations written next to an address that say which side of the traffic it was.

Scores: positive is the side that initiated (the attacker side), negative the side that was hit.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from bot.scan.addresses import Found

PEER = 8            # a daemon's own peer field, in its fixed place ("[client ADDR]", "rip=ADDR")
ENDPOINT = 7        # the daemon's own record of its peer: "from ADDR port N"
STRONG = 6          # the client behind a proxy, as the daemon resolved it
SOURCE = 5
WEAK_SOURCE = 2
UNKNOWN = 0
PROXY = 1
CLIENT_TEXT = -1    # inside text the client chose: never the attacker by its position
DEST = -3
LOGGER = -4

# Key words, compared without case and without "-", "_", "." (so X-Forwarded-For == xforwardedfor).
# Headers a proxy adds (and a client can send): their value is resolved against the connecting peer.
FORWARDED_PARTS = ("forwardedfor", "realip", "connectingip", "trueclient", "xclientip", "forwarded")
# The client as the daemon resolved it, and the peer of a connection (the remote side even when the
# packet it sent names another source).
_STRONG_PARTS = ("clientip", "originalclient", "peer")
_DEST_PARTS = ("local", "server", "dest", "dst", "upstream", "backend", "target", "daddr", "listen",
               "nas", "gateway", "proxy", "origin", "interface", "bind", "vip", "router", "victim",
               "calledstation")
_SOURCE_PARTS = ("source", "src", "client", "remote", "rhost", "peer", "attacker", "saddr", "caller",
                 "sender", "requester", "clnt", "offender", "visitor", "banned", "blocked", "callingstation")
_SOURCE_WORDS = frozenset({
    "from", "ip", "ipaddr", "ipaddress", "addr", "address", "rip", "von", "de", "host", "hostaddr",
    "connection", "connect", "by", "user", "rcpt", "for", "ban", "unban", "hit", "fromip", "srcip",
    "sip", "ipv4", "ipv6", "clientaddress", "rhostaddr", "userip", "reqip", "login", "attempt", "faddr",
    "with",
})
_DEST_WORDS = frozenset({"to", "dst", "lip", "on", "at", "via", "dport", "towards", "into", "dstip",
                         "daddr", "sport", "laddr", "dvc"})
# Nouns that name an address but not its side: in a key phrase ("Remote Host IP:", "Local Host IP:",
# "Source Network Address:") the side is the word before them.
_GENERIC = frozenset({"ip", "ipaddr", "ipaddress", "addr", "address", "host", "hostaddr", "ipv4", "ipv6",
                      "network", "hostip", "name"})
# A firewall's translated address ("nat-source-address", SonicWall's natSrc) is its own or its pool's,
# not the endpoint's: never more than a proxy.
_TRANSLATED = ("nat", "xlat", "translated", "mapped")
# The equipment that wrote the line ("Device IP Address=", "deviceAddress", OCSF's "device":{"ip":A})
# is the hit side; but in prose "from new device A" the word says nothing of the side.
_DEVICE = "device"
_W3C = {"c-ip": SOURCE, "s-ip": DEST}     # W3C/IIS field names, also as XML Name="c-ip"
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_LEFT_STRIP = " \t\"'[(<{=:,;|/@#"
_PROTO_PREFIX = re.compile(r"(?i)(?:\[?AF_INET6?\]|ipv[46](?:[:/](?:udp|tcp|tls|wss?|sctp))?[:/]?)$")
ARROW_AFTER = re.compile(r"\s*(?:-+>|=>|\s>\s)")
_ARROW_BEFORE = re.compile(r"(?:-+>|=>|\s>)\s*[\[(<]?$")
# "host[1.2.3.4]", "unknown[1.2.3.4]": the name and address of a connecting peer (postfix, proftpd).
_NAME_BRACKET = re.compile(r"[\w.\-]\[$")
# A JSON "host" (ECS host.ip, a WAF's "host":A) is the machine that logged or served the event; "from
# host A" in prose is the client.
_HOST = "host"
_JSON_HOST = re.compile(r"(?i)[\"']host[\"']\s*:\s*\[?\s*[\"']?$")
_NUMBERS = re.compile(r"[\d\s)\]>\"']*")  # what may stand between a key word and its address, bar _LEFT_STRIP
_CLOSED_QUOTE = re.compile(r"[\"']\s+$")
_IFACE_BEFORE = re.compile(r"\s[A-Za-z][\w\-]*:$")
# Ports that name a service: an address written with one of these is the server side.
SERVICE_PORTS = frozenset({
    20, 21, 22, 23, 25, 53, 67, 68, 69, 80, 88, 110, 111, 119, 123, 135, 137, 138, 139, 143, 161, 162,
    179, 389, 443, 445, 465, 500, 514, 515, 554, 587, 593, 631, 636, 873, 902, 989, 990, 993, 995,
    1080, 1194, 1433, 1434, 1521, 1701, 1723, 1812, 1813, 1883, 1900, 2049, 2082, 2083, 2086, 2087,
    2095, 2096, 2222, 2375, 2376, 2377, 3000, 3128, 3306, 3389, 4500, 5000, 5060, 5061, 5222, 5432,
    5672, 5900, 5938, 5984, 6379, 6443, 6667, 7001, 8000, 8008, 8080, 8081, 8088, 8443, 8888, 9000,
    9090, 9100, 9200, 9443, 10000, 10443, 11211, 27017, 51820,
})


def norm_word(w: str) -> str:
    return w.lower().replace("-", "").replace("_", "").replace(".", "")


def word_score(word: str, key: bool = False) -> int | None:
    """The score a key or word written right before an address gives it (None: no cue). ``key``:
    the word is a key for certain (a key phrase's head, a JSON object's key), not maybe prose."""
    named = _W3C.get(word.lower())
    if named is not None:
        return named
    w = norm_word(word)
    if not w or w.startswith("localhost"):      # a host name ("from localhost (127.0.0.1)"), not a key
        return None
    if w.startswith(_TRANSLATED):
        # (one prefix, scored without recursion: a CEF label "natnatnat..." is as long as the
        # attacker likes)
        rest = w[next(len(t) for t in _TRANSLATED if w.startswith(t)):]
        inner = None if rest.startswith(_TRANSLATED) else word_score(rest, key)
        return inner if inner is None or inner <= PROXY else PROXY
    if any(p in w for p in FORWARDED_PARTS) or any(p in w for p in _STRONG_PARTS):
        return STRONG
    if w in _DEST_WORDS:
        return DEST
    if w in _SOURCE_WORDS:
        return SOURCE
    if len(w) > 3 and any(p in w for p in _DEST_PARTS):
        return DEST
    if any(p in w for p in _SOURCE_PARTS):
        return SOURCE   # (before "device": "sourceDeviceIp", "remote_device_addr" name the source)
    if _DEVICE in w and (key or w != _DEVICE):
        return DEST
    return None


def is_forwarded_key(word: str) -> bool:
    w = norm_word(word)
    return any(p in w for p in FORWARDED_PARTS)


def last_word(line: str, f: Found, reach: int = 40) -> str:
    """The word written before address ``f`` (its key), or ""."""
    left = _PROTO_PREFIX.sub("", line[max(0, f.start - 60):f.start].rstrip(_LEFT_STRIP)).rstrip(_LEFT_STRIP)
    words = _WORD.findall(left[-reach:])
    return words[-1] if words else ""


def left_score(line: str, f: Found, floor: int = 0) -> int | None:
    """The score the text right before address ``f`` (and after ``floor``, the end of the address
    before it) gives it."""
    if f.start > 1 and line[f.start - 1] == "[" and line[f.start - 2] == "(":
        return CLIENT_TEXT   # exim/postfix "([1.2.3.4])": the name the client claimed in HELO
    base = max(0, floor, f.start - 60)
    left = line[base:f.start]
    if _ARROW_BEFORE.search(left):
        return DEST
    if _CLOSED_QUOTE.search(left):
        return None     # a quoted value ends right before: its words ("Go-http-client/1.1") are no key
    left = _PROTO_PREFIX.sub("", left.rstrip(_LEFT_STRIP)).rstrip(_LEFT_STRIP)
    words = _WORD.findall(left[-40:])
    key_end = left.rfind(words[-1]) + len(words[-1]) if words else 0
    if words and not _NUMBERS.fullmatch(left, key_end):
        words = []      # the last word is not next to the address: "[server.go:2619] | A"
    if words and _CEF_CUSTOM.fullmatch(words[-1]) and "CEF:" in line:
        score = _cef_label_score(line, words[-1])   # (before the key's own words: "deviceCustom...")
    else:
        score = word_score(words[-1]) if words else None
    generic = score is not None and norm_word(words[-1]) in _GENERIC
    if generic and norm_word(words[-1]) == _HOST and _JSON_HOST.search(line, max(0, f.start - 40), f.start) \
            and (word_score(_object_key(line, f.start) or "", key=True) or 0) < SOURCE:
        score = DEST    # (but a source's host, "client":{"host":A}, is the source)
    elif generic:
        qualifier = _qualifier(left, words)
        side = _qualifier_side(qualifier)
        if side is None:
            side = _object_side(line, f.start)
        if side is None and qualifier is not None and word_score(qualifier) is None \
                and _KEY_SEPARATOR.search(line, base + key_end, f.start):
            side = WEAK_SOURCE + 1  # a key ("ATD IP:", "Sensor IP=") whose qualifier names no side
        if side is not None:
            score = side
    if score is None and len(words) > 1:
        # "from unknown[1.2.3.4]", "client @0x7f.. ::1#53", "from peer 1 (10.0.0.1:51820)"; a name
        # glued to the address by a colon is the interface it came in on (Cisco ASA's "src
        # outside:1.2.3.4"): the word before it is the address's own key
        score = word_score(words[-2])
        if score is not None and score > 0 and not _IFACE_BEFORE.search(line, max(0, f.start - 40), f.start):
            score -= 1
    if score is None and _NAME_BRACKET.search(line, max(0, f.start - 2), f.start):
        score = WEAK_SOURCE + 1
    return score


# CEF's custom fields are named by a label the device writes beside them: "c6a2=fc55::99
# c6a2Label=source_address" (F5), "cs3=A cs3Label=Attacker IP". The label is the key.
_CEF_CUSTOM = re.compile(r"(?:c6a|cs|cn|cfp|flexString|deviceCustomIPv6Address|deviceCustomString)\d")


_NEXT_KEY = re.compile(r"[A-Za-z][\w.]*")


def _cef_label_score(line: str, key: str) -> int | None:
    labels = []
    for m in re.finditer(r"(?<=[\s|])" + key + r"Label=", line):
        # the label runs to the next " key=" (or the line's end): split the key off by hand, as a
        # lazy pattern with a look-ahead would retry every space of a long run (quadratic)
        stop = line.find("=", m.end())
        value = line[m.end():] if stop < 0 else line[m.end():stop]
        if stop >= 0:
            cut = max(value.rfind(" "), value.rfind("\t"))
            if cut < 0 or not _NEXT_KEY.fullmatch(value, cut + 1) or not value[:cut].strip():
                continue
            value = value[:cut].rstrip()
        labels.append(value)
        if len(labels) > 1:
            break
    if len(labels) != 1:
        return None     # (a field labelled twice says nothing: one of the two was not the device's)
    label = labels[0].replace(" ", "")
    if is_forwarded_key(label):
        # "cs5=A cs5Label=x_forwarded_for_header_value": a header the client sent, copied by the
        # device, never more than a proxy beside the device's own src=
        return PROXY
    score = word_score(label)
    return None if score is None else min(score, SOURCE)


_KEY_SEPARATOR = re.compile(r"[:=]")
_PHRASE_HEAD = re.compile(r"(?:[A-Za-z][\w\-]* ){1,2}$")   # the words before a phrase's last one


def _qualifier(left: str, words: list[str]) -> str | None:
    """The word that qualifies a key phrase ending in generic nouns ("Local" of "Local Host IP"), or
    None when the generic noun stands alone ('"ip":', "ip=")."""
    if not left.endswith(" " + words[-1]):
        return None
    phrase = _PHRASE_HEAD.search(left, 0, len(left) - len(words[-1]))
    if phrase is None:
        return None
    return next((w for w in reversed(phrase.group().split()) if norm_word(w) not in _GENERIC), None)


def _qualifier_side(qualifier: str | None) -> int | None:
    """The side a key phrase's qualifier names: "Local Host IP" -> local's. (A source word, "from IP",
    adds nothing to the generic noun's own score.)"""
    if qualifier is None or norm_word(qualifier) in _SOURCE_WORDS:
        return None
    return word_score(qualifier, key=True)


_OBJECT_KEY = re.compile(r"[\"']?([A-Za-z][\w.\-]*)[\"']?\s*[:=]\s*$")


# What a line's JSON objects are made of: strings (an escaped character is none of these), braces
_STRUCTURE = re.compile(r'\\.|["{}]')
_LAST_OBJECTS: tuple[str | None, tuple[list[int], list[int]]] = (None, ([], []))


def _objects(line: str) -> tuple[list[int], list[int]]:
    """The ``{`` that holds each part of ``line``, outside strings (a brace in a URL the client wrote
    is text): where each part starts, and its ``{`` (-1: none), in one pass over the line. The last
    line's answer is kept: it is asked once per address of a line (a scan in another thread sees the
    old pair or the new one, never a mix)."""
    global _LAST_OBJECTS
    last, objects = _LAST_OBJECTS
    if last is line:
        return objects
    starts, opens = [0], [-1]
    stack: list[int] = []
    in_string = False
    for m in _STRUCTURE.finditer(line):
        c = m.group()
        if c == '"':
            in_string = not in_string
        elif in_string or len(c) == 2:
            continue
        elif c == "{":
            stack.append(m.start())
            starts.append(m.end())
            opens.append(m.start())
        elif stack:
            stack.pop()
            starts.append(m.end())
            opens.append(stack[-1] if stack else -1)
    _LAST_OBJECTS = (line, (starts, opens))
    return starts, opens


def _object_key(line: str, at: int) -> str | None:
    """The key of the JSON object that holds position ``at`` (``"destination"`` for the A of
    ``"destination":{"ip":A}``), or None at the top level."""
    if "{" not in line:
        return None
    starts, opens = _objects(line)
    o = opens[bisect_right(starts, at) - 1]
    if o < 0:
        return None
    m = _OBJECT_KEY.search(line, max(0, o - 64), o)
    return m.group(1) if m else None


def _object_side(line: str, at: int) -> int | None:
    """A generic key inside a JSON object takes the side its object's key names, when that is the
    far end: ECS's ``"destination":{"ip":A}``, ``"dst": {"ip": A}``, ``"nat":{"ip":A}``. (Only ever
    lower: an object's key never makes its address more of an attacker than its own key does.)"""
    key = _object_key(line, at)
    if key is None:
        return None
    w = norm_word(key)
    if w.startswith(_TRANSLATED):
        return PROXY
    if w == _HOST:
        return DEST
    score = word_score(key, key=True)
    return score if score is not None and score < SOURCE and w not in _SOURCE_WORDS else None


def role_score(score: int) -> int:
    """+1 (source), -1 (destination) or 0."""
    if score >= 3:
        return 1
    if score <= -2:
        return -1
    return 0
