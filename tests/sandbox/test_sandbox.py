"""The sandbox's HTTP replay server, life cycle, config and command, checked with plain urllib/socket.

DNS, whois and the synthetic networks are in test_sandbox_dns.py.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot import config
from tests.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "fixtures"
INDEX: dict[str, dict[str, Any]] = json.loads((FIXTURES / "rdap" / "INDEX.json").read_text())["files"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def get(sb: Sandbox, host: str, path: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """GET https://host/path the way the bot's rewriting sends it: {rdap_base}/host/path."""
    try:
        with _OPENER.open(f"{sb.rdap_base}/{host}{path}", timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def _served_file(name: str) -> str:
    """The file served for an INDEX entry's URL: the newer capture where two share one URL."""
    for other, meta in INDEX.items():
        if meta.get("older_capture_of") is None and other != name and \
                (meta["host"], meta["path"]) == (INDEX[name]["host"], INDEX[name]["path"]):
            return other
    return name


@pytest.mark.parametrize("name", sorted(INDEX))
def test_every_recording_is_served_at_its_url(sandbox: Sandbox, name: str) -> None:
    meta = INDEX[name]
    path = str(meta["path"]).replace("{any}", "ns1.example.net")
    status, headers, body = get(sandbox, meta["host"], path)
    assert status == meta["status"]
    assert headers["Content-Type"] == meta["content_type"]
    assert body == (FIXTURES / "rdap" / _served_file(name)).read_bytes()


def test_newer_capture_wins_where_two_share_a_url(sandbox: Sandbox) -> None:
    _, _, body = get(sandbox, "rdap.arin.net", "/registry/ip/2001:4860:4860::8888")
    assert body == (FIXTURES / "rdap/arin/ip-2001-4860-4860--8888.json").read_bytes()


@pytest.mark.parametrize(
    ("host", "path", "served"),
    [
        ("rdap.arin.net", "/registry/ip/74.125.9.9", "arin/ip-74.125.225.229.json"),
        ("rdap.arin.net", "/registry/ip/13.100.1.1", "arin/ip-13.72.183.192.json"),
        ("rdap.apnic.net", "/ip/1.1.1.77", "apnic/ip-1.1.1.1.json"),
        ("rdap.apnic.net", "/ip/210.107.0.0/20", "apnic/ip-210.107.73.73.json"),
        ("rdap.db.ripe.net", "/ip/62.239.237.200", "ripe/ip-62.239.237.1.json"),
        ("rdap.db.ripe.net", "/ip/2a00:2381:ffff::abcd", "ripe/ip-2a00-2381-ffff--1.json"),
        ("rdap.arin.net", "/registry/ip/2001:4860:1::1", "arin/ip-2001-4860-4860--8888.json"),
        ("rdap.afrinic.net", "/rdap/ip/196.11.239.1", "afrinic/ip-196.11.240.215.json"),
    ],
)
def test_addresses_inside_a_recorded_network_get_its_answer(sandbox: Sandbox, host: str, path: str,
                                                            served: str) -> None:
    status, _, body = get(sandbox, host, path)
    assert status == 200
    assert body == (FIXTURES / "rdap" / served).read_bytes()


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("rdap.arin.net", "/registry/ip/9.9.9.9"),           # ARIN space, nothing recorded
        ("rdap.db.ripe.net", "/ip/74.125.225.229"),          # recorded, but at another registry
        ("rdap.arin.net", "/registry/entity/NOPE-ARIN"),
        ("rdap.arin.net", "/registry/ip/not-an-address"),
        ("no.such.host", "/anything"),
    ],
)
def test_unknown_paths_get_404_with_an_rdap_error(sandbox: Sandbox, host: str, path: str) -> None:
    status, headers, body = get(sandbox, host, path)
    assert status == 404
    assert headers["Content-Type"] == "application/rdap+json"
    assert json.loads(body)["errorCode"] == 404


