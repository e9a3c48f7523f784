"""The framing attempts of issue 10, run through the installed `incident scan`: each names 45.1.2.3.

The third party, 74.125.225.229, is written where the client chose the text: a User-Agent, an sshd
user name, a requested URL; and, on a file of 8 MB or more (counted shape by shape in two processes),
as SRC= and rhost= cues inside a User-Agent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.scan.scanner import BULK_MIN_BYTES

ATTACKER, VICTIM = "45.1.2.3", "74.125.225.229"


def incident_scan(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "incident"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]
    config = tmp_path / "incident.toml"
    config.write_text("[scan]\ntimezone = \"UTC\"\n")
    return subprocess.run([*cmd, "--config", str(config), "scan", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, check=False)


def named(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    head = [line for line in proc.stdout.splitlines() if "appears to be the attacker" in line]
    assert len(head) == 1, proc.stdout
    return head[0].split()[0]


@pytest.mark.parametrize("lines", [
    # an HTTP access log whose User-Agent reads "x from 74.125.225.229 port 4444", 50 lines from 45.1.2.3
    [f'{ATTACKER} - - [10/Mar/2026:10:00:{i:02d} +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" '
     f'"x from {VICTIM} port 4444"' for i in range(50)],
    # the sshd user name is "from 74.125.225.229 port 22"
    [f"Mar 10 10:00:00 h sshd[1]: Connection closed by invalid user from {VICTIM} port 22 {ATTACKER} "
     "port 40000 [preauth]"],
    # an nginx error line with SRC=<victim> in the requested URL
    [f'2026/03/10 10:00:00 [error] 123#123: *1 open() "/var/www/x" failed (2: No such file or directory), '
     f'client: {ATTACKER}, server: example.com, request: "GET /?SRC={VICTIM} HTTP/1.1", host: "example.com"'],
], ids=["user-agent", "sshd-user-name", "nginx-error-url"])
def test_the_framing_lines_name_the_attacker(tmp_path: Path, lines: list[str]) -> None:
    log = tmp_path / "framed.log"
    log.write_text("\n".join(lines) + "\n")
    assert named(incident_scan(tmp_path, str(log))) == ATTACKER


def test_cues_in_a_user_agent_do_not_frame_on_a_big_file(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    with open(log, "w", encoding="ascii") as fh:
        n = 0
        while fh.tell() < BULK_MIN_BYTES + (1 << 20):
            fh.write(f'{ATTACKER} - - [10/Mar/2026:10:{n // 60 % 60:02d}:{n % 60:02d} +0000] '
                     f'"GET /x HTTP/1.1" 404 1 "-" "SRC={VICTIM} rhost={VICTIM} client: {VICTIM}"\n')
            fh.write(f"Mar 10 10:00:00 gw kernel: [UFW BLOCK] IN=eth0 SRC=10.0.{n % 200}.{n % 250 + 1} "
                     "DST=192.168.7.1 PROTO=UDP\n")
            n += 1
    proc = incident_scan(tmp_path, str(log), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    by_ip = {c["ip"]: c for c in doc["candidates"]}
    assert doc["attacker"] == ATTACKER and by_ip[VICTIM]["source_count"] == 0


def test_a_forged_second_nginx_trailer_names_nobody_and_says_why(tmp_path: Path) -> None:
    # nginx writes the Referer unescaped after its own "client:": a referrer of
    # '", client: VICTIM, server: "y' is a second trailer that no reading of the line tells from nginx's
    log = tmp_path / "error.log"
    log.write_text(f'2026/03/10 10:00:01 [error] 7#7: *3 open() "/srv/www/x" failed (2: No such file or '
                   f'directory), client: {ATTACKER}, server: y, request: "GET /x HTTP/1.1", host: "y", '
                   f'referrer: "", client: {VICTIM}, server: "y"\n')
    proc = incident_scan(tmp_path, str(log))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert VICTIM not in proc.stdout and "appears to be the attacker" not in proc.stdout
    assert "1 line not used: a field that decides who is accused is written twice" in proc.stdout
    assert proc.stderr.startswith("incident: no address found in the input (1 line not used"), proc.stderr
    doc = json.loads(incident_scan(tmp_path, str(log), "--json").stdout)
    assert (doc["attacker"], doc["lines_ambiguous"], doc["lines_crowded"]) == (None, 1, 0)
    # and nobody is reported, for the same stated reason
    script = Path(sys.executable).parent / "incident"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]
    proc = subprocess.run([*cmd, "--config", str(tmp_path / "incident.toml"), "report", str(log), "-b",
                           "--dry-run", "--no-probe"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "Nothing to report: no reportable" in proc.stdout and "written twice" in proc.stdout
