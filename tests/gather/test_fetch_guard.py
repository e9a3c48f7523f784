"""Every URL the bot follows is checked where it points, before a connection and on every redirect, and
the connection goes to the address that was checked. Names used here resolve (in the sandbox DNS) to
internal or metadata addresses; no packet may go to any of them (tests/gather/netwatch.py refuses it
at the socket, and records what was tried)."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.clients import build_clients
from bot.config import Config
from bot.errors import LookupFailed
from bot.gather import Gatherer
from bot.gather.fetch import Fetcher
from bot.gather.urlcheck import IPAddress, UrlRefused, address_refusal
from tests.gather.conftest import Sleeps, sandbox_config
from tests.gather.netwatch import watching
from tests.gather.test_urlcheck import REFUSED_URLS
from tests.sandbox import Sandbox

EVIL = {  # name -> the records it resolves to
    "evil-loop.sandbox.test": [("A", "127.0.0.1")],
    "evil-meta.sandbox.test": [("A", "169.254.169.254")],
    "evil-private.sandbox.test": [("A", "10.1.2.3")],
    "evil-cgnat.sandbox.test": [("A", "100.64.1.1")],
    "evil-azure.sandbox.test": [("A", "168.63.129.16")],
    "evil-v6loop.sandbox.test": [("AAAA", "::1")],
    "evil-mapped.sandbox.test": [("AAAA", "::ffff:127.0.0.1")],
    "evil-ec2v6.sandbox.test": [("AAAA", "fd00:ec2::254")],
    "evil-mixed.sandbox.test": [("A", "64.254.255.1"), ("A", "10.0.0.1")],
}
ARIN_URL = "https://rdap.arin.net/registry/ip/74.125.225.229"


@pytest.fixture
def evil_dns(sandbox: Sandbox) -> Sandbox:
    for name, records in EVIL.items():
        for rdtype, value in records:
            sandbox.dns.add(name, rdtype, value)
    return sandbox


@pytest.fixture
def fetcher(sandbox: Sandbox, tmp_path: Path) -> Fetcher:
    return build_clients(sandbox_config(sandbox, tmp_path)).fetcher


@pytest.mark.parametrize("url", [u for u in REFUSED_URLS if u.startswith(("http", "ftp", "file", "gopher"))])
def test_every_address_spelling_is_refused_before_any_packet(fetcher: Fetcher, sandbox: Sandbox,
                                                             url: str) -> None:
    """With gather.rdap_url_override set, even the sandbox (where the request would be sent) sees nothing."""
    with watching() as watch, pytest.raises(UrlRefused):
        fetcher.get(url)
    assert watch.connects == [] and watch.refused == [] and watch.name_lookups == []
    assert sandbox.http.requests == [] and sandbox.dns.queries == []


@pytest.mark.parametrize("name", sorted(EVIL))
def test_a_name_resolving_to_an_internal_address_is_refused_before_connecting(
        fetcher: Fetcher, evil_dns: Sandbox, name: str) -> None:
    with watching() as watch, pytest.raises(UrlRefused, match=f"{name} resolves to"):
        fetcher.get(f"https://{name}/rdap/domain/example.com")
    assert watch.connects == [] and watch.refused == [] and watch.name_lookups == []  # asked our DNS only
    assert evil_dns.http.requests == []
    assert {q for q, _ in evil_dns.dns.queries} == {name}


def test_a_name_without_address_is_not_fetched(fetcher: Fetcher, sandbox: Sandbox) -> None:
    with pytest.raises(UrlRefused, match="no address"):
        fetcher.get("https://nothing-here.sandbox.test/x")
    assert sandbox.http.requests == []


@pytest.mark.parametrize("location", [
    "http://127.0.0.1:{port}/rdap.arin.net/registry/ip/74.125.225.229",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "https://evil-meta.sandbox.test/x",
    "https://evil-loop.sandbox.test/x",
    "//evil-private.sandbox.test/x",
    "http://localhost./",
    "file:///etc/passwd",
    "gopher://rdap.arin.net/",
])
def test_a_redirect_to_an_internal_place_is_refused(fetcher: Fetcher, evil_dns: Sandbox,
                                                    location: str) -> None:
    evil_dns.http.redirect("rdap.arin.net/registry/ip/74.125.225.229",
                           location.format(port=evil_dns.http.port))
    with watching() as watch, pytest.raises(UrlRefused):
        fetcher.get(ARIN_URL)
    assert evil_dns.http.requests == [("rdap.arin.net", "/registry/ip/74.125.225.229")]  # the first hop only
    assert set(watch.connects) == {("127.0.0.1", evil_dns.http.port)} and watch.refused == []


def test_a_redirect_loop_ends(fetcher: Fetcher, sandbox: Sandbox) -> None:
    sandbox.http.redirect("rdap.arin.net/registry/ip/74.125.225.229", ARIN_URL, times=None)
    with pytest.raises(UrlRefused, match="redirects"):
        fetcher.get(ARIN_URL)
    assert len(sandbox.http.requests) == 6


def test_a_refused_redirect_costs_the_lookup_not_the_gather(evil_dns: Sandbox, tmp_path: Path) -> None:
    cfg = sandbox_config(evil_dns, tmp_path, whois_fallback=False, retries=0)
    evil_dns.http.redirect("rdap.arin.net/registry/ip/74.125.225.229", "http://169.254.169.254/", times=None)
    g = Gatherer(cfg, build_clients(cfg), sleep=Sleeps())
    with watching() as watch:
        f = g.gather("74.125.225.229")
    g.close()
    assert f.network is None and f.incomplete == ()
    assert any("169.254.169.254" in p for p in f.problems), f.problems
    assert watch.refused == []
    assert f.rdns == "ord08s08-in-f5.1e100.net"          # the other sources still answered


# -- pinning: the connection goes to the address that was checked -------------------------------------


class _Local:
    """One HTTP server on 127.0.0.1 for a test that allows it (and no other loopback port)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.paths.append(self.path)
                if self.path.startswith("/hop"):
                    self.send_response(302)
                    self.send_header("Location", f"http://pinned.test:{owner.port}/again")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def local() -> Iterator[_Local]:
    server = _Local()
    yield server
    server.close()


