"""Every XARF attachment we write passes the official ``xarf`` package's parser.

Reports are built the way a run builds them: real-looking log lines go through the real scanner,
then compose. Each attachment must parse with no error and no warning (an unknown field is a
warning), with the type the evidence calls for; where a type's required field cannot be known from
the evidence, there is no attachment and the body says why.
"""

from __future__ import annotations

import base64
import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import xarf as ours
from bot.compose import Target, compose
from bot.config import from_dict
from bot.models import Draft
from bot.scan import scan_lines
from tests.compose.helpers import NOW, shinbiro_findings

try:
    import jsonschema
    import xarf as official
except ImportError:  # pragma: no cover - the message below says what to install
    official = None

CFG = from_dict({
    "scan": {"own_networks": ["192.0.2.0/24", "2001:db8:1::/48"], "own_hostnames": ["mydomain.example"]},
    "report": {"reporter_name": "Security Team", "reporter_email": "security@mydomain.example",
               "organisation": "My Domain Inc."},
})
ATTACKER = "45.1.2.3"
ATTACKER6 = "2a01:4f8:c0c:1234::2"

# name: (lines, attacker, XARF type or None, what the attachment must say / why there is none)
CORPUS: dict[str, tuple[list[str], str, str | None, dict[str, Any] | str]] = {
    "sshd failed password": ([
        "Apr 14 23:11:08 gw.mydomain.example sshd[1234]: Failed password for root from 45.1.2.3 "
        "port 40000 ssh2",
        "Apr 14 23:11:10 gw.mydomain.example sshd[1234]: Failed password for root from 45.1.2.3 "
        "port 40002 ssh2",
    ], ATTACKER, "login_attack", {"source_port": 40000, "protocol": "tcp"}),
    "sshd invalid user, preauth close": ([
        "Apr 14 23:11:08 gw sshd[77]: Invalid user admin from 45.1.2.3 port 51822",
        "Apr 14 23:11:09 gw sshd[77]: Connection closed by invalid user admin 45.1.2.3 port 51822 [preauth]",
    ], ATTACKER, "login_attack", {"source_port": 51822}),
    "sshd over IPv6": ([
        "2026-04-14T23:11:08.120+02:00 gw sshd[9]: Failed password for root from 2a01:4f8:c0c:1234::2 "
        "port 61000 ssh2",
    ], ATTACKER6, "login_attack", {"source_port": 61000, "source_identifier": ATTACKER6}),
    "iptables scan of several ports": ([
        f"Apr 14 23:11:0{i} gw kernel: [12.{i}] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC=45.1.2.3 "
        f"DST=192.0.2.10 LEN=40 TOS=0x00 PREC=0x00 TTL=241 ID=4321 PROTO=TCP SPT=5{i}123 DPT={port} "
        "WINDOW=1024 RES=0x00 SYN URGP=0"
        for i, port in enumerate((23, 2323, 23, 8080))
    ], ATTACKER, "port_scan", {"source_port": 50123, "destination_port": 23,
                               "evidence_source": "firewall_logs"}),
    "iptables single drop": ([
        "Apr 14 23:11:08 gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00:00 SRC=45.1.2.3 DST=192.0.2.10 LEN=44 "
        "TOS=0x00 PREC=0x00 TTL=52 ID=1 PROTO=TCP SPT=44123 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0",
    ], ATTACKER, "port_scan", {"source_port": 44123, "destination_port": 3389}),
    "ip6tables, expanded addresses": ([
        "Apr 14 23:11:08 gw kernel: IN=eth0 OUT= SRC=2a01:04f8:0c0c:1234:0000:0000:0000:0002 "
        "DST=2001:0db8:0001:0000:0000:0000:0000:0001 LEN=80 TC=0 HOPLIMIT=50 FLOWLBL=0 PROTO=UDP "
        "SPT=5353 DPT=161 LEN=40",
    ], ATTACKER6, "port_scan", {"source_port": 5353, "destination_port": 161, "protocol": "udp"}),
    "snort syslog alert": ([
        "Apr 14 23:11:08 ids snort[86706]: [1:1000:1] MISC-WinGate-8080-Attempt [Classification: Attempted "
        "Information Leak] [Priority: 2] {TCP} 45.1.2.3:1693 -> 192.0.2.2:8080",
    ], ATTACKER, "port_scan", {"source_port": 1693, "destination_port": 8080,
                               "evidence_source": "ids_detection"}),
    "suricata to syslog": ([
        "Apr 14 23:11:08 ids suricata[2101]: [**] [1:2010935:3] ET SCAN Suspicious inbound to MSSQL "
        "port 1433 [**] "
        "[Classification: Potentially Bad Traffic] [Priority: 2] {TCP} 45.1.2.3:51234 -> 192.0.2.10:1433",
    ], ATTACKER, "port_scan", {"source_port": 51234, "destination_port": 1433}),
    "tcpdump -tttt": ([
        "2026-04-14 23:11:08.123456 IP 45.1.2.3.40404 > 192.0.2.10.22: Flags [S], seq 1, win 1024, length 0",
        "2026-04-14 23:11:08.223456 IP 45.1.2.3.40404 > 192.0.2.10.23: Flags [S], seq 1, win 1024, length 0",
    ], ATTACKER, "port_scan", {"source_port": 40404}),
    "fortigate key=value via syslog": ([
        'Apr 14 23:11:08 fw1 date=2026-04-14 time=23:11:08 devname="fw1" type="traffic" '
        'subtype="forward" srcip=45.1.2.3 srcport=61001 srcintf="wan1" dstip=192.0.2.10 dstport=445 '
        'dstintf="lan" action="deny" proto=6',
    ], ATTACKER, "port_scan", {"source_port": 61001, "destination_port": 445,
                               "evidence_source": "firewall_logs"}),
    "portsentry, no source port": ([
        "Apr 14 23:11:08 gw portsentry[812]: attackalert: SYN/Normal scan from host: "
        "45.1.2.3/45.1.2.3 to TCP port: 23",
        "Apr 14 23:11:09 gw portsentry[812]: attackalert: SYN/Normal scan from host: "
        "45.1.2.3/45.1.2.3 to TCP port: 111",
    ], ATTACKER, "vulnerability_scan", {"scan_type": "port_scan", "targeted_ports": [23, 111]}),
    "nginx probing for files": ([
        '45.1.2.3 - - [14/Apr/2026:23:11:08 +0200] "GET /.env HTTP/1.1" 404 153 "-" "Mozilla/5.0 zgrab/0.x"',
        '45.1.2.3 - - [14/Apr/2026:23:11:09 +0200] "GET /.git/config HTTP/1.1" 404 153 "-" "Mozilla/5.0"',
        '45.1.2.3 - - [14/Apr/2026:23:11:09 +0200] "HEAD /wp-config.php.bak HTTP/1.1" 200 0 "-" "-"',
    ], ATTACKER, "reconnaissance", {"probed_resources": ["/.env", "/.git/config", "/wp-config.php.bak"],
                                    "http_methods": ["GET", "HEAD"], "response_codes": [404, 200]}),
    "nginx error log": ([
        '2026/04/14 23:11:08 [error] 812#812: *1 open() "/var/www/html/phpmyadmin/index.php" failed '
        '(2: No such file or directory), client: 45.1.2.3, server: www.mydomain.example, '
        'request: "GET /phpmyadmin/ HTTP/1.1"',
    ], ATTACKER, "reconnaissance", {"probed_resources": ["/phpmyadmin/"]}),
    "postfix with client port logging": ([
        "Apr 14 23:11:08 mx postfix/smtpd[99]: warning: unknown[45.1.2.3]:50321: SASL LOGIN "
        "authentication failed: UGFzc3dvcmQ6",
    ], ATTACKER, "login_attack", {"source_port": 50321}),
    "postfix SASL, default logging": ([
        "Apr 14 23:11:08 mx postfix/smtpd[99]: warning: unknown[45.1.2.3]: SASL LOGIN authentication failed: "
        "UGFzc3dvcmQ6",
        "Apr 14 23:11:14 mx postfix/smtpd[99]: warning: unknown[45.1.2.3]: SASL LOGIN authentication failed: "
        "UGFzc3dvcmQ6",
    ], ATTACKER, None, "source port"),
    "dovecot": ([
        "Apr 14 23:11:08 mx dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): "
        "user=<info>, method=PLAIN, rip=45.1.2.3, lip=192.0.2.25, TLS, session=<abc>",
    ], ATTACKER, None, "source port"),
    "fail2ban ban, nothing a report type needs": ([
        "2026-04-14 23:11:08,123 fail2ban.actions [1]: NOTICE [recidive] Ban 45.1.2.3",
    ], ATTACKER, None, "neither the ports nor the resources"),
    "no time on any line": ([
        "Failed password for root from 45.1.2.3 port 40000 ssh2",
    ], ATTACKER, None, "no time"),
}


