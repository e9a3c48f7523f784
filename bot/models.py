"""Value objects passed along the flow: scan -> gather -> contacts -> compose -> store -> send.

All are frozen dataclasses: steps return new values and never keep per-incident state.
Each section belongs to one step; the step's module is the only one that builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# --- scan ------------------------------------------------------------------------------------


class Role(StrEnum):
    """What an address was doing on a line."""

    SOURCE = "source"            # the side that initiated: attacker-side
    DESTINATION = "destination"  # the side that was hit
    UNKNOWN = "unknown"          # mentioned, role not known


@dataclass(frozen=True)
class Evidence:
    """The lines that mention one candidate, and when it was seen."""

    lines: tuple[str, ...]           # excerpt, in input order (capped by the scanner)
    total_lines: int                 # how many lines mention the address in all
    first_seen: datetime | None      # aware datetimes, UTC
    last_seen: datetime | None


@dataclass(frozen=True)
class Candidate:
    """One address found in the input, with what the scanner knows of it."""

    ip: str                  # normalised text form (compressed IPv6, ::ffff:a.b.c.d -> a.b.c.d)
    count: int               # lines mentioning it
    source_count: int        # lines where it was on the attacker side
    role: Role               # its dominant role
    reportable: bool         # a global address, not in own networks
    evidence: Evidence
    destination_count: int = 0   # lines where it was the side that was hit
    approximate: bool = False    # counts estimated (the scan's memory bound folded it once)


LIST_LINE = 64   # a line naming more addresses than this is a list, not one event (bot.scan.engine)


@dataclass(frozen=True)
class ScanResult:
    candidates: tuple[Candidate, ...]   # ranked: attacker first
    lines_read: int
    lines_used: int                     # after the isolating string and the Received: rule
    lines_skipped_received: int
    # Lines set aside as written to steer the scan: a field written twice where the client could have
    # written either copy and the copies accuse different addresses, and lines naming more than
    # LIST_LINE addresses.
    lines_ambiguous: int = 0
    lines_crowded: int = 0
    selected: str | None = None         # the IP the user named (it is candidates[0]), if any
    select_string: str | None = None    # the string that isolated the lines, if any
    # Why the selector (the named IP or the isolating string) matched no usable line, in one line
    # for a person; None when there is no selector or it matched. A report must not be sent then.
    unmatched_selector: str | None = None
    # More distinct addresses than the scan keeps exact counters for: the least active were
    # summarised in a bounded sketch, so counts may be estimates (over, never under).
    approximate: bool = False
    summarised: int = 0                 # addresses folded into the sketch (at least once)

    @property
    def attacker(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def nothing_reportable(self) -> str:
        """Why no report can be made of this scan, for a person (when no candidate is reportable)."""
        return "no reportable (global, not own) address found in the input" + \
            "".join(f"; {why}" for why in self.set_aside())

    def set_aside(self) -> tuple[str, ...]:
        """Why lines that name addresses were not used, a sentence each (none when none were)."""
        out = []
        if self.lines_ambiguous:
            out.append(f"{_lines(self.lines_ambiguous)} not used: a field that decides who is accused is "
                       f"written twice, and the client could have written either copy")
        if self.lines_crowded:
            out.append(f"{_lines(self.lines_crowded)} not used: more than {LIST_LINE} addresses "
                       f"(a list, not one event)")
        return tuple(out)


def _lines(n: int) -> str:
    return "1 line" if n == 1 else f"{n} lines"


# --- gather ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryEntity:
    """An RDAP entity (or a whois contact object), flattened from the answer's tree."""

    handle: str
    name: str
    kind: str                       # vcard kind: org, group, individual... ("" when absent)
    roles: tuple[str, ...]          # abuse, registrant, technical, administrative, noc...
    emails: tuple[str, ...]
    depth: int = 0                  # 0 = top-level entity of the answer
    parent: str | None = None       # handle of the entity it was nested under


@dataclass(frozen=True)
class Network:
    """Who the registry says holds the address block."""

    registry: str                   # arin, ripencc, apnic, lacnic, afrinic (and NIRs: jpnic, krnic...)
    handle: str
    name: str
    cidrs: tuple[str, ...]
    start: str
    end: str
    country: str
    org: str
    asn: int | None
    as_name: str
    entities: tuple[RegistryEntity, ...]
    source: str                     # "rdap" or "whois"
    url: str = ""                   # where the answer came from


@dataclass(frozen=True)
class DomainInfo:
    name: str                       # registered domain
    guessed: bool                   # True when not from a verified reverse name
    guess_reason: str               # what the guess was based on
    mx: tuple[str, ...]
    parent_mx: tuple[str, ...]
    has_address: bool               # the domain has A/AAAA records
    registrar: str = ""
    entities: tuple[RegistryEntity, ...] = ()
    host: str = ""                  # the name looked up, or the reverse name's zone, the domain came from
    host_mx: tuple[str, ...] = ()   # MX of that name itself, when it differs from the domain