@pytest.mark.parametrize("name", ["ipv4.json", "ipv6.json", "asn.json", "dns.json", "object-tags.json"])
def test_iana_bootstrap_files(sandbox: Sandbox, name: str) -> None:
    status, _, body = get(sandbox, "data.iana.org", f"/rdap/{name}")
    assert status == 200
    assert body == (FIXTURES / "iana-bootstrap" / name).read_bytes()


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ("ip/74.125.225.229", "https://rdap.arin.net/registry/ip/74.125.225.229"),
        ("ip/62.239.237.1", "https://rdap.db.ripe.net/ip/62.239.237.1"),
        ("ip/1.1.1.1", "https://rdap.apnic.net/ip/1.1.1.1"),
        ("ip/200.57.141.161", "https://rdap.lacnic.net/rdap/ip/200.57.141.161"),
        ("ip/196.11.240.215", "https://rdap.afrinic.net/rdap/ip/196.11.240.215"),
        ("ip/2801:10:c000::", "https://rdap.lacnic.net/rdap/ip/2801:10:c000::"),
        ("ip/2001:43f8:7b0::", "https://rdap.afrinic.net/rdap/ip/2001:43f8:7b0::"),
        ("ip/1.1.1.0/24", "https://rdap.apnic.net/ip/1.1.1.0/24"),
        ("autnum/13335", "https://rdap.arin.net/registry/autnum/13335"),
        ("entity/AR31930-RIPE", "https://rdap.db.ripe.net/entity/AR31930-RIPE"),
    ],
)
def test_arin_bootstrap_redirects_to_the_registry_iana_names(sandbox: Sandbox, query: str,
                                                              location: str) -> None:
    status, headers, _ = get(sandbox, "rdap-bootstrap.arin.net", f"/bootstrap/{query}")
    assert status == 302
    assert headers["Location"] == location


def test_following_a_bootstrap_redirect_reaches_the_recorded_answer(sandbox: Sandbox) -> None:
    _, headers, _ = get(sandbox, "rdap-bootstrap.arin.net", "/bootstrap/ip/2801:10:c000::")
    host_path = headers["Location"].removeprefix("https://")
    host, _, rest = host_path.partition("/")
    status, _, body = get(sandbox, host, "/" + rest)
    assert status == 200
    assert body == (FIXTURES / "rdap/lacnic/ip-2801-10-c000--.json").read_bytes()


def test_bootstrap_for_space_iana_gives_nobody_is_404(sandbox: Sandbox) -> None:
    assert get(sandbox, "rdap-bootstrap.arin.net", "/bootstrap/ip/10.1.2.3")[0] == 404


def test_request_log_in_order_and_reset(sandbox: Sandbox) -> None:
    get(sandbox, "rdap.apnic.net", "/ip/1.1.1.1?x=1")
    get(sandbox, "rdap.arin.net", "/registry/entity/GOVI")
    assert sandbox.http.requests == [("rdap.apnic.net", "/ip/1.1.1.1"),
                                     ("rdap.arin.net", "/registry/entity/GOVI")]
    assert sandbox.http.count("arin") == 1
    sandbox.http.reset_counts()
    assert sandbox.http.requests == []


def test_latency_is_per_request_not_global(sandbox: Sandbox) -> None:
    sandbox.http.latency = 0.3
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda i: get(sandbox, "rdap.apnic.net", f"/ip/1.1.1.{i}")[0], range(20)))
    elapsed = time.monotonic() - started
    assert statuses == [200] * 20
    assert 0.3 <= elapsed < 1.5, elapsed      # 20 x 0.3 s one after the other would take 6 s
    assert len(sandbox.http.requests) == 20