def _parser() -> Any:
    if official is None:
        pytest.fail("the official xarf package is missing: pip install -e '.[test]' (pyproject's test extra)")
    checks = jsonschema.FormatChecker().checkers
    missing = [f for f in ("date-time", "hostname", "email", "uuid", "ipv4", "ipv6") if f not in checks]
    if missing:
        pytest.fail(f"jsonschema cannot check the formats {missing}, so the xarf parser would not either: "
                    "install the test extra (fqdn, rfc3339-validator)")
    return official.parse


def _draft(lines: list[str]) -> Draft:
    result = scan_lines(lines, CFG.scan, now=NOW)
    assert result.attacker is not None
    return compose("INC-20260908-0001", [Target(result.attacker, shinbiro_findings(result.attacker.ip))],
                   (), CFG, description="Seen from our monitoring.", now=NOW)


def _check(data: bytes) -> dict[str, Any]:
    parsed = _parser()(data.decode("utf-8"))
    assert [(e.field, e.message) for e in parsed.errors] == []
    assert [w.message for w in parsed.warnings] == []
    assert parsed.report is not None
    doc: dict[str, Any] = json.loads(data)
    return doc


def test_we_write_the_spec_version_the_package_validates() -> None:
    _parser()
    assert official.SPEC_VERSION == ours.XARF_VERSION, (
        f"xarf now bundles spec {official.SPEC_VERSION}: read its schemas, then update bot/xarf.py")


