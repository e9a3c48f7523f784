"""`incident scan` run as the installed command: examples/, selectors, JSON, and bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def incident(tmp_path: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "incident"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]
    config = tmp_path / "incident.toml"
    if not config.exists():
        config.write_text("[scan]\ntimezone = \"UTC\"\n")
    proc = subprocess.run([*cmd, "--config", str(config), "scan", *args], input=stdin, capture_output=True,
                          cwd=tmp_path, timeout=60, check=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def table_ips(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("IP "))
    return [line.split()[0] for line in lines[start + 1:] if line and not line.startswith("...")]


@pytest.mark.parametrize(("example", "attacker"), [
    ("wingate.log", "211.191.28.13"),
    ("named-probe.log", "166.188.17.76"),
    ("mixed.log", "45.146.165.37"),
])
def test_examples(tmp_path: Path, example: str, attacker: str) -> None:
    proc = incident(tmp_path, str(EXAMPLES / example))
    assert proc.returncode == 0, proc.stderr
    assert f"{attacker} appears to be the attacker" in proc.stdout
    assert table_ips(proc.stdout)[0] == attacker


def test_json_for_scripts(tmp_path: Path) -> None:
    proc = incident(tmp_path, str(EXAMPLES / "mixed.log"), "--json")
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["attacker"] == "45.146.165.37"
    ips = [c["ip"] for c in doc["candidates"]]
    assert "2a0e:97c0:3e3:1d1::5" in ips and "185.220.101.4" in ips
    top = doc["candidates"][0]
    assert top["role"] == "source" and top["reportable"] is True and top["count"] == len(top["evidence"])
    assert top["first_seen"].endswith("+00:00")
    # documentation addresses are listed last unless --all-addresses
    assert ips[-1] == "192.0.2.44"


def test_selector_ip_and_string(tmp_path: Path) -> None:
    log = str(EXAMPLES / "wingate.log")
    by_ip = incident(tmp_path, log, "64.56.114.21")
    assert by_ip.returncode == 0 and "64.56.114.21 named on the command line" in by_ip.stdout
    by_string = incident(tmp_path, log, "Proxy")
    assert by_string.returncode == 0 and "isolated by 'Proxy'" in by_string.stdout
    assert table_ips(by_string.stdout)[0] == "64.56.114.21"
    explicit = incident(tmp_path, log, "-s", "WinGate")
    assert table_ips(explicit.stdout)[0] == "211.191.28.13"


def test_received_lines_and_r(tmp_path: Path) -> None:
    log = tmp_path / "mail.txt"
    log.write_text("Received: from x (x [9.9.9.9])\n" * 3 + "sshd: Failed password from 5.6.7.8 port 2\n")
    assert table_ips(incident(tmp_path, str(log)).stdout) == ["5.6.7.8"]
    assert table_ips(incident(tmp_path, str(log), "-r").stdout)[0] == "9.9.9.9"


def test_standard_input(tmp_path: Path) -> None:
    proc = incident(tmp_path, "-", stdin=(EXAMPLES / "named-probe.log").read_bytes())
    assert proc.returncode == 0 and table_ips(proc.stdout)[0] == "166.188.17.76"


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], proc.stderr


def test_missing_file(tmp_path: Path) -> None:
    _one_line_error(incident(tmp_path, str(tmp_path / "nope.log")), 2, "no such file")


def test_directory(tmp_path: Path) -> None:
    _one_line_error(incident(tmp_path, str(EXAMPLES)), 2, "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    _one_line_error(incident(tmp_path, str(tmp_path / "empty.log")), 2, "empty")


def test_binary_junk(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 40 + b"\x00\xff" * 500)
    _one_line_error(incident(tmp_path, str(junk)), 1, "no address found")


def test_a_selector_matching_no_line_says_so(tmp_path: Path) -> None:
    # "incident scan a.log typo.log": the last argument is taken as a selector; say which, and why
    proc = incident(tmp_path, str(EXAMPLES / "wingate.log"), "wingate2.log")
    _one_line_error(proc, 1, "no line contains 'wingate2.log'")
    assert "no file of that name" in proc.stderr


def test_an_empty_selector_is_a_clear_error(tmp_path: Path) -> None:
    _one_line_error(incident(tmp_path, str(EXAMPLES / "wingate.log"), ""), 2, "empty")
    _one_line_error(incident(tmp_path, str(EXAMPLES / "wingate.log"), "-s", ""), 2, "empty")


def test_the_headline_says_when_the_attacker_is_not_what_it_seems(tmp_path: Path) -> None:
    absent = incident(tmp_path, str(EXAMPLES / "wingate.log"), "8.8.8.8")
    assert absent.returncode == 0
    assert "8.8.8.8 named on the command line, but not found in the input" in absent.stdout
    log = tmp_path / "lan.log"
    log.write_text("sshd: Failed password for root from 192.168.1.20 port 2222 ssh2\n")
    private = incident(tmp_path, str(log))
    assert "192.168.1.20 appears to be the attacker (not reportable: not a public address)" in private.stdout


def test_closed_standard_input_is_a_clear_error(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "incident"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]
    (tmp_path / "incident.toml").write_text("[scan]\n")
    config = str(tmp_path / "incident.toml")
    proc = subprocess.run(["sh", "-c", 'exec "$@" <&-', "sh", *cmd, "--config", config, "scan", "-"],
                          capture_output=True, text=True, timeout=60, check=False)
    _one_line_error(proc, 2, "standard input is closed")