class Rebinding:
    """A resolver answering 127.0.0.1 to its first question and 169.254.169.254 after (DNS rebinding)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str) -> tuple[list[str], float]:
        self.asked.append(host)
        return (["127.0.0.1"] if len(self.asked) == 1 else ["169.254.169.254"]), 0.0


def _allow_local(port: int) -> object:
    def policy(addr: IPAddress) -> str:
        return "" if addr == ipaddress.ip_address("127.0.0.1") else address_refusal(addr)
    return policy


def test_the_connection_goes_to_the_checked_address_not_to_a_second_answer(local: _Local) -> None:
    resolver = Rebinding()
    fetcher = Fetcher(resolver, timeout=2.0, deadline=5.0, policy=_allow_local(local.port))  # type: ignore[arg-type]
    with watching() as watch:
        answer = fetcher.get(f"http://pinned.test:{local.port}/first")
    assert answer.status == 200 and local.paths == ["/first"]
    assert resolver.asked == ["pinned.test"]                    # resolved once, by us
    assert watch.connects == [("127.0.0.1", local.port)]        # to the address checked
    assert watch.name_lookups == []                             # no second resolution anywhere
    # the name now points at the metadata service: refused before any packet
    with watching() as watch, pytest.raises(UrlRefused, match=r"169\.254\.169\.254"):
        fetcher.get(f"http://pinned.test:{local.port}/second")
    assert watch.connects == [] and watch.refused == [] and local.paths == ["/first"]


def test_each_redirect_is_resolved_and_checked_again(local: _Local) -> None:
    resolver = Rebinding()
    fetcher = Fetcher(resolver, timeout=2.0, deadline=5.0, policy=_allow_local(local.port))  # type: ignore[arg-type]
    with watching() as watch, pytest.raises(UrlRefused, match=r"169\.254\.169\.254"):
        fetcher.get(f"http://pinned.test:{local.port}/hop")
    assert local.paths == ["/hop"] and resolver.asked == ["pinned.test", "pinned.test"]
    assert watch.refused == []


def test_without_the_test_policy_the_same_local_server_is_refused(local: _Local) -> None:
    fetcher = Fetcher(lambda host: (["127.0.0.1"], 0.0), timeout=2.0, deadline=5.0)
    with watching() as watch, pytest.raises(UrlRefused, match="loopback"):
        fetcher.get(f"http://pinned.test:{local.port}/first")
    assert watch.connects == [] and local.paths == []


def test_the_override_is_where_the_connection_goes_and_the_answered_url_is_checked(
        fetcher: Fetcher, sandbox: Sandbox) -> None:
    """gather.rdap_url_override (trusted configuration) receives the request; the host checked is the
    registry's, resolved in the sandbox DNS to a made-up public address that is never connected to."""
    with watching() as watch:
        answer = fetcher.get(ARIN_URL)
    assert answer.status == 200 and answer.url == ARIN_URL
    assert set(watch.connects) == {("127.0.0.1", sandbox.http.port)}
    assert ("rdap.arin.net", "A") in sandbox.dns.queries


