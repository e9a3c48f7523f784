"""What kind of activity the evidence shows, and the XARF v4 JSON that says so to machines.

Pure: no network, no files. The classification is a small set of general rules over the evidence
lines (login failures, many destinations); when none applies the report says "suspicious traffic".

Which XARF type an address gets depends on what its evidence shows, because each type has fields
it requires (read from the schemas bundled with the official ``xarf`` package, spec 4.2.0):

    every connection type     protocol, first_seen
    login_attack, port_scan   source_port as well, when the source is an IP address
    vulnerability_scan        scan_type (we write "port_scan") and no source port
    reconnaissance            probed_resources (protocol tcp or udp only)

    activity          evidence shows                        XARF type
    login attempts    the attacker's source port            login_attack
    login attempts    no source port (postfix, dovecot)     none: the body says why
    anything else     destination port(s) and source port   port_scan
    anything else     destination port(s), no source port   vulnerability_scan, scan_type port_scan
    anything else     no port, HTTP requests (web logs)     reconnaissance, the paths as resources
    anything else     neither ports nor requests            none: the body says why
    any               no time on any line                   none: first_seen is required

Nothing is made up to fill a required field: no invented port, no report time passed off as the
time of the attack. See docs/reporting.md.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.jsonfmt import indented
from bot.models import Candidate
from bot.scan.addresses import find
from bot.text import single_line

# The spec version whose schemas (bundled with the xarf package, see tests/compose/test_xarf_official.py)
# every report we write is validated against.
XARF_VERSION = "4.2.0"
# A fixed namespace so a report id is the same every time the same incident is rendered.
_NAMESPACE = uuid.UUID("6d1f3c52-3f1e-4c1b-9a59-3a7f5bd0c0de")
# Every XARF type build_xarf can write (category "connection"); the official-parser test covers each.
TYPES_WRITTEN = ("login_attack", "port_scan", "reconnaissance", "vulnerability_scan")

_LOGIN = re.compile(
    r"failed password|authentication failure|invalid user|login fail|auth(?:entication)? fail"
    r"|failed login|brute.?force|unauthorized login|password mismatch",
    re.IGNORECASE,
)
_SCAN = re.compile(r"\bscan|probe|portsweep|sweep\b", re.IGNORECASE)
# Where a line names the destination: snort/suricata "A:p -> B:p", tcpdump "A.p > B.p:",
# netfilter "DST=B ... DPT=p", key=value firewalls "dstport=p", portsentry "to TCP port: p".
_ARROW = re.compile(r"(?:->|\s>)\s*\[?([0-9A-Fa-f:.]+)\]?[:.](\d{1,5})\b")
_DPT = re.compile(r"\bDPT=(\d{1,5})\b")
_DST = re.compile(r"\bDST=([0-9A-Fa-f:.]+)")
_DSTPORT = re.compile(r"\bdst_?port=(\d{1,5})\b")
_DSTIP = re.compile(r"\bdst_?ip=([0-9A-Fa-f:.]+)")
_TO_PORT = re.compile(r"\bto (?:TCP|UDP) port:? (\d{1,5})\b")
# Where a line names the attacker's own port, right after its address or in a key of its own.
_PORT_AFTER = re.compile(r"\]:(\d{1,5})(?!\d)|\]?\s+port\s+(\d{1,5})\b")   # "[a]:p", sshd "a port p"
_SRC_KEYS = {"SRC=": re.compile(r"\bSPT=(\d{1,5})\b"),
             "srcip=": re.compile(r"\bsrcport=(\d{1,5})\b"),
             "src_ip=": re.compile(r"\bsrc_port=(\d{1,5})\b")}
_PROTO = re.compile(r"\bPROTO=(TCP|UDP|ICMP|ICMPv6|SCTP)\b|\{(TCP|UDP|ICMP|IPV6-ICMP|SCTP)\}"
                    r"|\bto (TCP|UDP) port\b", re.IGNORECASE)
_REQUEST = re.compile(
    r'(?:^|[\s"])(GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT|PROPFIND) (\S{1,2000})'
    r' HTTP/\d(?:\.\d)?"?(?:\s+(\d{3})\b)?'
)
_HTTP_METHODS = ("GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", "CONNECT")  # the schema's enum
_TAG = re.compile(r"^[a-z0-9][a-z0-9_+-]*:[a-z0-9][a-z0-9_+-]*$")
_FIREWALL = re.compile(r"\bSRC=\S+ DST=|\bUFW (?:BLOCK|DENY)\b|\baction=\"?(?:deny|drop|block)"
                       r"|\bfirewalld\b", re.IGNORECASE)
_IDS = re.compile(r"\bsnort\b|\bsuricata\b|\bportsentry\b|\[\*\*\]|\[Classification:"
                  r"|\{(?:TCP|UDP|ICMP)\}", re.IGNORECASE)
MAX_RESOURCES = 50          # distinct request paths listed in a reconnaissance report
RESOURCE_CHARS = 500        # one path is cut to this many characters


@dataclass(frozen=True)
class Classification:
    type: str        # the XARF v4 type of the "connection" category this activity usually gets
    label: str       # for the subject: "Network scan"
    text: str        # for the body: "a scan of our network"


PORT_SCAN = Classification("port_scan", "Network scan", "a scan of our network")
LOGIN_ATTACK = Classification("login_attack", "Login attempts", "repeated failed login attempts")
RECON = Classification("reconnaissance", "Suspicious traffic", "suspicious connection attempts")
# A grouped report whose addresses did different things: each address block names its own activity.
MIXED = Classification("", "Unwanted traffic", "unwanted traffic of more than one kind")


@dataclass(frozen=True)
class Built:
    """One address's XARF report, or why there is none (said in the report's body)."""

    type: str            # the XARF type written, "" when none
    data: bytes | None   # the JSON, None when none
    reason: str = ""     # why none: a clause that follows "not attached: "


def destinations(lines: Sequence[str]) -> Counter[tuple[str, int]]:
    """(destination address, port) pairs the lines show ("" when a line names only the port)."""
    return Counter(_destinations(tuple(lines)))


@functools.lru_cache(maxsize=16)
def _destinations(lines: tuple[str, ...]) -> Counter[tuple[str, int]]:
    """(Asked twice an address, one call after the other: to classify its lines, then for its
    report's ports; a few are kept, not more: they hold their lines.) Each pattern is tried only on
    a line holding its fixed text."""
    seen: Counter[tuple[str, int]] = Counter()
    for line in lines:
        if ">" in line:
            for host, port in _ARROW.findall(line):
                seen[(host, int(port))] += 1
        for mark, port_re, host_re in (("DPT=", _DPT, _DST), ("port=", _DSTPORT, _DSTIP)):
            port = port_re.search(line) if mark in line else None
            if port:
                host = host_re.search(line)
                seen[(host.group(1) if host else "", int(port.group(1)))] += 1
        to_port = _TO_PORT.search(line) if " port" in line else None
        if to_port:
            seen[("", int(to_port.group(1)))] += 1
    return seen


def classify(lines: Sequence[str]) -> Classification:
    """The kind of activity the lines show, by general rules (no per-file knowledge)."""
    if any(_LOGIN.search(line) for line in lines):
        return LOGIN_ATTACK
    if len(destinations(lines)) >= 2 or any(_SCAN.search(line) for line in lines):
        return PORT_SCAN
    return RECON


def _port(text: str) -> int | None:
    value = int(text)
    return value if 0 < value < 65536 else None


def source_port(ip: str, lines: Sequence[str]) -> int | None:
    """The attacker's own port on the first line that shows it: ``a:p``, ``[a]:p``, tcpdump's
    ``a.p``, sshd's ``a port p``, netfilter's ``SRC=a ... SPT=p`` or ``srcip=a ... srcport=p``."""
    for line in lines:
        for found in find(line):
            if found.ip != ip:
                continue
            port = _port(str(found.port)) if found.port is not None else None
            if port is None:
                after = _PORT_AFTER.match(line, found.end)
                port = _port(after.group(1) or after.group(2)) if after else None
            for key, key_port in _SRC_KEYS.items():
                if port is None and line[max(0, found.start - len(key)):found.start] == key:
                    spt = key_port.search(line, found.end)
                    port = _port(spt.group(1)) if spt else None
            if port is not None:
                return port
    return None


def destination_ports(lines: Sequence[str]) -> list[int]:
    """The ports the lines show being hit, most often first."""
    counts: Counter[int] = Counter()
    for (_host, port), n in destinations(lines).items():
        if _port(str(port)) is not None:
            counts[port] += n
    return [port for port, _n in counts.most_common()]


def protocol(lines: Sequence[str]) -> str:
    """The transport protocol most lines name (netfilter's PROTO=, snort's {TCP}); tcp if none."""
    votes: Counter[str] = Counter()
    for line in lines:
        for m in _PROTO.finditer(line):
            name = (m.group(1) or m.group(2) or m.group(3)).lower()
            votes["icmp" if "icmp" in name else name] += 1
    return votes.most_common(1)[0][0] if votes else "tcp"


def requests(lines: Sequence[str]) -> list[tuple[str, str, int | None]]:
    """HTTP requests in web server log lines: (method, path, status code)."""
    out: list[tuple[str, str, int | None]] = []
    for line in lines:
        m = _REQUEST.search(line)
        if m:
            path = single_line(m.group(2), RESOURCE_CHARS)
            out.append((m.group(1), path, int(m.group(3)) if m.group(3) else None))
    return out


def evidence_source(lines: Sequence[str]) -> str:
    """How the evidence was collected, when the lines' form says so; "" when it does not."""
    if any(_IDS.search(line) for line in lines):
        return "ids_detection"
    if any(_FIREWALL.search(line) for line in lines):
        return "firewall_logs"
    return ""


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_id(incident_id: str, ip: str) -> str:
    """A UUID that is stable for one address in one incident."""
    return str(uuid.uuid5(_NAMESPACE, f"{incident_id}/{ip}"))


def _type_fields(kind: Classification, raw: Sequence[str], excerpt: Sequence[str],
                 ip: str) -> tuple[str, dict[str, object], str]:
    """(XARF type, its own fields, "") or ("", {}, why none), by the table in the module docstring."""
    proto = protocol(raw)
    sport = source_port(ip, raw)
    if kind is LOGIN_ATTACK:
        if sport is None:
            return "", {}, ("our log does not show the attacker's source port, which XARF "
                            "requires for a login-attack report")
        fields: dict[str, object] = {"protocol": proto, "source_port": sport}
        dports = destination_ports(raw)
        if dports:
            fields["destination_port"] = dports[0]
        return "login_attack", fields, ""
    dports = destination_ports(raw)
    if dports and sport is not None:
        return "port_scan", {"protocol": proto, "source_port": sport, "destination_port": dports[0]}, ""
    if dports and proto in ("tcp", "udp", "icmp"):
        return "vulnerability_scan", {"protocol": proto, "scan_type": "port_scan",
                                      "targeted_ports": sorted(dports[:100])}, ""
    seen = requests(excerpt)  # the redacted lines: paths are text, and may name our own hosts
    if seen:
        paths = list(dict.fromkeys(path for _m, path, _s in seen))[:MAX_RESOURCES]
        fields = {"protocol": "tcp", "probed_resources": paths}
        methods = [m for m in dict.fromkeys(m for m, _p, _s in seen) if m in _HTTP_METHODS]
        if methods:
            fields["http_methods"] = methods
        codes = list(dict.fromkeys(s for _m, _p, s in seen if s is not None))
        if codes:
            fields["response_codes"] = codes
        return "reconnaissance", fields, ""
    return "", {}, ("our log shows neither the ports nor the resources it tried, which a XARF "
                    "connection report needs")


def build_xarf(
    incident_id: str,
    candidate: Candidate,
    excerpt: Sequence[str],
    *,
    classification: Classification,
    description: str,
    reporter: dict[str, str],
    now: datetime,
) -> Built:
    """One XARF v4 report (JSON, UTF-8) for one source address, or why there is none.

    ``excerpt`` is the evidence as the report shows it (redacted); ``candidate.evidence.lines`` are
    the raw lines, from which only numbers (ports) and the protocol are taken. ``now`` is not used as
    a time of the attack: without a time on any line there is no report.
    """
    ev = candidate.evidence
    if ev.first_seen is None:
        return Built("", None, "the log lines carry no time, which every XARF report requires")
    kind, fields, reason = _type_fields(classification, ev.lines, excerpt, candidate.ip)
    if not kind:
        return Built("", None, reason)
    payload = "".join(line + "\n" for line in excerpt).encode("utf-8")
    doc: dict[str, object] = {
        "xarf_version": XARF_VERSION,
        "report_id": report_id(incident_id, candidate.ip),
        "timestamp": _iso(ev.first_seen),
        "reporter": reporter,
        "sender": reporter,
        "source_identifier": candidate.ip,
        "category": "connection",
        "type": kind,
        "first_seen": _iso(ev.first_seen),
        "last_seen": _iso(ev.last_seen or ev.first_seen),
        **fields,
        "evidence": [{
            "content_type": "text/plain",
            "description": (f"log lines mentioning {candidate.ip} as our systems wrote them, times in "
                            f"the log's own time zone ({len(excerpt)} of {ev.total_lines} lines); "
                            "our own host names and addresses may be masked"),
            "payload": base64.b64encode(payload).decode("ascii"),
            "hash": f"sha256:{hashlib.sha256(payload).hexdigest()}",
            "size": len(payload),
        }],
    }
    source = evidence_source(ev.lines)
    if source:
        doc["evidence_source"] = source
    tag = f"incident:{incident_id.lower()}"
    if _TAG.match(tag):
        doc["tags"] = [tag]
    if description:
        doc["description"] = description[:1000]
    return Built(kind, indented(doc).encode("utf-8") + b"\n")