@dataclass(frozen=True)
class ProbeResult:
    port: int
    open: bool
    banner: str = ""


@dataclass(frozen=True)
class Findings:
    """Everything gathered about one address. Missing parts are None/empty, with a problem noted."""

    ip: str
    rdns: str | None
    rdns_verified: bool
    network: Network | None
    domain: DomainInfo | None
    abusix: tuple[str, ...] = ()
    probes: tuple[ProbeResult, ...] = ()
    problems: tuple[str, ...] = ()  # one line per step that failed, for the person reading
    notes: tuple[str, ...] = ()     # facts worth showing that are not failures ("no abuse contact...")
    progress: tuple[str, ...] = ()  # the human progress lines of the lookup, in order
    # Why the findings cannot be trusted to be whole: a lookup step failed in a way nobody planned
    # for (a bug, an answer no parser expected). Empty when complete. An incomplete incident is
    # never sent without a person: batch runs and the bot keep it as a draft and say why.
    incomplete: tuple[str, ...] = ()


@dataclass(frozen=True)
class LookupResult:
    """What ``incident lookup IP|HOST|DOMAIN`` found: the target, its addresses, the findings."""

    target: str
    kind: str                       # "ip", "host" or "domain"
    addresses: tuple[str, ...]      # the target's A/AAAA (the IP itself for kind "ip")
    findings: Findings              # about the first address; ip == "" when there is none


# --- contacts --------------------------------------------------------------------------------


class Confidence(StrEnum):
    OVERRIDE = "override"   # from the local config: wins over everything
    HIGH = "high"           # the registry's abuse role
    MEDIUM = "medium"       # Abusix, other registry e-mails
    LOW = "low"             # role mailboxes guessed at the domain


@dataclass(frozen=True)
class Contact:
    address: str
    confidence: Confidence
    sources: tuple[str, ...]        # where it came from, e.g. "rdap abuse ABUSE2916-ARIN"
    flag: str = ""                  # non-empty: demoted, and why


# --- compose / store -------------------------------------------------------------------------


class State(StrEnum):
    DRAFT = "draft"
    SENDING = "sending"     # recorded before the SMTP transaction starts
    SENT = "sent"
    SKIPPED = "skipped"
    ANSWERED = "answered"
    FAILED = "failed"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Draft:
    """A composed report, not yet stored."""

    incident_id: str
    subject: str
    body: str
    recipients: tuple[Contact, ...]
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Target:
    """One attacker address in a report: what the scanner saw and what was gathered about it."""

    candidate: Candidate
    findings: Findings


@dataclass(frozen=True)
class AttachmentRef:
    """An attachment kept in the incident folder: its file name there and its content type."""

    filename: str
    content_type: str


@dataclass(frozen=True)
class Origin:
    """Where an intake came from, kept with the incident (an incident merged from several has several).

    ``kind``: ``file`` (ref: the path), ``stdin``, ``text`` (pasted on the command line), ``mail``
    (ref: the alert's Message-ID), ``slack`` (ref: ``<channel>/<message ts>``), ``lookup``."""

    kind: str
    ref: str = ""
    detail: str = ""

    @property
    def once(self) -> bool:
        """Whether this origin names one message that can only be delivered again, never changed (an
        alert mail's Message-ID, a Slack message): seen twice, it adds nothing. A file can grow."""
        return bool(self.ref) and self.kind in ("mail", "slack")


@dataclass(frozen=True)
class StoredDraft:
    """Everything needed to send an incident later, from any process, without scanning or gathering
    again: read from the store only."""

    incident_id: str
    subject: str
    body: str
    recipients: tuple[str, ...]             # the chosen ones
    contacts: tuple[Contact, ...]           # every contact found, ranked, with where it came from
    attachments: tuple[AttachmentRef, ...]  # the files in the incident folder, with content types
    targets: tuple[Target, ...]             # the evidence and findings of each address
    description: str = ""
    edited: bool = False                    # subject or body written by a person: kept on re-render
    version: int = 1                        # bumped by every change (merges check it)

    @property
    def incomplete(self) -> tuple[str, ...]:
        return tuple(f"{t.candidate.ip}: {why}" for t in self.targets for why in t.findings.incomplete)


@dataclass(frozen=True)
class Incident:
    id: str
    domain: str
    folder: str
    state: State
    created: datetime
    updated: datetime
    subject: str = ""
    ips: tuple[str, ...] = ()       # every address in the report (several when grouped by contact)
    recipients: tuple[str, ...] = ()
    delivery: dict[str, str] = field(default_factory=dict)   # recipient -> "accepted", "failed: 550 ..."
    message_ids: tuple[str, ...] = ()
    sent: datetime | None = None    # when the send started (state sending), if it did
    forced: bool = False            # reported again on purpose (--force): no suppression at send time

    @property
    def ip(self) -> str:
        return self.ips[0] if self.ips else ""
