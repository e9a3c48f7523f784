"""Big files: counted shape by shape (batch.py), in two processes, with the same rules and the same
counts as the line-by-line scan."""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import ScanConfig
from bot.models import Role, ScanResult
from bot.scan import batch, bulk, collect_evidence, scan_lines, scan_paths, scanner
from bot.scan.engine import Engine
from tests.scan.paths import on_both_paths

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def write_log(path: Path, lines: int = 3000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    crowd = [f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
             for _ in range(200)] + [f"2a01:4f8:{rng.randint(1, 0xfff):x}::{rng.randint(1, 0xfff):x}"
                                     for _ in range(50)]
    out = []
    for i in range(lines):
        src = "211.191.28.13" if i % 7 == 0 else (
            "2a0e:97c0:3e3:1d1::5" if i % 11 == 0 else rng.choice(crowd))
        ts = f"Mar {1 + i // 1000:2d} 04:{(i // 60) % 60:02d}:{i % 60:02d}"
        kind = i % 3
        if kind == 0:
            a = f"[{src}]" if ":" in src else src
            out.append(f"{ts} fw.mydomain.com snort[1]: SCAN {a}:{1024 + i} -> 198.51.100.7:22")
        elif kind == 1:
            out.append(f"{ts} www.mydomain.com sshd[{i}]: Failed password for root from {src} "
                       f"port {1024 + i} ssh2")
        else:
            out.append(f"{ts} gw.mydomain.com kernel: [UFW BLOCK] IN=eth0 SRC={src} DST=198.51.100.8 "
                       "PROTO=TCP")
    out.append("Received: from mx.example.org (mx.example.org [9.9.9.9])")
    path.write_text("\n".join(out) + "\n")
    return out


def test_bulk_agrees_with_the_line_path(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    lines = write_log(log)
    exact = scan_lines(lines, ScanConfig(), now=NOW, allow_non_global=True)
    fast = bulk.scan_bulk([str(log)], ScanConfig(), keep_received=False, allow_non_global=True, now=NOW,
                          chunk_size=1 << 16, workers=1)
    assert fast.lines_read == exact.lines_read and fast.lines_skipped_received == 1
    assert [(c.ip, c.count, c.source_count, c.destination_count, c.role) for c in fast.candidates] == \
        [(c.ip, c.count, c.source_count, c.destination_count, c.role) for c in exact.candidates]
    top = fast.candidates[0]
    assert top.ip == "211.191.28.13" and top.role is Role.SOURCE
    assert top.evidence.lines == exact.candidates[0].evidence.lines
    assert top.evidence.first_seen == exact.candidates[0].evidence.first_seen
    assert top.evidence.last_seen == exact.candidates[0].evidence.last_seen
    assert all(c.ip != "9.9.9.9" for c in fast.candidates)


def _state(engine: Engine) -> dict[str, tuple[int, int, int, int]]:
    return {ip: (t.count, t.source_count, t.dest_count, t.first_pos)
            for ip, t in engine.counts.tallies.items()}


MIXED = [
    "Mar  1 04:00:{s:02d} gw kernel: [UFW BLOCK] IN=eth0 SRC={a} DST=198.51.100.8 PROTO=TCP SPT={p} DPT=22",
    "Mar  1 04:00:{s:02d} ids snort[9]: [1:2:3] SCAN {{TCP}} {a}:{p} -> 198.51.100.7:{q}",
    "Mar  1 04:00:{s:02d} www nginx: {a} - - [01/Mar/2026:04:00:{s:02d} +0000] "
    "\"GET /?u=9.9.9.9 HTTP/1.1\" 404 1 \"-\" \"x from 8.8.8.8 port 4444\"",
    "Mar  1 04:00:{s:02d} www app: request from 10.0.0.{n} (X-Forwarded-For: 192.168.7.{n}, {a}) denied",
    "Mar  1 04:00:{s:02d} mx sshd[{pid}]: Failed password for invalid user from 8.8.4.4 port 22 {a} "
    "port {p} ssh2",
    "Mar  1 04:00:{s:02d} mx sshd[{pid}]: Disconnecting: Too many authentication failures [preauth]",
    "Mar  1 04:00:{s:02d} mx sshd[{pid}]: Received disconnect from {a} port {p}:11: Bye [preauth]",
    "Mar  1 04:00:{s:02d} host x: version 1.2.3.4.5 build {n}.{n}.{n}.{n}999",
    # a token that is no address on most lines and one on a few ("1::8" where "1:2:3" was)
    "Mar  1 04:00:{s:02d} ids snort[9]: [{sid}] SCAN {{TCP}} {a}:{p} -> 198.51.100.7:{q}",
    # lines of one shape whose digits make an address where the first line of the shape had none
    "Mar  1 04:00:{s:02d} fw x: session {ver}.0.0.7 [1:2:3] peer {a}",
    "Mar  1 04:00:{s:02d} fw y: session {t6} peer {a}",
    # text that is not ASCII (read as text, not bytes); tcpdump's ".port >" around other spaces
    "Mar  1 04:00:{s:02d} www app: échec de connexion de {a} (utilisateur «{n}.1.2.3»)",
    "Mar  1 04:00:{s:02d} gw tcpdump: IP {a}.{p}{sp}>{sp}198.51.100.7.22: Flags [S]",
]


def test_batched_chunks_count_what_the_engine_counts_line_by_line() -> None:
    # Every rule that depends on a line's values (ports, trusted proxies, session tags, token
    # validity) is exercised: the batched counting must give the same tallies and sessions.
    rng = random.Random(5)
    crowd = [f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
             for _ in range(60)]
    crowd += [f"2a01:4f8:{rng.randint(1, 0xfff):x}::{rng.randint(1, 0xfff):x}" for _ in range(20)]
    out = []
    for i in range(4000):
        a = rng.choice(crowd)
        out.append(rng.choice(MIXED).format(s=i % 60, a=a, p=rng.choice((22, 80, 40000 + i % 999)),
                                            q=rng.choice((22, 51515)), n=i % 250, pid=100 + i // 3,
                                            sid=rng.choice(("1:2003:8", "1:2003:8", "1::8")),
                                            sp=rng.choice((" ", "\t", "\x1c")),
                                            ver=rng.choice((1234, 1234, 93)),
                                            t6=rng.choice(("12:34:56", "12:34:56", "2001::7"))))
    # (the first lines of those shapes hold no address there: the shapes are learnt without one)
    out[:0] = ["Mar  1 04:00:00 fw x: session 1234.0.0.7 [1:2:3] peer 45.1.2.3",
               "Mar  1 04:00:00 fw y: session 12:34:56 peer 45.1.2.3"]
    data = ("\n".join(out) + "\n").encode()
    line_by_line = Engine(ScanConfig(), keep_lines=False, times=False)
    batched = Engine(ScanConfig(), keep_lines=False, times=False)
    cuts = [0]
    while cuts[-1] < len(data):
        nxt = data.find(b"\n", cuts[-1] + (1 << 15))
        cuts.append(len(data) if nxt < 0 else nxt + 1)
    for start, end in itertools.pairwise(cuts):
        line_by_line.feed_chunk(data[start:end], start)
        batch.feed_chunk(batched, data[start:end], start)
    assert _state(batched) == _state(line_by_line)
    assert (batched.lines_read, batched.lines_used) == (line_by_line.lines_read, line_by_line.lines_used)
    # (sessions are followed for the programs that write address-less lines: here sshd)
    sshd = {t: v for t, v in line_by_line.sessions.state.items() if t.startswith("sshd")}
    assert sshd and {t: v for t, v in batched.sessions.state.items() if t.startswith("sshd")} == sshd
    assert "9.9.9.9" in _state(batched) and _state(batched)["9.9.9.9"][1] == 0    # a query: no role
    assert _state(batched)["8.8.8.8"][1] == 0 and _state(batched)["8.8.4.4"][1] == 0


def test_two_workers_count_the_same_as_one(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    write_log(log)
    one = bulk.count_parallel([str(log)], ScanConfig(), 4096, False, 1)
    two = bulk.count_parallel([str(log)], ScanConfig(), 4096, False, 2)
    assert {ip: (t.count, t.source_count, t.dest_count) for ip, t in one.counts.tallies.items()} == \
        {ip: (t.count, t.source_count, t.dest_count) for ip, t in two.counts.tallies.items()}
    assert (one.lines, one.used, one.received) == (two.lines, two.used, two.received)


def test_backward_reading_gives_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    lines = write_log(log, lines=400)
    pieces = list(bulk._backward([str(log)], 1000))
    assert len(pieces) > 5 and all(p.endswith(b"\n") for p in pieces)
    assert b"".join(reversed(pieces)).decode().splitlines() == lines


def test_plan_splits_at_line_starts(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"x" * 50 + b"\n" + b"y" * 30 + b"\n")
    b.write_bytes(b"z" * 10 + b"\n")
    parts = bulk.plan([str(a), str(b)], 2)
    ranges = [r for part in parts for r in part]
    covered: dict[str, int] = {}
    for r in ranges:
        assert r.start == covered.get(r.path, 0)      # contiguous, in order
        covered[r.path] = r.end
        data = Path(r.path).read_bytes()
        assert r.start == 0 or data[r.start - 1:r.start] == b"\n"
    assert covered == {str(a): 82, str(b): 11}


def test_scan_paths_takes_the_bulk_path_for_big_inputs(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "big.log"
    write_log(log, lines=500)
    monkeypatch.setattr(scanner, "BULK_MIN_BYTES", 1000)
    called: list[bool] = []
    real = bulk.scan_bulk

    def spy(*args: object, **kwargs: object) -> object:
        called.append(True)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk, "scan_bulk", spy)
    result = scan_paths([log], ScanConfig())
    assert called and result.attacker is not None and result.attacker.ip == "211.191.28.13"
    # a selector needs the line path: it isolates lines
    called.clear()
    assert scan_paths([log], ScanConfig(), select="sshd").select_string == "sshd" and not called


def test_workers_are_spawned_when_threads_run(tmp_path: Path) -> None:
    # fork is not safe in a process with other threads (the bot): the counting must still work.
    import threading

    log = tmp_path / "big.log"
    write_log(log, lines=600)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        two = bulk.count_parallel([str(log)], ScanConfig(), 4096, False, 2)
    finally:
        stop.set()
        t.join()
    one = bulk.count_parallel([str(log)], ScanConfig(), 4096, False, 1)
    assert {ip: t.count for ip, t in two.counts.tallies.items()} == \
        {ip: t.count for ip, t in one.counts.tallies.items()}


def test_version_strings_with_a_build_suffix_are_not_counted(tmp_path: Path) -> None:
    # "Linux/5.15.90.1-microsoft-standard-WSL2": four dotted numbers, but a version (both paths agree)
    log = tmp_path / "v.log"
    log.write_text("".join(
        f"Mar  1 04:00:{i % 60:02d} h kernel: Linux version 5.15.90.1-microsoft-standard-WSL2 (gcc)\n"
        f"Mar  1 04:00:{i % 60:02d} h app: ua=aws-cli/2.4.11 Linux/5.10.102.1-generic from 211.191.28.13\n"
        for i in range(50)))
    exact = scan_paths([log], ScanConfig(), now=NOW)
    fast = bulk.scan_bulk([str(log)], ScanConfig(), keep_received=False, allow_non_global=True, now=NOW,
                          workers=1)
    for result in (exact, fast):
        assert [c.ip for c in result.candidates] == ["211.191.28.13"]


def test_terminal_colours_do_not_hide_addresses_on_the_bulk_path(tmp_path: Path) -> None:
    # Docker/Gitea logs colour their fields: the line path drops the escapes, so must the bulk path
    log = tmp_path / "colour.log"
    log.write_text("".join(
        f"2026-03-01T04:00:{i % 60:02d}Z \x1b[31mWARN\x1b[0m failed for \x1b[33m211.191.28.13\x1b[0m\n"
        f"2026-03-01T04:00:{i % 60:02d}Z \x1b[32mINFO\x1b[0m ok from \x1b[33m2a0e:97c0:3e3:1d1::5\x1b[0m\n"
        for i in range(30)) + "2026-03-01T05:00:00Z INFO ok from 2a0e:97c0:3e3:1d1::5\n")
    exact = scan_paths([log], ScanConfig(), now=NOW)
    fast = bulk.scan_bulk([str(log)], ScanConfig(), keep_received=False, allow_non_global=True, now=NOW,
                          workers=1)
    assert [(c.ip, c.count) for c in exact.candidates] == \
        [("2a0e:97c0:3e3:1d1::5", 31), ("211.191.28.13", 30)]
    assert [(c.ip, c.count) for c in fast.candidates] == [(c.ip, c.count) for c in exact.candidates]
    for got, want in zip(fast.candidates, exact.candidates, strict=True):
        assert got.evidence.lines == want.evidence.lines
        assert (got.evidence.first_seen, got.evidence.last_seen) == \
            (want.evidence.first_seen, want.evidence.last_seen)
    assert "\x1b" not in "".join(fast.candidates[0].evidence.lines)
    ev = collect_evidence([log], ScanConfig(), ["211.191.28.13"], now=NOW)
    assert ev["211.191.28.13"].total_lines == 30


def test_browser_versions_are_not_counted_on_either_path(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(
        f'211.191.28.{i % 3 + 1} - - [10/Oct/2025:13:55:{i % 60:02d} +0000] "GET / HTTP/1.1" 200 12 "-" '
        '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 '
        'Safari/537.36 Edg/121.0.2277.83"\n' for i in range(30)))
    exact = scan_paths([log], ScanConfig(), now=NOW)
    fast = bulk.scan_bulk([str(log)], ScanConfig(), keep_received=False, allow_non_global=True, now=NOW,
                          workers=1)
    for result in (exact, fast):
        assert sorted(c.ip for c in result.candidates) == ["211.191.28.1", "211.191.28.2", "211.191.28.3"]


def test_addresses_written_after_an_own_host_name_are_not_candidates_on_either_path(tmp_path: Path) -> None:
    cfg = ScanConfig(own_hostnames=("fw1.mydomain.com",))
    log = tmp_path / "mail.log"
    log.write_text("".join(
        f"Mar  1 04:00:{i % 60:02d} mx postfix/smtpd[1]: connect from fw1.mydomain.com[8.8.8.8]\n"
        f"Mar  1 04:00:{i % 60:02d} mx postfix/smtpd[1]: connect from unknown[211.191.28.13]\n"
        for i in range(40)) + "Mar  1 05:00:00 mx app: probe from 8.8.4.4 and 8.8.8.8\n")
    exact = scan_paths([log], cfg, now=NOW)
    fast = bulk.scan_bulk([str(log)], cfg, keep_received=False, allow_non_global=False, now=NOW, workers=1)
    for result in (exact, fast):
        assert sorted((c.ip, c.count) for c in result.candidates) == [("211.191.28.13", 40), ("8.8.4.4", 1),
                                                                      ("8.8.8.8", 1)]


def test_an_address_no_host_sends_from_is_never_the_attacker_side(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Juniper's session records write peer-source-address="0.0.0.0" (a strong cue) when there is no
    # peer session: the line's attacker side is then its source-address, on both paths.
    lines = []
    for i in range(60):
        src = "45.1.2.3" if i % 3 else f"198.51.100.{i}"
        peer = "0.0.0.0" if i % 4 else "203.0.113.9"
        lines.append(f'Mar 10 10:00:{i:02d} srx RT_FLOW: RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.129 '
                     f'source-address="{src}" source-port="{40000 + i}" destination-address="192.0.2.80" '
                     f'destination-port="443" peer-source-address="{peer}" peer-source-port="0"]')
    log = tmp_path / "srx.log"
    log.write_text("\n".join(lines) + "\n")
    sides = [{c.ip: c.source_count for c in r.candidates} for r in on_both_paths(log, monkeypatch)]
    assert sides[0] == sides[1]
    assert sides[0]["45.1.2.3"] == 30 and sides[0]["0.0.0.0"] == 0      # 10 of its 40 have a real peer
    assert sides[0]["203.0.113.9"] == 15      # a real peer address keeps its strong cue


def test_json_escaped_messages_are_read_alike_on_both_paths(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows events shipped as JSON: the address follows an escaped tab, on every line
    lines = [f'{{"EventID":4625,"Message":"An account failed to log on.\\r\\n\\tSource Network Address:\\t'
             f'{"45.1.2.3" if i % 3 else f"198.51.100.{i % 250}"}\\r\\n\\tSource Port:\\t\\t{50000 + i}"}}'
             for i in range(600)]
    log = tmp_path / "security.json"
    log.write_text("\n".join(lines) + "\n")
    counts = [{c.ip: (c.count, c.source_count) for c in r.candidates}
              for r in on_both_paths(log, monkeypatch)]
    assert counts[0] == counts[1]
    assert counts[0]["45.1.2.3"] == (400, 400)


def _summary(result: ScanResult) -> list[tuple[object, ...]]:
    return [(c.ip, c.count, c.source_count, c.destination_count, c.evidence.lines) for c in result.candidates]


def test_lines_the_scan_set_aside_are_no_evidence_on_either_path(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # 203.0.113.9 is also written in a list of 65 addresses and in a line whose peer field is
    # written twice: neither counts, so neither may be shown as evidence (nor tell the tie-break
    # its lines vary), on the bulk path as on the line path, nor when its lines are asked for later
    sshd = "Mar  3 10:0{m}:0{s} host sshd[{pid}]: Failed password for root from {ip} port {port} ssh2"
    crowd = " ".join(f"192.0.2.{i}" for i in range(1, 65))
    lines = [sshd.format(m=0, s=i, pid=100 + i, ip="198.51.100.7", port=40000 + i) for i in range(3)]
    lines += [f"Mar  3 10:01:00 host scanner: list 203.0.113.9 {crowd}",
              '2025/03/03 10:01:01 [error] 1#0: *1 open() "/x" failed, client: 192.0.2.1, server: x, '
              'request: "GET / HTTP/1.1", host: "h", client: 203.0.113.9, server: "y"']
    lines += [sshd.format(m=2, s=i, pid=200 + i, ip="203.0.113.9", port=50000 + i) for i in range(3)]
    log = tmp_path / "set_aside.log"
    log.write_text("\n".join(lines) + "\n")
    by_line, by_bulk = on_both_paths(log, monkeypatch)
    assert by_line.lines_crowded == by_bulk.lines_crowded == 1
    assert by_line.lines_ambiguous == by_bulk.lines_ambiguous == 1
    assert _summary(by_bulk) == _summary(by_line)
    late = {c.ip: c for c in by_line.candidates}["203.0.113.9"]
    assert late.evidence.lines == tuple(lines[5:8])
    asked = collect_evidence([log], ScanConfig(), ["203.0.113.9"])["203.0.113.9"]
    assert asked.lines == late.evidence.lines and asked.last_seen == late.evidence.last_seen


def test_a_record_over_several_lines_is_one_evidence_line_on_every_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = ["{", '  "attack_source": "198.51.100.7",', '  "user": "root",', '  "dst": {',
              '    "ip": "203.0.113.9"', "  }", "}"]
    joined = '{ "attack_source": "198.51.100.7", "user": "root", "dst": { "ip": "203.0.113.9" } }'
    lines = [f"Mar  3 10:00:0{i} host sshd[1]: Failed password for root from 198.51.100.7 port 2 ssh2"
             for i in range(8)] + record + record      # (over the 1,000 bytes the bulk path is taken from)
    log = tmp_path / "records.log"
    log.write_text("\n".join(lines) + "\n")
    by_line, by_bulk = on_both_paths(log, monkeypatch)
    assert _summary(by_bulk) == _summary(by_line)
    top = by_line.candidates[0]
    assert top.ip == "198.51.100.7" and top.evidence.lines == (*lines[:8], joined, joined)
    asked = collect_evidence([log], ScanConfig(), ["203.0.113.9"])["203.0.113.9"]
    assert asked.lines == (joined, joined)


def test_an_address_written_twice_on_a_line_is_hit_once_on_both_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # dst= and daddr= name the same host: one line, one hit (the tie-break reads these counts)
    lines = [f"Mar  3 10:00:{i:02d} fw kernel: src=198.51.100.1 dst=203.0.113.5" for i in range(15)]
    lines += [f"Mar  3 10:01:{i:02d} fw kernel: src=203.0.113.5 dst=198.51.100.1 daddr=198.51.100.1"
              for i in range(15)]
    log = tmp_path / "twice.log"
    log.write_text("\n".join(lines) + "\n")
    by_line, by_bulk = on_both_paths(log, monkeypatch)
    assert _summary(by_bulk) == _summary(by_line)
    assert {c.ip: c.destination_count for c in by_bulk.candidates} == {"198.51.100.1": 15, "203.0.113.5": 15}


def test_first_and_last_seen_skip_lines_without_a_time_on_every_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a report's "first seen" and "last seen": the line path keeps the earliest and latest time of
    # the address's lines; its first and last lines here have none
    lines = ["fw: 45.1.2.3 on the block list"]
    lines += [f"Mar  3 10:{i:02d}:00 fw sshd[{i}]: Failed password for root from 45.1.2.3 port 2 ssh2"
              for i in range(40)]
    lines += ["fw: 45.1.2.3 still on the block list"] * 3
    log = tmp_path / "untimed.log"
    log.write_text("\n".join(lines) + "\n")
    by_line, by_bulk = on_both_paths(log, monkeypatch)
    seen = [(r.candidates[0].evidence.first_seen, r.candidates[0].evidence.last_seen)
            for r in (by_line, by_bulk)]
    assert seen[0] == seen[1]
    assert seen[0][0] is not None and seen[0][1] is not None and (seen[0][1] - seen[0][0]).seconds == 39 * 60
    asked = collect_evidence([log], ScanConfig(), ["45.1.2.3"])["45.1.2.3"]
    assert (asked.first_seen, asked.last_seen) == seen[0]


def test_evidence_is_found_in_time_linear_in_a_long_line(tmp_path: Path) -> None:
    # a 2 MB line writing the address 150,000 times (a list: set aside), then its real lines. The
    # search once went back to the line's start for each copy: quadratic, 49 s for an 8 MB line
    # (this test's size keeps the suite quick; it checks the lines found and a generous bound)
    sshd = [f"Mar  3 10:00:0{i} h sshd[1]: Failed password for root from 198.51.100.7 port 22 ssh2"
            for i in range(3)]
    log = tmp_path / "long.log"
    log.write_text("198.51.100.7 " * 150_000 + "\n" + "\n".join(sshd) + "\n")
    got: list[tuple[str, bool]] = []
    started = time.monotonic()
    judge = Engine(ScanConfig(), keep_lines=False, times=False)
    bulk.evidence([str(log)], {"198.51.100.7": 3}, 3, None, judge,
                  lambda ip, text, last: got.append((text, last)) is None, 1 << 20)
    elapsed = time.monotonic() - started
    assert [text for text, last in got if not last] == sshd and got[-1] == (sshd[-1], True)
    assert elapsed < 10, f"{elapsed:.1f} s"