def test_timeline_shows_how_many_requests_a_client_had_in_flight(sandbox: Sandbox) -> None:
    sandbox.http.latency = 0.5
    socks = [socket.create_connection(("127.0.0.1", sandbox.http.port), timeout=5) for _ in range(5)]
    for i, sock in enumerate(socks):         # five requests sent at once, then the answers read
        sock.sendall(f"GET /rdap.apnic.net/ip/1.1.1.{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     .encode())
    for sock in socks:
        with sock:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200")
    sandbox.http.latency = 0.2
    for i in range(3):
        get(sandbox, "rdap.arin.net", f"/registry/ip/74.125.0.{i}")
    assert sandbox.http.peak_concurrency("apnic") == 5
    assert sandbox.http.peak_concurrency("arin") == 1
    spans = sandbox.http.timeline("arin")
    assert [path for _, path, _, _ in spans] == [f"/registry/ip/74.125.0.{i}" for i in range(3)]
    assert all(end - start >= 0.2 for _, _, start, end in spans)


def test_many_concurrent_requests_are_all_served_and_logged(sandbox: Sandbox) -> None:
    sandbox.http.latency = 0.05
    ips = [ip for net in sandbox.synthetic for ip in net.ips][:300]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda ip: get(sandbox, "rdap-bootstrap.arin.net", f"/bootstrap/ip/{ip}")[0],
                                ips))
    assert results == [302] * len(ips)
    assert time.monotonic() - started < 5
    assert len(sandbox.http.requests) == len(ips)


@pytest.mark.parametrize(("kind", "status"), [(429, 429), ("429", 429), (500, 500), (503, 503)])
def test_status_faults_hit_the_next_matching_request_only(sandbox: Sandbox, kind: int | str,
                                                          status: int) -> None:
    sandbox.http.fail("rdap.apnic.net/ip/1.1.1.1", kind)
    assert get(sandbox, "rdap.arin.net", "/registry/entity/GOVI")[0] == 200     # does not match
    got, headers, body = get(sandbox, "rdap.apnic.net", "/ip/1.1.1.1")
    assert got == status
    if status in (429, 503):
        assert headers["Retry-After"] == "1"
    if status != 429:
        assert json.loads(body)["errorCode"] == status
    assert get(sandbox, "rdap.apnic.net", "/ip/1.1.1.1")[0] == 200            # used up


def test_fault_times_and_forever(sandbox: Sandbox) -> None:
    sandbox.http.fail("/ip/1.1.1.1", 503, times=2)
    assert [get(sandbox, "rdap.apnic.net", "/ip/1.1.1.1")[0] for _ in range(3)] == [503, 503, 200]
    sandbox.http.fail("rdap.apnic.net", 500, times=None)
    assert [get(sandbox, "rdap.apnic.net", "/ip/1.1.1.1")[0] for _ in range(3)] == [500, 500, 500]
    sandbox.http.clear_faults()
    assert get(sandbox, "rdap.apnic.net", "/ip/1.1.1.1")[0] == 200


def test_ripe_ratelimit_fault(sandbox: Sandbox) -> None:
    sandbox.http.fail("rdap.db.ripe.net", "ripe-ratelimit")
    status, headers, body = get(sandbox, "rdap.db.ripe.net", "/ip/62.239.237.1")
    assert status == 429
    assert headers["Content-Type"] == "application/rdap+json"
    error = json.loads(body)
    assert error["errorCode"] == 429
    assert any("%ERROR:201" in line for line in error["description"])


