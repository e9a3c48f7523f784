"""scan_lines / scan_paths: ranking, the old tool's selector and -r, own networks, bad input."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import ScanConfig
from bot.errors import ConfigError, InputError
from bot.models import Role
from bot.scan import scan_lines, scan_paths
from tests.samples import WINGATE

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CFG = ScanConfig()


def test_the_old_readme_example() -> None:
    result = scan_lines(WINGATE, CFG, now=NOW)
    top = result.attacker
    assert top is not None and top.ip == "211.191.28.13"
    assert (top.count, top.source_count, top.role, top.reportable) == (4, 4, Role.SOURCE, True)
    assert top.evidence.lines == tuple(WINGATE)
    assert top.evidence.first_seen == datetime(2026, 4, 14, 23, 11, 8, tzinfo=UTC)
    assert top.evidence.last_seen == datetime(2026, 4, 14, 23, 11, 13, tzinfo=UTC)
    # the hit side is listed after the attacker even when it is mentioned as often
    assert [c.ip for c in result.candidates][1:] == ["1.2.3.2", "1.2.3.64", "1.2.3.65"]
    assert result.candidates[1].role is Role.DESTINATION


def test_attacker_side_beats_a_busier_destination() -> None:
    lines = [f"snort: 198.51.100.{i}:4000 -> 203.0.113.80:80" for i in range(1, 6)]
    lines += ["snort: 8.8.4.4:555 -> 203.0.113.81:22"]
    result = scan_lines(lines, CFG, allow_non_global=True)
    assert result.candidates[0].ip != "203.0.113.80"


def test_selector_ip_names_the_attacker_and_isolates_its_lines() -> None:
    lines = [*WINGATE, "Apr 14 23:12:00 fw snort[1]: SCAN: 64.56.114.21:3361 -> 1.2.3.64:3128"]
    result = scan_lines(lines, CFG, select="64.56.114.21", now=NOW)
    assert result.selected == "64.56.114.21"
    assert result.attacker is not None and result.attacker.ip == "64.56.114.21"
    assert result.attacker.evidence.lines == (lines[-1],)
    assert result.lines_used == 1 and {c.ip for c in result.candidates} == {"64.56.114.21", "1.2.3.64"}


def test_selector_ip_in_another_notation_and_absent_from_the_input() -> None:
    result = scan_lines(WINGATE, CFG, select="::ffff:211.191.28.13")
    assert result.attacker is not None and result.attacker.count == 4
    absent = scan_lines(WINGATE, CFG, select="192.0.2.99")
    assert absent.attacker is not None and absent.attacker.ip == "192.0.2.99" and absent.attacker.count == 0


def test_selector_string_isolates_lines() -> None:
    lines = ["a IDS278 166.188.17.76:1 -> 1.2.3.2:53", "b IDS999 9.9.9.9:1 -> 1.2.3.2:53",
             "c IDS999 9.9.9.9:2 -> 1.2.3.2:53"]
    result = scan_lines(lines, CFG, select="IDS278")
    assert result.select_string == "IDS278" and result.lines_used == 1
    assert result.attacker is not None and result.attacker.ip == "166.188.17.76"


def test_received_lines_are_skipped_unless_kept() -> None:
    lines = ["Received: from mx.example.org (mx.example.org [9.9.9.9])"] * 3 + ["sshd: from 5.5.5.5 port 2"]
    result = scan_lines(lines, CFG)
    assert result.lines_skipped_received == 3 and [c.ip for c in result.candidates] == ["5.5.5.5"]
    kept = scan_lines(lines, CFG, keep_received=True)
    # three Received lines in a row are one message's chain: one hop handed it over, once
    assert kept.attacker is not None and (kept.attacker.ip, kept.attacker.count) == ("9.9.9.9", 1)
    assert scan_lines(lines, ScanConfig(keep_received=True)).lines_skipped_received == 0


def test_own_networks_and_hostnames_are_never_candidates() -> None:
    cfg = ScanConfig(own_networks=("1.2.3.0/24", "2001:db8:10::/48"), own_hostnames=("fw1.mydomain.com",))
    lines = [*WINGATE, "x 2001:db8:10::5 -> 7.7.7.7", "y fw1.mydomain.com[8.8.8.8] said hello",
             "z 2001:db8:10::5 -> 7.7.7.7"]
    ips = [c.ip for c in scan_lines(lines, cfg).candidates]
    assert ips == ["211.191.28.13", "7.7.7.7"]
    with pytest.raises(InputError, match="own networks"):
        scan_lines(WINGATE, cfg, select="1.2.3.2")


def test_an_own_hostname_is_matched_as_a_whole_name() -> None:
    # an attacker's forward-confirmed name "x.notmydomain.com" is not ours
    cfg = ScanConfig(own_hostnames=("mydomain.com",))
    lines = ["postfix/smtpd[1]: connect from mail.notmydomain.com[8.8.4.4]",
             "postfix/smtpd[1]: connect from mail.mydomain.com[8.8.8.8]"]
    assert [c.ip for c in scan_lines(lines, cfg).candidates] == ["8.8.4.4"]


def test_bad_own_network_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"scan\.own_networks"):
        scan_lines(WINGATE, ScanConfig(own_networks=("not-a-net",)))


def test_non_global_addresses_rank_after_global_ones_unless_allowed() -> None:
    lines = ["from 10.0.0.1"] * 5 + ["from 192.0.2.1"] * 4 + ["from 100.64.1.1"] * 3 + ["from 9.9.9.9"]
    result = scan_lines(lines, CFG)
    assert [c.ip for c in result.candidates] == ["9.9.9.9", "10.0.0.1", "192.0.2.1", "100.64.1.1"]
    assert [c.reportable for c in result.candidates] == [True, False, False, False]
    allowed = scan_lines(lines, CFG, allow_non_global=True)
    assert allowed.attacker is not None and allowed.attacker.ip == "10.0.0.1"
    assert not allowed.attacker.reportable


def test_evidence_is_capped() -> None:
    lines = [f"from 9.9.9.9 attempt {i}" for i in range(30)]
    top = scan_lines(lines, ScanConfig(excerpt_lines=5)).attacker
    assert top is not None and top.count == 30 and len(top.evidence.lines) == 5
    assert top.evidence.total_lines == 30


def test_empty_input_is_an_error() -> None:
    with pytest.raises(InputError, match="empty"):
        scan_lines([], CFG)
    with pytest.raises(InputError, match="empty"):
        scan_lines(["", "   "], CFG)


def test_no_address_gives_no_candidate() -> None:
    result = scan_lines(["hello", "world"], CFG)
    assert result.attacker is None and result.lines_read == 2


def test_files_with_encoding_mess(tmp_path: Path) -> None:
    f = tmp_path / "mess.log"
    long_line = b"x" * (1 << 20) + b" from 7.7.7.7\n"
    f.write_bytes(b"\xff\xfe bad utf-8 \xc3 from 5.5.5.5\n" + b"nul\x00bytes from 5.5.5.5\x00\n" + long_line)
    result = scan_paths([f], CFG)
    assert result.attacker is not None and result.attacker.ip == "5.5.5.5" and result.attacker.count == 2
    assert "7.7.7.7" in [c.ip for c in result.candidates]


def test_several_files_are_one_stream(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("from 5.5.5.5\n")
    (tmp_path / "b.log").write_text("from 5.5.5.5\nfrom 6.6.6.6")
    result = scan_paths([tmp_path / "a.log", tmp_path / "b.log"], CFG)
    assert result.lines_read == 3 and result.attacker is not None and result.attacker.count == 2


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing.log", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: (d / "empty.log", (d / "empty.log").write_bytes(b""))[0], "empty"),
])
def test_unusable_files(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(InputError, match=message) as err:
        scan_paths([path], CFG)
    assert "\n" not in str(err.value)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "secret.log"
    f.write_text("from 1.2.3.4\n")
    real_open = open

    def deny(path: object, *args: object, **kwargs: object) -> object:
        if str(path) == str(f):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(InputError, match=r"cannot read \(Permission denied") as err:
        scan_paths([f], CFG)
    assert "\n" not in str(err.value)


def test_w3c_fields_header_names_the_client() -> None:
    lines = [
        "#Software: Microsoft Internet Information Services 10.0",
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
        "cs(User-Agent) sc-status",
        "2022-10-01 11:25:54 10.0.0.5 GET /owa/auth.owa - 443 - 203.0.113.77 Mozilla/5.0 401",
        "2022-10-01 11:25:55 10.0.0.5 GET /owa/auth.owa - 443 - 203.0.113.77 Mozilla/5.0 401",
        "2022-10-01 11:25:56 10.0.0.5 GET / - 443 - 198.51.100.3 Mozilla/5.0 200",
    ]
    result = scan_lines(lines, CFG, allow_non_global=True)
    assert [c.ip for c in result.candidates] == ["203.0.113.77", "198.51.100.3", "10.0.0.5"]
    assert result.candidates[2].role is Role.DESTINATION



def test_isolating_by_a_string_keeps_the_w3c_fields_header() -> None:
    lines = ["#Fields: date time c-ip cs-username s-ip s-port cs-method cs-uri-stem sc-status",
             *(f"2022-10-01 11:25:5{i} 203.0.113.77 - 10.0.0.5 443 GET /owa/auth.owa 401" for i in range(3)),
             "2022-10-01 11:25:59 198.51.100.3 - 10.0.0.5 443 GET / 200"]
    whole = scan_lines(lines, CFG, allow_non_global=True)
    owa = scan_lines(lines, CFG, select="/owa/", allow_non_global=True)
    for result in (whole, owa):
        assert (result.candidates[0].ip, result.candidates[0].role) == ("203.0.113.77", Role.SOURCE)


def test_the_scanner_imports_no_network_module() -> None:
    code = ("import sys; import bot.scan, bot.scan.bulk; "
            "print(sorted(m for m in ('socket', 'ssl', 'http.client', 'urllib.request', 'httpx', 'dns',"
            " 'smtplib', 'imaplib', 'imapclient', 'slack_bolt') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_selector_ip_finds_other_notations() -> None:
    lines = ["fast.log: {TCP} 2001:0DB8:0000:0000:0000:0000:0000:0001:443 -> "
             "2001:0db8:0000:0000:0000:0000:0000:0002:22",
             "sshd: Failed password for root from 2001:db8::1 port 22",
             "sshd: Failed password for root from 2001:db8::3 port 22",
             "dovecot: rip=::ffff:192.0.2.9, lip=192.0.2.1"]
    v6 = scan_lines(lines, CFG, select="2001:db8::1")
    assert v6.attacker is not None and v6.attacker.count == 2 and v6.lines_used == 2
    v4 = scan_lines(lines, CFG, select="192.0.2.9")
    assert v4.attacker is not None and v4.attacker.count == 1


@pytest.mark.parametrize(("line", "select"), [
    # Java (Tomcat, Keycloak) writes IPv6 uncompressed without leading zeros
    ("WARN login failed ipAddress=2001:db8:0:0:0:0:0:1", "2001:db8::1"),
    ("WARN login failed ipAddress=2001:db8:0:0::1", "2001:db8::1"),
    ("sshd: Failed password for root from 2001:Db8::1 port 22", "2001:db8::1"),
    ("old firewall: drop from 010.001.002.003 to 192.0.2.1", "10.1.2.3"),
])
def test_selector_ip_finds_every_spelling_the_scan_finds(line: str, select: str) -> None:
    assert scan_lines([line], CFG, allow_non_global=True).candidates[0].ip == select
    named = scan_lines([line], CFG, select=select)
    assert named.attacker is not None and named.attacker.count == 1 and named.lines_used == 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_text_is_read(tmp_path: Path, encoding: str) -> None:
    # PowerShell 5's ">" and Windows exports write UTF-16 with a byte order mark
    f = tmp_path / "events.txt"
    text = "".join(f"2026-03-01T04:00:0{i}Z Failed logon from 45.146.165.37 port 5{i}\r\n" for i in range(3))
    f.write_bytes((("\ufeff" + text) if encoding == "utf-16-be" else text).encode(encoding))  # BOM first
    result = scan_paths([f], CFG, now=NOW)
    assert result.attacker is not None and result.attacker.ip == "45.146.165.37"
    assert result.attacker.count == 3 and result.lines_read == 3
    assert result.attacker.evidence.lines[0] == text.splitlines()[0]


def test_gzip_files_are_read_uncompressed(tmp_path: Path) -> None:
    # rotated logs: auth.log.2.gz
    import gzip
    f = tmp_path / "auth.log.2.gz"
    f.write_bytes(gzip.compress(b"sshd[1]: Failed password for root from 45.146.165.37 port 5 ssh2\n" * 3))
    result = scan_paths([f, tmp_path / "auth.log.2.gz"], CFG)
    assert result.attacker is not None and result.attacker.ip == "45.146.165.37"
    assert result.attacker.count == 6
    broken = tmp_path / "cut.gz"
    broken.write_bytes(f.read_bytes()[:20])
    with pytest.raises(InputError, match=r"cut\.gz: cannot read"):
        scan_paths([broken], CFG)


def test_a_pipe_is_read_as_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "incident scan <(zcat auth.log.2.gz)" gives a named pipe: it cannot seek nor be read twice
    import os
    import threading

    from bot.scan import scanner
    monkeypatch.setattr(scanner, "BULK_MIN_BYTES", 1000)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.log"
    big.write_bytes(b"x from 9.9.9.9\n" * 100)     # with a "big" file: the bulk-path size check

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(b"sshd[1]: Failed password for root from 45.146.165.37 port 5 ssh2\n" * 2)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        result = scan_paths([fifo, big], CFG)
    finally:
        writer.join(5)
    counts = {c.ip: c.count for c in result.candidates}
    assert counts["45.146.165.37"] == 2


def test_reportable_means_what_the_gatherer_may_look_up() -> None:
    """Addresses Python's ipaddress calls global but nobody can be told about are not reportable."""
    lines = [f"sshd[1]: Failed password for root from {ip} port 4711 ssh2"
             for ip in ("::2", "3fff::1", "2002:a00:1::1", "ff02::1", "2001:4860:4860::8888")]
    result = scan_lines(lines, CFG, now=NOW)
    reportable = {c.ip: c.reportable for c in result.candidates}
    assert reportable == {"::2": False, "3fff::1": False, "2002:a00:1::1": False, "ff02::1": False,
                          "2001:4860:4860::8888": True}


def test_a_selector_that_matches_no_usable_line_is_said_so() -> None:
    # what `incident report` needs to refuse a report naming an address the log does not hold
    assert scan_lines(WINGATE, CFG, select="192.0.2.99").unmatched_selector == \
        "no usable line of the input names 192.0.2.99"
    assert scan_lines(WINGATE, CFG, select="NoSuchThing").unmatched_selector == \
        "no line of the input contains 'NoSuchThing'"
    assert scan_lines(WINGATE, CFG, select="211.191.28.13").unmatched_selector is None
    assert scan_lines(WINGATE, CFG, select="WinGate").unmatched_selector is None
    assert scan_lines(WINGATE, CFG).unmatched_selector is None
    # a line that names the address only in a mail header is not usable without -r
    mail = ["Received: from x (x [198.51.100.7]) by mx; Tue, 3 Mar 2026 10:00:00 +0000"]
    assert scan_lines(mail, CFG, select="198.51.100.7").unmatched_selector is not None
