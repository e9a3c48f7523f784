"""Which abuse desks act: per desk (the contact's mail domain, and the network reported to it), the
reports sent, the ones answered by a person, auto-acknowledged, bounced, and the median time from
sending to the first answer by a person.

``collect`` reads the store (incidents that went out, their recipients and what became of each, the
network of their first address, their filed replies); ``summarise`` is pure. A report sent to
several desks counts once for each. A reply counts for the desk whose domain its sender's address
is in (or under); one whose sender matches none of the recipients (a ticket system on another
domain) counts for every desk of that report. A bounce counts for the recipient it marked failed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr

from bot.errors import StoreError
from bot.lifecycle import REPORTED
from bot.store import Store
from bot.store.followups import replies


@dataclass(frozen=True)
class Reply:
    kind: str               # human, auto_ack, bounce
    received: datetime
    sender: str


@dataclass(frozen=True)
class SentReport:
    incident: str
    sent: datetime
    network: str                                 # "SHINBIRO-KR (AS64496)" or ""
    recipients: dict[str, str]                   # address -> status ("accepted", "failed: ...")
    replies: tuple[Reply, ...] = ()


@dataclass
class DeskStats:
    domain: str
    network: str
    sent: int = 0
    answered: int = 0            # by a person
    auto_ack: int = 0
    bounced: int = 0
    answer_hours: list[float] = field(default_factory=list)

    @property
    def median_hours(self) -> float | None:
        return statistics.median(self.answer_hours) if self.answer_hours else None

    def as_dict(self) -> dict[str, object]:
        median = self.median_hours
        return {"domain": self.domain, "network": self.network, "sent": self.sent, "answered": self.answered,
                "auto_acknowledged": self.auto_ack, "bounced": self.bounced,
                "median_hours_to_answer": round(median, 2) if median is not None else None}


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2].lower().rstrip(".")


def _under(sender_domain: str, desk: str) -> bool:
    return bool(sender_domain) and (sender_domain == desk or sender_domain.endswith("." + desk))


def summarise(reports: Iterable[SentReport]) -> list[DeskStats]:
    """Per (domain, network), most reports first."""
    desks: dict[tuple[str, str], DeskStats] = {}
    for rep in reports:
        domains = {_domain(a): status for a, status in rep.recipients.items() if _domain(a)}
        for dom in domains:
            desk = desks.setdefault((dom, rep.network), DeskStats(dom, rep.network))
            desk.sent += 1
            if "bounced" in domains[dom]:
                desk.bounced += 1
        for kind in ("human", "auto_ack"):
            firsts: dict[str, datetime] = {}
            for r in sorted((r for r in rep.replies if r.kind == kind), key=lambda r: r.received):
                sender = _domain(r.sender)
                mine = [d for d in domains if _under(sender, d)] or list(domains)
                for dom in mine:
                    firsts.setdefault(dom, r.received)
            for dom, at in firsts.items():
                desk = desks[(dom, rep.network)]
                if kind == "human":
                    desk.answered += 1
                    desk.answer_hours.append(max(0.0, (at - rep.sent).total_seconds() / 3600))
                else:
                    desk.auto_ack += 1
    return sorted(desks.values(), key=lambda d: (-d.sent, d.domain, d.network))


def collect(store: Store, *, since: datetime | None = None) -> list[SentReport]:
    """The reports that went out (sent or answered; since ``since`` when given), from the store."""
    out: list[SentReport] = []
    for inc in store.incidents(REPORTED, None):
        if inc.sent is None or (since is not None and inc.sent < since):
            continue
        network = ""
        try:
            draft = store.draft(inc.id)
            net = draft.targets[0].findings.network if draft.targets else None
            if net is not None:
                network = f"{net.name} (AS{net.asn})" if net.asn else net.name
        except StoreError:  # a damaged draft still counts, without its network
            pass
        filed = tuple(Reply(r.kind or "human", r.received, r.sender) for r in replies(store, inc.id))
        # the desks it reached: accepted by their server (a later bounce marks one failed: bounced ...)
        recipients = {a: s for a, s in inc.delivery.items() if s == "accepted" or "bounced" in s}
        out.append(SentReport(inc.id, inc.sent, network, recipients, filed))
    return out


def since_days(now: datetime, days: float | None) -> datetime | None:
    return now - timedelta(days=days) if days is not None else None


def table(desks: Sequence[DeskStats]) -> list[str]:
    """The text table ``incident stats`` prints."""
    head = f"{'desk (contact domain)':<32} {'network':<28} {'sent':>5} {'person':>6} {'auto':>5} " \
           f"{'bounce':>6} {'median to answer':>17}"
    rows = [head]
    for d in desks:
        med = d.median_hours
        when = "-" if med is None else (f"{med:.1f} h" if med < 48 else f"{med / 24:.1f} days")
        rows.append(f"{d.domain[:32]:<32} {d.network[:28]:<28} {d.sent:>5} {d.answered:>6} {d.auto_ack:>5} "
                    f"{d.bounced:>6} {when:>17}")
    return rows
