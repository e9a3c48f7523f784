"""`incident lookup` run as a subprocess against the sandbox: text, JSON, no contact, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox import Sandbox
from tests.sandbox.core import to_toml

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def config_path(sandbox: Sandbox, tmp_path: Path) -> Path:
    data = sandbox.config_dict(tmp_path)
    data["gather"].update({"timeout": 0.5, "retries": 1, "backoff": 0.01})
    path = tmp_path / "incident.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "handlers.cli", "--config", str(config), "lookup", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_lookup_prints_findings_and_ranked_contacts(config_path: Path) -> None:
    proc = _run(config_path, "130.59.31.80")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Reverse:    www.switch.ch (resolves back)" in out
    assert "Registry:   ripencc via rdap" in out
    contacts = out.split("Contacts (best first):", 1)[1]
    assert contacts.splitlines()[1].strip().startswith("1. abuse@switch.ch (high): rdap abuse AR31930-RIPE")
    assert "Reverse lookup: www.switch.ch" in proc.stderr  # progress, as the old tool printed it
    assert "Traceback" not in proc.stderr


def test_lookup_json_for_scripts(config_path: Path) -> None:
    proc = _run(config_path, "--json", "2a00:2381:ffff::1")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["kind"] == "ip" and doc["findings"]["network"]["registry"] == "ripencc"
    assert doc["contacts"][0]["confidence"] == "high"
    bt_abuse_role = {"zzdnsr@bt.com", "steve.a.marshall@bt.com", "lee.bailey-hague@bt.com"}
    assert doc["contacts"][0]["address"] in bt_abuse_role
    assert proc.stderr == ""  # no progress lines mixed into a script's output


def test_lookup_says_when_the_registry_names_no_abuse_contact(config_path: Path) -> None:
    proc = _run(config_path, "196.11.240.215")
    assert proc.returncode == 0, proc.stderr
    assert "names no abuse contact" in proc.stdout


def test_lookup_shows_a_catch_all_as_demoted(config_path: Path) -> None:
    proc = _run(config_path, "1.1.1.1")
    assert "[demoted: registry catch-all: helpdesk@apnic.net is APNIC's own mailbox" in proc.stdout


def test_lookup_registry_down_reports_the_problem(config_path: Path, sandbox: Sandbox) -> None:
    sandbox.http.fail("rdap.db.ripe.net", "503", times=None)
    proc = _run(config_path, "62.239.237.1")
    assert "RDAP: RIPE NCC stayed unavailable after 2 attempts" in proc.stdout
    assert "Registry:   ripencc via whois" in proc.stdout  # the port-43 fallback
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("target", ["not a target!", "1.2.3", "0x7f.1", "a" * 64 + ".com"])
def test_lookup_rejects_a_bad_target(config_path: Path, sandbox: Sandbox, target: str) -> None:
    """A mistyped address or a name DNS cannot hold is the user's error, not a failed lookup (3)."""
    sandbox.dns.reset_counts()
    proc = _run(config_path, target)
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.strip().endswith(f"incident: error: not an IP address, host name or domain: "
                                        f"{target!r}")
    assert "Traceback" not in proc.stderr
    assert sandbox.dns.queries == []


def test_lookup_help_is_the_module_docstring(config_path: Path) -> None:
    proc = _run(config_path, "--help")
    assert proc.returncode == 0 and "the old -x" in proc.stdout


@pytest.mark.parametrize("ip", ["10.0.0.1", "239.1.2.3"])
def test_private_address_is_nothing_to_report_not_a_failure(config_path: Path, ip: str) -> None:
    proc = _run(config_path, ip)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "not a global address" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_a_domain_without_rdap_service_is_a_fact_not_a_failed_lookup(config_path: Path) -> None:
    """No RDAP service for the TLD (or no record) is an answer: a note, exit 1 (nothing found), not 3."""
    proc = _run(config_path, "nosuchdomain-zz.example")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    notes = proc.stdout.split("Notes:", 1)[1].split("Contacts", 1)[0]
    assert "Domain RDAP: no RDAP service is known for nosuchdomain-zz.example's TLD" in notes
    assert "Problems:" not in proc.stdout
    assert "RDAP domain nosuchdomain-zz.example...no RDAP service is known" in proc.stderr  # not "failed"
