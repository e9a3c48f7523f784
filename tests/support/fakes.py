"""Stand-ins shared by the tests: a gatherer with fixed answers, logs to scan, and an App on them.

The App is the real one (real store, real SMTP client against tests/support/smtp.py's server); only
the network lookups are replaced, by findings shaped like the sandbox's example.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.app import App
from bot.config import Config, from_dict
from bot.lifecycle import Actor
from bot.mail.outbox import Outbox
from bot.models import (
    Candidate,
    Confidence,
    Contact,
    Evidence,
    Findings,
    Origin,
    RegistryEntity,
    Role,
    StoredDraft,
    Target,
)
from bot.store import Store
from tests.compose.helpers import NOW, shinbiro_findings
from tests.support.smtp import SmtpServer

TESTER = Actor.cli("test")


class FakeGatherer:
    """Every address in 211.191.0.0/16 is Shinbiro's (abuse@shinbiro.example); 45.33.32.x another
    network's (abuse@other.example). Records the addresses it was asked about."""

    def __init__(self, tweak: Callable[[Findings], Findings] | None = None) -> None:
        self.calls: list[str] = []
        self.tweak = tweak

    def gather(self, ip: str, *, probe: bool | None = None,
               progress: Callable[[str], None] | None = None) -> Findings:
        self.calls.append(ip)
        if progress:
            progress(f"RDAP {ip}...succeeded.")
        found = shinbiro_findings(ip)
        if ip.startswith("45.33.32."):
            assert found.network is not None
            ent = RegistryEntity("ABUSE-OTHER", "Other", "group", ("abuse",), ("abuse@other.example",))
            found = dataclasses.replace(found, network=dataclasses.replace(found.network, entities=(ent,)),
                                        domain=None)
        return self.tweak(found) if self.tweak else found

    def gather_many(self, ips: Iterable[str], *, probe: bool | None = None,
                    progress: Callable[[str], None] | None = None) -> Iterator[tuple[str, Findings]]:
        for ip in ips:
            yield ip, self.gather(ip)

    def close(self) -> None:
        pass


def snort_log(tmp_path: Path, ips: Sequence[str], per_ip: int = 3, name: str = "case.log") -> str:
    """A snort log in which each address scans our network; the first address is seen most."""
    path = tmp_path / name
    lines = [f"Apr 14 23:11:{i:02d} fw.mydomain.com snort[1]: SCAN: {ip}:{1000 + i} -> 192.0.2.{i + 1}:8080"
             for n, ip in enumerate(ips) for i in range(per_ip + (len(ips) - n))]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def app_config(tmp_path: Path, smtp: SmtpServer | None = None, **report: Any) -> Config:
    data: dict[str, Any] = {"report": {"incident_dir": str(tmp_path / "incident"),
                                       "reporter_email": "security@mydomain.example", **report}}
    if smtp is not None:
        data["smtp"] = smtp.config_dict()
    return from_dict(data)


def make_app(tmp_path: Path, smtp: SmtpServer | None = None, *, gatherer: Any = None,
             now: Callable[[], datetime] = lambda: NOW, cfg: Config | None = None, **report: Any) -> App:
    """A real App on a temporary incident folder, with the fake gatherer and (if given) the SMTP server."""
    cfg = cfg or app_config(tmp_path, smtp, **report)
    outbox = smtp.track(Outbox(cfg.smtp, sleep=lambda s: None)) if smtp is not None else None
    return App(cfg, gatherer=gatherer or FakeGatherer(), outbox=outbox, now=now)


def stored_draft(incident_id: str, ip: str = "192.0.2.1", *,
                 recipients: Sequence[str] = ("abuse@example.net",), subject: str | None = None,
                 findings: Findings | None = None) -> StoredDraft:
    """A draft as the pipeline stores it, for store-level tests (no compose, no gather)."""
    cand = Candidate(ip, 3, 3, Role.SOURCE, True, Evidence((f"scan from {ip}",) * 3, 3, NOW, NOW))
    subject = subject if subject is not None else f"[{incident_id}] scan"
    return StoredDraft(incident_id=incident_id, subject=subject, body="body\n", recipients=tuple(recipients),
                       contacts=tuple(Contact(a, Confidence.HIGH, ("test",)) for a in recipients),
                       attachments=(), targets=(Target(cand, findings or shinbiro_findings(ip)),))


def create(store: Store, ip: str = "192.0.2.1", domain: str = "example.net", *, forced: bool = False,
           now: datetime | None = None, actor: Actor = TESTER, subject_rest: str = "", **kw: Any) -> str:
    """A new draft incident in ``store``; its id (its subject ``[ID] subject_rest`` when given)."""
    inc = store.new_id(now)
    if subject_rest:
        kw["subject"] = f"[{inc}] {subject_rest}"
    store.create_draft(stored_draft(inc, ip, **kw), domain=domain, files={}, origin=Origin("text"),
                       actor=actor, forced=forced, now=now)
    return inc


def sent_incident(store: Store, ip: str = "192.0.2.1", subject_rest: str = "Network scan from 192.0.2.1",
                  mid: str = "<one@mydomain.example>") -> str:
    """An incident whose report went out as ``mid`` (to abuse@example.net), subject ``[ID] subject_rest``."""
    inc = store.new_id()
    store.create_draft(stored_draft(inc, ip, subject=f"[{inc}] {subject_rest}"), domain="example.net",
                       files={}, origin=Origin("text"), actor=TESTER)
    store.begin_send(inc, TESTER, mid, b"eml")
    store.finish_send(inc, TESTER, ["abuse@example.net"], {})
    return inc
