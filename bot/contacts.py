"""Whom to tell: findings -> ranked recipients, each with every source that named it (pure).

Order: local overrides (config, by CIDR, AS or domain) win over everything; then the registry's
abuse role (RDAP ``abuse``: ARIN abuse POC, APNIC IRT, RIPE abuse-c, LACNIC abuse person);
then Abusix; then the other e-mail addresses the registry lists (noc, tech, registrant...);
then the domain registrar's abuse contact; then RFC 2142 role mailboxes at the domain, only for
a domain that has MX or address records. Addresses of the registries themselves (a registry's or
national registry's helpdesk/hostmaster for space it only allocated) are demoted to the end and
flagged with the reason. Addresses or domains in ``contacts.exclude`` are dropped, as are
malformed ones; duplicates are merged case-insensitively keeping all their sources.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot import registries
from bot.config import ContactOverride, ContactsConfig
from bot.models import Confidence, Contact, Findings, RegistryEntity

_RANK = {Confidence.OVERRIDE: 0, Confidence.HIGH: 1, Confidence.MEDIUM: 2, Confidence.LOW: 3}

# E-mail domains of the registries themselves -> who they are. Mail to these is a catch-all:
# the registry allocated the space, it does not run the network or handle its abuse.
REGISTRY_MAIL_DOMAINS: dict[str, str] = registries.mail_domains()

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_address(raw: str) -> str | None:
    """A clean, lower-case address, or None when it is not a usable e-mail address."""
    text = raw.strip().strip("<>").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.strip().rstrip(".").lower()
    if text.count("@") != 1 or len(text) > 254:
        return None
    local, domain = text.split("@")
    if not _LOCAL_RE.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels) or labels[-1].isdigit():
        return None
    return text


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[1]


def _in_domain(name: str, domain: str) -> bool:
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    return bool(domain) and (name == domain or name.endswith("." + domain))


def catch_all_reason(address: str) -> str:
    """Why an address is a registry catch-all (``""`` when it is not one)."""
    labels = _domain_of(address).lower().rstrip(".").split(".")
    for n in range(len(labels)):  # the domain, then each parent: nic.or.kr holds x.nic.or.kr too
        who = REGISTRY_MAIL_DOMAINS.get(".".join(labels[n:]))
        if who is not None:
            return (f"registry catch-all: {address} is {who}'s own mailbox; the registry allocated "
                    "this space but does not run the network or handle its abuse")
    return ""


def _excluded(address: str, exclude: tuple[str, ...]) -> bool:
    for item in exclude:
        item = item.strip().lower()
        if not item:
            continue
        if "@" in item:
            if address == item.removeprefix("mailto:"):
                return True
        elif _in_domain(_domain_of(address), item):
            return True
    return False


def _override_matches(ov: ContactOverride, findings: Findings) -> str:
    """The reason an override applies to these findings (``""`` when it does not)."""
    if ov.cidr and findings.ip:
        try:
            if ipaddress.ip_address(findings.ip) in ipaddress.ip_network(ov.cidr, strict=False):
                return f"config override for {ov.cidr}"
        except ValueError:
            pass
    if ov.asn and findings.network is not None and findings.network.asn == ov.asn:
        return f"config override for AS{ov.asn}"
    if ov.domain:
        # the address's owner writes its PTR: only a name that resolves back, or a domain not guessed
        dom = findings.domain
        names = [dom.name if dom is not None and not dom.guessed else "",
                 findings.rdns or "" if findings.rdns_verified else ""]
        if any(n and _in_domain(n, ov.domain) for n in names):
            return f"config override for {ov.domain}"
    return ""


@dataclass
class _Acc:
    """Accumulates one address while ranking (local to one call)."""

    address: str
    confidence: Confidence
    order: int
    sources: list[str] = field(default_factory=list)


def _abuse_first(emails: tuple[str, ...]) -> list[str]:
    return sorted(emails, key=lambda e: 0 if "abuse" in e.split("@")[0].lower() else 1)


def _entity_label(source: str, ent: RegistryEntity, what: str) -> str:
    who = ent.handle or ent.name or "(no handle)"
    nested = f", nested under {ent.parent}" if ent.depth and ent.parent else ""
    return f"{source} {what} {who}{nested}"


def rank_contacts(findings: Findings, cfg: ContactsConfig) -> tuple[Contact, ...]:
    """Ranked recipients for the findings, best first; flagged catch-alls last."""
    found: dict[str, _Acc] = {}

    def add(raw: str, confidence: Confidence, source: str) -> None:
        address = normalise_address(raw)
        if address is None or _excluded(address, cfg.exclude):
            return
        acc = found.get(address)
        if acc is None:
            found[address] = _Acc(address, confidence, len(found), [source])
            return
        if _RANK[confidence] < _RANK[acc.confidence]:
            acc.confidence = confidence
        if source not in acc.sources:
            acc.sources.append(source)

    for ov in cfg.override:
        reason = _override_matches(ov, findings)
        if reason:
            for email in ov.emails:
                add(email, Confidence.OVERRIDE, reason)

    net = findings.network
    if net is not None:
        for ent in net.entities:
            if "abuse" in ent.roles:
                for email in _abuse_first(ent.emails):
                    add(email, Confidence.HIGH, _entity_label(net.source, ent, "abuse"))
    for email in findings.abusix:
        add(email, Confidence.MEDIUM, "abusix abuse-contacts zone")
    if net is not None:
        others = [e for e in net.entities if "abuse" not in e.roles]
        for ent in sorted(others, key=lambda e: 0 if {"noc", "technical"} & set(e.roles) else 1):
            roles = "/".join(ent.roles) or "contact"
            for email in _abuse_first(ent.emails):
                add(email, Confidence.MEDIUM, _entity_label(net.source, ent, roles))
    dom = findings.domain
    if dom is not None:
        for ent in dom.entities:
            if "abuse" in ent.roles:
                for email in ent.emails:
                    label = f"domain registration of {dom.name}: registrar abuse {ent.parent or ent.handle}"
                    add(email, Confidence.LOW, label.rstrip())
        if dom.name and (dom.mx or dom.has_address):
            why = "has MX" if dom.mx else "has an address"
            guess = ", guessed domain" if dom.guessed else ""
            for box in cfg.role_mailboxes:
                add(f"{box}@{dom.name}", Confidence.LOW,
                    f"RFC 2142 role mailbox at {dom.name} ({why}{guess})")

    contacts = []
    for acc in found.values():
        flag = "" if acc.confidence is Confidence.OVERRIDE else catch_all_reason(acc.address)
        contacts.append((acc, Contact(acc.address, acc.confidence, tuple(acc.sources), flag)))
    contacts.sort(key=lambda pair: (bool(pair[1].flag), _RANK[pair[0].confidence], pair[0].order))
    return tuple(c for _, c in contacts)


def explain(contact: Contact) -> str:
    """One display line: the address, its confidence, every source, and the flag if any."""
    text = f"{contact.address} ({contact.confidence.value}): {'; '.join(contact.sources)}"
    if contact.flag:
        text += f" [demoted: {contact.flag}]"
    return text


def abuse_status(findings: Findings) -> str:
    """A sentence on whether the registry named an abuse contact for the network."""
    net = findings.network
    if net is None:
        return "no registry answer: the network's abuse contact is unknown"
    abuse = [e for e in net.entities if "abuse" in e.roles]
    emails = [a for e in abuse for a in e.emails if normalise_address(a)]
    holder = net.handle or net.name or "the network"
    if not emails:
        return f"the registry ({net.registry}) names no abuse contact for {holder}"
    usable = [a for a in emails if not catch_all_reason(normalise_address(a) or "")]
    if not usable:
        return (f"the registry ({net.registry}) names only its own catch-all mailbox as abuse contact "
                f"for {holder}")
    return f"the registry ({net.registry}) names an abuse contact for {holder}"


def choose_recipients(contacts: Sequence[Contact]) -> tuple[Contact, ...]:
    """Who gets the report by default: the best confidence tier present, catch-alls (flagged) never.

    Role mailboxes (the low tier) are guesses at a domain that may itself be a guess: by default the
    report goes to the one RFC 2142 names for abuse reports, not to every mailbox listed; a person can
    still pick the others."""
    usable = [c for c in contacts if not c.flag]
    for level in (Confidence.OVERRIDE, Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW):
        tier = tuple(c for c in usable if c.confidence == level)
        if tier and level is Confidence.LOW:
            abuse = tuple(c for c in tier if c.address.startswith("abuse@"))
            return abuse[:1] or tier[:1]
        if tier:
            return tier
    return ()
