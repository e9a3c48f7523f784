"""The sandbox's hostile answers (endless, trickle, redirects), its DNS latency, the addresses of the RDAP
services' hosts, and the sandbox run in a child process: checked with plain sockets and dnspython."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.sandbox import Sandbox
from tests.sandbox.remote import RemoteSandbox
from tests.sandbox.zone import SERVICE_ADDRESS


def _http(sb: Sandbox, path: str, read: int, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send a GET for {host}{path} and read up to `read` bytes: (what came, seconds it took)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", sb.http.port), timeout=timeout) as sock:
        sock.sendall(f"GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while len(data) < read:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data, time.monotonic() - started


def test_an_endless_answer_keeps_coming_as_fast_as_it_is_read(sandbox: Sandbox) -> None:
    sandbox.http.fail("rdap.arin.net/registry/ip/74.125.225.229", "endless")
    data, seconds = _http(sandbox, "rdap.arin.net/registry/ip/74.125.225.229", 20_000_000)
    assert data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200")
    assert b"Content-Length" not in data[:500] and len(data) >= 20_000_000 and seconds < 10


def test_a_trickling_answer_sends_a_byte_at_a_time(sandbox: Sandbox) -> None:
    sandbox.http.fail("rdap.arin.net/registry/ip/74.125.225.229", "trickle")
    with socket.create_connection(("127.0.0.1", sandbox.http.port), timeout=5) as sock:
        sock.sendall(b"GET /rdap.arin.net/registry/ip/74.125.225.229 HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        started = time.monotonic()
        body = sock.recv(100) + sock.recv(100)           # the JSON opening, then one byte
        assert body.startswith(b'{"objectClassName"')
        one = sock.recv(100)
    assert len(one) == 1 and 0.1 < time.monotonic() - started < 2


def test_a_redirect_fault_sends_the_location_given(sandbox: Sandbox) -> None:
    sandbox.http.redirect("rdap.arin.net/registry/ip/74.125.225.229", "http://169.254.169.254/x", status=307)
    data, _ = _http(sandbox, "rdap.arin.net/registry/ip/74.125.225.229", 1)
    assert data.startswith(b"HTTP/1.1 307") and b"Location: http://169.254.169.254/x" in data
    with pytest.raises(ValueError):
        sandbox.http.redirect("x", "y", status=200)
    with pytest.raises(ValueError):
        sandbox.http.fail("x", "redirect")


@pytest.mark.parametrize("kind", ["endless", "trickle"])
def test_whois_hostile_answers(sandbox: Sandbox, kind: str) -> None:
    sandbox.whois.fail("62.239.237.1", kind)
    with socket.create_connection(("127.0.0.1", sandbox.whois.port), timeout=5) as sock:
        sock.sendall(b"62.239.237.1\r\n")
        started, data = time.monotonic(), b""
        while len(data) < (2_000_000 if kind == "endless" else 3):
            data += sock.recv(65536)
    assert data.startswith(b"remarks:"[:len(data)])
    if kind == "trickle":
        assert time.monotonic() - started > 0.3


def test_dns_answers_wait_their_latency_each_and_concurrently(sandbox: Sandbox) -> None:
    sandbox.dns.latency = 0.2
    query = dns.message.make_query("one.one.one.one", "A")
    started = time.monotonic()
    sockets = []
    for _ in range(20):                                   # twenty questions at once: 0.2 s, not 4 s
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(3)
        sock.sendto(query.to_wire(), ("127.0.0.1", sandbox.dns_port))
        sockets.append(sock)
    for sock in sockets:
        assert dns.message.from_wire(sock.recv(4096)).answer
        sock.close()
    assert 0.2 <= time.monotonic() - started < 1.5
    tcp_started = time.monotonic()
    assert dns.query.tcp(query, "127.0.0.1", port=sandbox.dns_port, timeout=3).answer
    assert time.monotonic() - tcp_started >= 0.2


def test_the_rdap_services_hosts_have_a_made_up_public_address(sandbox: Sandbox) -> None:
    for host in ("rdap.arin.net", "data.iana.org", "rdap-bootstrap.arin.net", "rdap.verisign.com",
                 "rdap.markmonitor.com"):
        query = dns.message.make_query(host, "A")
        answer = dns.query.udp(query, "127.0.0.1", port=sandbox.dns_port, timeout=2)
        assert [rd.to_text() for rrset in answer.answer for rd in rrset] == [SERVICE_ADDRESS], host


def test_the_sandbox_runs_in_a_child_process_for_benchmarks(tmp_path: Path) -> None:
    with RemoteSandbox(synthetic_networks=3, dns_latency=0.0) as sb:
        cfg = sb.config_dict(tmp_path)
        port = int(cfg["gather"]["rdap_url_override"].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /rdap.arin.net/registry/ip/74.125.225.229 HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
            assert sock.recv(12) == b"HTTP/1.1 200"
        assert sb.http_requests() == [("rdap.arin.net", "/registry/ip/74.125.225.229")]
        answer = dns.query.udp(dns.message.make_query("one.one.one.one", "A"), "127.0.0.1",
                               port=cfg["gather"]["dns_port"], timeout=2)
        assert answer.answer and sb.dns_queries() == [("one.one.one.one", "A")]
        sb.reset_counts()
        assert sb.http_requests() == [] and len(sb.synthetic) == 3