def test_fetch_errors_are_lookup_failures() -> None:
    assert issubclass(UrlRefused, LookupFailed)
    assert not UrlRefused("x").temporary


def test_a_gatherer_built_from_config_refuses_an_internal_registrar_link(
        evil_dns: Sandbox, tmp_path: Path) -> None:
    """The registry's 'related' link (registrar RDAP) is untrusted: one pointing inside is not followed,
    and the registry's own answer is still used."""
    cfg: Config = sandbox_config(evil_dns, tmp_path)
    evil_dns.http.redirect("rdap.markmonitor.com", "http://169.254.169.254/latest/", times=None)
    g = Gatherer(cfg, build_clients(cfg), sleep=Sleeps())
    with watching() as watch:
        result = g.lookup("google.com")
    g.close()
    assert watch.refused == []
    dom = result.findings.domain
    assert dom is not None and dom.registrar  # from the registry's (Verisign's) answer
    assert ("rdap.markmonitor.com", "/rdap/domain/GOOGLE.COM") in evil_dns.http.requests
    assert not [r for r in evil_dns.http.requests if "169.254" in r[0]]


# -- TLS to a pinned address: verified for the host name ----------------------------------------------


def _cert_for(name: str, folder: Path) -> tuple[str, str]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = folder / "rdap-cert.pem", folder / "rdap-key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(certfile), str(keyfile)


@pytest.fixture
def tls_local(local: _Local, tmp_path: Path) -> Iterator[tuple[_Local, str]]:
    import ssl

    certfile, keyfile = _cert_for("rdap.pinned.test", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    local.server.socket = context.wrap_socket(local.server.socket, server_side=True)
    yield local, certfile


def test_https_goes_to_the_pinned_address_and_verifies_the_host_name(tls_local: tuple[_Local, str]) -> None:
    import ssl

    local, certfile = tls_local
    trusting = ssl.create_default_context(cafile=certfile)
    fetcher = Fetcher(lambda host: (["127.0.0.1"], 0.0), timeout=2.0, deadline=5.0,
                      policy=_allow_local(local.port), tls=trusting)  # type: ignore[arg-type]
    with watching() as watch:
        assert fetcher.get(f"https://rdap.pinned.test:{local.port}/first").status == 200
    assert watch.connects == [("127.0.0.1", local.port)] and watch.name_lookups == []
    # the certificate names rdap.pinned.test: another name on the same address is not accepted
    with pytest.raises(LookupFailed, match="TLS"):
        fetcher.get(f"https://other.pinned.test:{local.port}/second")
    # nor is a certificate nobody vouches for
    untrusting = Fetcher(lambda host: (["127.0.0.1"], 0.0), timeout=2.0, deadline=5.0,
                         policy=_allow_local(local.port))  # type: ignore[arg-type]
    with pytest.raises(LookupFailed, match="TLS"):
        untrusting.get(f"https://rdap.pinned.test:{local.port}/third")
    assert local.paths == ["/first"]
