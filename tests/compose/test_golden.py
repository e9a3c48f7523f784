"""Golden test: the rendered report for examples/wingate.log (the old README's WinGate scan).

The attacker and its evidence come from the real scanner (clock fixed so syslog years are stable);
the findings are the sandbox example's, built by hand so this test needs no server. When a template
changes on purpose, regenerate with ``UPDATE_GOLDEN=1 pytest tests/compose/test_golden.py`` and read
the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.compose import Target, compose
from bot.config import from_dict
from bot.scan import scan_paths
from tests.compose.helpers import NOW, shinbiro_contacts, shinbiro_findings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "wingate.log"
GOLDEN = Path(__file__).resolve().parent / "golden"
CFG = from_dict({
    "scan": {"own_networks": ["1.2.3.0/24"], "own_hostnames": ["mydomain.com"]},
    "report": {"reporter_name": "Security Team", "reporter_email": "security@mydomain.com",
               "organisation": "My Domain Inc.", "excerpt_lines": 8},
})


def _render() -> dict[str, bytes]:
    if not EXAMPLE.is_file():
        pytest.fail(f"{EXAMPLE} is missing: the golden report is rendered from it")
    result = scan_paths([EXAMPLE], CFG.scan, now=NOW)
    attacker = result.attacker
    assert attacker is not None and attacker.ip == "211.191.28.13"
    target = Target(attacker, shinbiro_findings())
    draft = compose("INC-20260908-0001", [target], shinbiro_contacts()[:1], CFG,
                    description="Scan of our network for vulnerable WinGate services.", now=NOW)
    files = {"wingate.txt": f"Subject: {draft.subject}\n\n{draft.body}".encode()}
    files.update({f"wingate.{a.filename}": a.data for a in draft.attachments})
    return files


def test_wingate_report_matches_golden() -> None:
    rendered = _render()
    if os.environ.get("UPDATE_GOLDEN"):
        for name, data in rendered.items():
            (GOLDEN / name).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in GOLDEN.glob("wingate.*")}
    assert sorted(rendered) == sorted(expected)
    for name, data in rendered.items():
        assert data.decode() == expected[name].decode(), name