@pytest.mark.parametrize("name", list(CORPUS))
def test_each_report_validates_with_the_official_parser(name: str) -> None:
    lines, attacker, kind, expect = CORPUS[name]
    draft = _draft(lines)
    if kind is None:
        assert draft.attachments == ()
        assert isinstance(expect, str)
        flat = " ".join(draft.body.split())
        assert "XARF report: not attached:" in flat and expect in flat
        assert "is attached" not in flat
        return
    (att,) = draft.attachments
    doc = _check(att.data)
    assert (doc["category"], doc["type"], doc["source_identifier"]) == ("connection", kind, attacker)
    assert isinstance(expect, dict)
    for key, value in expect.items():
        assert doc[key] == value, key
    assert f"{att.filename} (connection/{kind})" in draft.body
    payload = base64.b64decode(doc["evidence"][0]["payload"]).decode()
    assert "192.0.2." not in payload and "2001:0db8:0001" not in payload  # own addresses stay masked


def test_the_corpus_covers_every_type_we_write() -> None:
    assert {kind for _l, _a, kind, _e in CORPUS.values() if kind} == set(ours.TYPES_WRITTEN)


def test_grouped_report_attachments_all_validate() -> None:
    lines = [line for name in ("sshd failed password", "sshd over IPv6", "postfix with client port logging")
             for line in CORPUS[name][0]]
    lines = [line.replace("45.1.2.3", "45.1.2.9") if "postfix" in line else line for line in lines]
    result = scan_lines(lines, CFG.scan, now=NOW)
    targets = [Target(c, shinbiro_findings(c.ip)) for c in result.candidates if c.reportable]
    draft = compose("INC-20260908-0002", targets, (), CFG, now=NOW)
    assert len(draft.attachments) == 3
    ids = {_check(att.data)["report_id"] for att in draft.attachments}
    assert len(ids) == 3


_PATH_CHARS = string.ascii_letters + string.digits + "/._-%?=&~+:;@!$'()*,[]{}|\\^`\"<>#é漢\u202e\x1b"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sport=st.integers(min_value=0, max_value=99999),
    dport=st.integers(min_value=0, max_value=99999),
    path=st.text(alphabet=_PATH_CHARS, min_size=1, max_size=300),
    form=st.sampled_from(["sshd", "iptables", "snort", "nginx", "postfix", "portsentry"]),
    description=st.text(max_size=1500),
)
def test_any_ports_paths_and_descriptions_still_validate(sport: int, dport: int, path: str, form: str,
                                                         description: str) -> None:
    """Attacker-chosen text and out-of-range numbers never make an invalid attachment."""
    path = "/" + path.replace(" ", "")
    line = {
        "sshd": f"Apr 14 23:11:08 gw sshd[1]: Failed password for {path} from 45.1.2.3 port {sport} ssh2",
        "iptables": f"Apr 14 23:11:08 gw kernel: IN=eth0 SRC=45.1.2.3 DST=192.0.2.1 PROTO=TCP "
                    f"SPT={sport} DPT={dport}",
        "snort": f"Apr 14 23:11:08 ids snort[2]: {path} {{TCP}} 45.1.2.3:{sport} -> 192.0.2.1:{dport}",
        "nginx": f'45.1.2.3 - - [14/Apr/2026:23:11:08 +0200] "GET {path} HTTP/1.1" {dport % 1000} 0 "-" "x"',
        "postfix": f"Apr 14 23:11:08 mx postfix/smtpd[3]: warning: unknown[45.1.2.3]:{sport}: SASL LOGIN "
                   f"authentication failed: {path}",
        "portsentry": f"Apr 14 23:11:08 gw portsentry[4]: attackalert: Connect from host: 45.1.2.3/45.1.2.3 "
                      f"to TCP port: {dport}",
    }[form]
    result = scan_lines([line], CFG.scan, now=NOW)
    attacker = next((c for c in result.candidates if c.ip == ATTACKER), None)
    assert attacker is not None
    draft = compose("INC-20260908-0001", [Target(attacker, shinbiro_findings(ATTACKER))], (), CFG,
                    description=description, now=NOW)
    for att in draft.attachments:
        doc = _check(att.data)
        assert 0 < doc.get("source_port", 1) < 65536
    if not draft.attachments:
        assert "XARF report: not attached:" in " ".join(draft.body.split())
