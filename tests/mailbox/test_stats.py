"""incident stats: which abuse desks act (per contact domain and network)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import stats
from bot.store import Store, followups
from tests.handlers.cli.cli_run import env, incident_command
from tests.support.fakes import TESTER, sent_incident

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def report(n: int, recipients: dict[str, str], *replies: tuple[str, float, str],
           network: str = "SHINBIRO-KR (AS64496)") -> stats.SentReport:
    return stats.SentReport(f"INC-{n}", T0, network, recipients,
                            tuple(stats.Reply(k, T0 + timedelta(hours=h), s) for k, h, s in replies))


def test_desks_count_sent_answered_acknowledged_bounced_and_the_median_time_to_an_answer() -> None:
    desks = stats.summarise([
        report(1, {"abuse@shinbiro.example": "accepted"}, ("auto_ack", 0.1, "noreply@shinbiro.example"),
               ("human", 10, "Jiwoo <jiwoo@abuse.shinbiro.example>"),
               ("human", 30, "jiwoo@shinbiro.example")),
        report(2, {"abuse@shinbiro.example": "accepted"}, ("human", 2, "kim@shinbiro.example")),
        report(3, {"abuse@shinbiro.example": "accepted"}, ("auto_ack", 1, "noreply@shinbiro.example")),
        report(4, {"abuse@shinbiro.example": "failed: bounced: 5.1.1 user unknown",
                   "noc@other.example": "accepted"}, ("bounce", 0.1, "MAILER-DAEMON@mx.mydomain.example")),
        report(5, {"abuse@other.example": "accepted"}, ("human", 48, "desk@tickets.example"),
               network="OTHER-NET (AS64500)"),
    ])
    by = {(d.domain, d.network): d for d in desks}
    shin = by[("shinbiro.example", "SHINBIRO-KR (AS64496)")]
    assert (shin.sent, shin.answered, shin.auto_ack, shin.bounced) == (4, 2, 2, 1)
    assert shin.median_hours == 6.0, "first human answer only: 10 h and 2 h"
    other = by[("other.example", "OTHER-NET (AS64500)")]
    assert (other.sent, other.answered, other.median_hours) == (1, 1, 48.0), "a ticket system elsewhere"
    noc = by[("other.example", "SHINBIRO-KR (AS64496)")]
    assert (noc.sent, noc.answered, noc.bounced) == (1, 0, 0)
    assert desks[0] is shin, "most reports first"


def test_incident_stats_reads_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "incident")
    answered = sent_incident(store, "211.191.28.60", mid="<a@mydomain.example>")
    sent_incident(store, "211.191.28.61", mid="<b@mydomain.example>")
    followups.file_reply(store, answered, b"From: desk@example.net\n\nfixed\n", actor=TESTER,
                         sender="desk@example.net")
    config = tmp_path / "incident.toml"
    config.write_text(f'[report]\nincident_dir = "{tmp_path / "incident"}"\n')
    out = subprocess.run([*incident_command(), "--config", str(config), "stats", "--json"],
                         capture_output=True, text=True, env=env(), timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    [desk] = [json.loads(line) for line in out.stdout.splitlines()]
    assert desk["domain"] == "example.net" and (desk["sent"], desk["answered"]) == (2, 1)
    assert desk["median_hours_to_answer"] is not None
    table = subprocess.run([*incident_command(), "--config", str(config), "stats", "--since", "1"],
                           capture_output=True, text=True, env=env(), timeout=60, check=False)
    assert table.returncode == 0 and "example.net" in table.stdout and "person" in table.stdout