def test_malformed_fault_is_a_200_with_broken_json(sandbox: Sandbox) -> None:
    sandbox.http.fail("62.239.237.1", "malformed")
    status, headers, body = get(sandbox, "rdap.db.ripe.net", "/ip/62.239.237.1")
    assert status == 200
    assert headers["Content-Type"] == "application/rdap+json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_timeout_fault_gives_no_answer_until_the_client_gives_up(sandbox: Sandbox) -> None:
    sandbox.http.fail("1.1.1.1", "timeout")
    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        get(sandbox, "rdap.apnic.net", "/ip/1.1.1.1", timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert get(sandbox, "rdap.apnic.net", "/ip/1.1.1.1")[0] == 200


def test_unknown_fault_kind_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sandbox.http.fail("x", 418)
    with pytest.raises(ValueError, match="unknown fault kind"):
        sandbox.dns.fail("x", "slow")


def test_starts_fast_binds_loopback_only_and_closes_its_ports() -> None:
    started = time.monotonic()
    with Sandbox(synthetic_networks=100) as sb:
        # about 0.15 s on a quiet machine; the margin is for a shared CI runner, the bound for a
        # start-up that does something per query it should do once
        assert time.monotonic() - started < 5.0
        assert sb.rdap_base.startswith("http://127.0.0.1:")
        assert sb.whois_address.startswith("127.0.0.1:")
        for server in (sb.http._server, sb.dns._udp, sb.dns._tcp, sb.whois._server):
            assert server.server_address[0] == "127.0.0.1"
        ports = [sb.http.port, sb.dns_port, sb.whois.port]
        assert get(sb, "rdap.apnic.net", "/ip/1.1.1.1")[0] == 200
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_nothing_is_bound_before_start_and_use_before_start_is_a_clear_error() -> None:
    sb = Sandbox()
    with pytest.raises(RuntimeError, match="not running"):
        sb.http.fail("x", 500)
    sb.stop()                                   # harmless
    with sb:
        assert get(sb, "rdap.apnic.net", "/ip/1.1.1.1")[0] == 200
    with pytest.raises(RuntimeError, match="not running"):
        _ = sb.rdap_base


def test_stopping_releases_a_connection_held_by_a_timeout_fault() -> None:
    with Sandbox() as sb:
        sb.http.fail("x", "timeout")
        sock = socket.create_connection(("127.0.0.1", sb.http.port), timeout=5)
        sock.sendall(b"GET /x/ HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.1)
    sock.settimeout(2)
    assert sock.recv(100) == b""           # closed by the sandbox, not left hanging
    sock.close()


def test_keep_alive_connections_are_served_then_cut_when_the_sandbox_stops() -> None:
    with Sandbox() as sb:
        conn = http.client.HTTPConnection("127.0.0.1", sb.http.port, timeout=5)
        for _ in range(2):                          # two requests over one connection
            conn.request("GET", "/rdap.apnic.net/ip/1.1.1.1")
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/rdap.apnic.net/ip/1.1.1.1")
        conn.getresponse()
    conn.close()


def test_config_points_every_client_at_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = config.from_dict(sandbox.config_dict(tmp_path))
    assert cfg.gather.rdap_url_override == sandbox.rdap_base
    assert cfg.gather.nameservers == ("127.0.0.1",)
    assert cfg.gather.dns_port == sandbox.dns_port
    assert cfg.gather.whois_server_override == sandbox.whois_address
    assert cfg.gather.abusix is True
    assert cfg.gather.abusix_zone == sandbox.abusix_zone
    assert cfg.probe.enabled is False
    assert Path(cfg.gather.cache_path).parent == tmp_path
    sandbox.write_config(tmp_path / "sandbox.toml")
    loaded = config.load(tmp_path / "sandbox.toml")
    assert loaded.gather == cfg.gather


def test_command_serves_until_interrupted(tmp_path: Path) -> None:
    out = tmp_path / "sandbox.toml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.sandbox", "--synthetic", "5", "--config-out", str(out)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while lines[-1] and not lines[-1].startswith("# example:"):   # everything printed: serving
            lines.append(proc.stdout.readline())
        assert lines[0].startswith("# config written to"), lines
        cfg = config.load(out)
        base = cfg.gather.rdap_url_override
        with urllib.request.urlopen(f"{base}/rdap.apnic.net/ip/1.1.1.1", timeout=5) as resp:
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [["--latency", "-1"], ["--synthetic", "5000"]])
def test_command_rejects_bad_arguments(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.sandbox", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert "error:" in proc.stderr
    assert "Traceback" not in proc.stderr
