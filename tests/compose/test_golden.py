"""Golden tests: the rendered reports, read as an abuse desk reads them.

- wingate: examples/wingate.log (the old README's WinGate scan), one address, a short description.
- grouped: tests/compose/data/grouped.log, three addresses of one network in one report (sshd from
  IPv4 and IPv6, postfix SASL failures without a source port, one very long log line), a long
  description with paragraphs and a list, a log time zone other than UTC, and no reporter address.

The attackers and their evidence come from the real scanner (clock fixed so syslog years are
stable); the findings are the sandbox example's, built by hand so these tests need no server. When a
template changes on purpose, regenerate with ``UPDATE_GOLDEN=1 pytest tests/compose/test_golden.py``
and read the new text as the person receiving it would before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.compose import WIDTH, Target, compose
from bot.config import Config, from_dict
from bot.scan import scan_paths
from tests.compose.helpers import NOW, shinbiro_contacts, shinbiro_findings

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
WINGATE_LOG = ROOT / "examples" / "wingate.log"
GROUPED_LOG = Path(__file__).resolve().parent / "data" / "grouped.log"
WINGATE_CFG = from_dict({
    "scan": {"own_networks": ["1.2.3.0/24"], "own_hostnames": ["mydomain.com"]},
    "report": {"reporter_name": "Security Team", "reporter_email": "security@mydomain.com",
               "organisation": "My Domain Inc.", "excerpt_lines": 8},
})
GROUPED_CFG = from_dict({
    "scan": {"own_hostnames": ["mydomain.com"], "timezone": "Europe/Berlin"},
    "report": {"reporter_name": "Night shift, Network Operations", "reporter_email": "",
               "organisation": "My Domain Inc.", "excerpt_lines": 20},
})
GROUPED_DESCRIPTION = (
    "Since early this morning several hosts in your network have been trying passwords against our "
    "SSH gateway and our mail submission service, a few seconds apart, which looks like one "
    "campaign rather than a mistyped password.\n"
    "\n"
    "What we did:\n"
    "- blocked the three addresses at our edge for 24 hours, so the attempts you see may stop by "
    "themselves without anything on your side having changed\n"
    "- kept the full logs in case you need more lines than the excerpts below"
)


def _draft_files(name: str, log: Path, cfg: Config, count: int, description: str) -> dict[str, bytes]:
    if not log.is_file():
        pytest.fail(f"{log} is missing: the golden report {name} is rendered from it")
    result = scan_paths([log], cfg.scan, now=NOW)
    attackers = [c for c in result.candidates if c.reportable][:count]
    assert len(attackers) == count, f"{log} should give {count} reportable addresses"
    targets = [Target(a, shinbiro_findings(a.ip)) for a in attackers]
    draft = compose("INC-20260908-0001", targets, shinbiro_contacts()[:1], cfg,
                    description=description, now=NOW)
    files = {f"{name}.txt": f"Subject: {draft.subject}\n\n{draft.body}".encode()}
    files.update({f"{name}.{a.filename}": a.data for a in draft.attachments})
    return files


CASES = {
    "wingate": lambda: _draft_files("wingate", WINGATE_LOG, WINGATE_CFG, 1,
                                    "Scan of our network for vulnerable WinGate services."),
    "grouped": lambda: _draft_files("grouped", GROUPED_LOG, GROUPED_CFG, 3, GROUPED_DESCRIPTION),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_matches_golden(name: str) -> None:
    rendered = CASES[name]()
    if os.environ.get("UPDATE_GOLDEN"):
        for old in GOLDEN.glob(f"{name}.*"):
            old.unlink()
        for file, data in rendered.items():
            (GOLDEN / file).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in GOLDEN.glob(f"{name}.*")}
    assert sorted(rendered) == sorted(expected)
    for file, data in rendered.items():
        assert data.decode() == expected[file].decode(), file


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_text_reads_as_a_desk_needs(name: str) -> None:
    """What the goldens must keep, whatever the wording: checked on the stored text itself, so that
    regenerating them cannot quietly accept a report that breaks these."""
    text = (GOLDEN / f"{name}.txt").read_text()
    body = text.split("\n\n", 1)[1]
    excerpt = {line for line in body.splitlines() if line.startswith("    ") and "[own-host]" in line}
    assert excerpt, "the excerpt lines are recognisable"
    for line in body.splitlines():
        assert len(line) <= WIDTH or line in excerpt, f"only evidence may pass {WIDTH} columns: {line!r}"
    flat = " ".join(body.split())
    assert "All times above are in UTC" not in flat
    assert "First seen:" in flat and "(times in the log's own time zone" in flat
    for line in body.splitlines():
        if line.lstrip().startswith(("First seen:", "Last seen:")):
            assert line.endswith(" UTC"), line
