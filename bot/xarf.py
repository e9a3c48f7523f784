"""What kind of activity the evidence shows, and the XARF v4 JSON that says so to machines.

Pure: no network, no files. The classification is a small set of general rules over the evidence
lines (login failures, many destinations); when none applies the report says "suspicious traffic".
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.models import Candidate

XARF_VERSION = "4.0.0"
# A fixed namespace so a report id is the same every time the same incident is rendered.
_NAMESPACE = uuid.UUID("6d1f3c52-3f1e-4c1b-9a59-3a7f5bd0c0de")

_LOGIN = re.compile(
    r"failed password|authentication failure|invalid user|login fail|auth(?:entication)? fail"
    r"|failed login|brute.?force|unauthorized login|password mismatch",
    re.IGNORECASE,
)
_SCAN = re.compile(r"\bscan|probe|portsweep|sweep\b", re.IGNORECASE)
_ARROW = re.compile(r"->\s*\[?([0-9A-Fa-f:.]+)\]?[:.](\d{1,5})\b")
_DPT = re.compile(r"\bDPT=(\d{1,5})\b")
_DST = re.compile(r"\bDST=([0-9A-Fa-f:.]+)")


@dataclass(frozen=True)
class Classification:
    type: str        # XARF v4 type in the "connection" category
    label: str       # for the subject: "Network scan"
    text: str        # for the body: "a scan of our network"


PORT_SCAN = Classification("port_scan", "Network scan", "a scan of our network")
LOGIN_ATTACK = Classification("login_attack", "Login attempts", "repeated failed login attempts")
RECON = Classification("reconnaissance", "Suspicious traffic", "suspicious connection attempts")


def destinations(lines: Sequence[str]) -> Counter[tuple[str, int]]:
    """(destination address, port) pairs seen in `A:p -> B:p` and iptables DST=/DPT= forms."""
    seen: Counter[tuple[str, int]] = Counter()
    for line in lines:
        for host, port in _ARROW.findall(line):
            seen[(host, int(port))] += 1
        dpt = _DPT.search(line)
        dst = _DST.search(line)
        if dpt and dst:
            seen[(dst.group(1), int(dpt.group(1)))] += 1
    return seen


def classify(lines: Sequence[str]) -> Classification:
    """The kind of activity the lines show, by general rules (no per-file knowledge)."""
    if any(_LOGIN.search(line) for line in lines):
        return LOGIN_ATTACK
    if len(destinations(lines)) >= 2 or any(_SCAN.search(line) for line in lines):
        return PORT_SCAN
    return RECON


def _source_port(ip: str, lines: Sequence[str]) -> int | None:
    pattern = re.compile(r"(?<![\w.:])\[?" + re.escape(ip) + r"\]?[:.](\d{1,5})\b(?![.:]\d)")
    for line in lines:
        found = pattern.search(line)
        if found and 0 < int(found.group(1)) < 65536:
            return int(found.group(1))
    spt = re.compile(r"\bSRC=" + re.escape(ip) + r"\b.*?\bSPT=(\d{1,5})\b")
    for line in lines:
        found = spt.search(line)
        if found and 0 < int(found.group(1)) < 65536:
            return int(found.group(1))
    return None


def _protocol(lines: Sequence[str]) -> str:
    text = " ".join(lines[:20]).upper()
    if "PROTO=UDP" in text or " UDP " in text or "{UDP}" in text:
        return "udp"
    if "PROTO=ICMP" in text or "ICMP" in text:
        return "icmp"
    return "tcp"


def _iso(when: datetime | None, fallback: datetime) -> str:
    value = (when or fallback).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def report_id(incident_id: str, ip: str) -> str:
    """A UUID that is stable for one address in one incident."""
    return str(uuid.uuid5(_NAMESPACE, f"{incident_id}/{ip}"))


def build_xarf(
    incident_id: str,
    candidate: Candidate,
    excerpt: Sequence[str],
    *,
    classification: Classification,
    description: str,
    reporter: dict[str, str],
    now: datetime,
) -> bytes:
    """One XARF v4 report (JSON, UTF-8) for one source address; `excerpt` is the (redacted) evidence."""
    payload = "".join(line + "\n" for line in excerpt).encode("utf-8")
    digest = hashlib.sha256(payload).hexdigest()
    ev = candidate.evidence
    doc: dict[str, object] = {
        "xarf_version": XARF_VERSION,
        "report_id": report_id(incident_id, candidate.ip),
        "timestamp": _iso(ev.first_seen, now),
        "reporter": reporter,
        "sender": reporter,
        "source_identifier": candidate.ip,
        "category": "connection",
        "type": classification.type,
        "evidence_source": "ids_detection" if classification is PORT_SCAN else "firewall_logs",
        "protocol": _protocol(excerpt),
        "first_seen": _iso(ev.first_seen, now),
        "last_seen": _iso(ev.last_seen, now),
        "evidence": [{
            "content_type": "text/plain",
            "description": f"log lines mentioning {candidate.ip} ({len(excerpt)} of {ev.total_lines})",
            "payload": base64.b64encode(payload).decode("ascii"),
            "hash": f"sha256:{digest}",
            "size": len(payload),
        }],
        "tags": [f"incident:{incident_id.lower()}"],
    }
    port = _source_port(candidate.ip, excerpt)
    if port:
        doc["source_port"] = port
    dests = destinations(ev.lines)  # raw lines: only the port leaves, never our own address
    if dests:
        (_, dport), _n = dests.most_common(1)[0]
        if 0 < dport < 65536:
            doc["destination_port"] = dport
    if description:
        doc["description"] = description[:1000]
    return json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
