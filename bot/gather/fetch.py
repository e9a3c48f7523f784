"""The one HTTP client of the gatherer: a GET that is checked, pinned, capped and bounded in time.

Every registry answer (IP RDAP through ipwhois, domain RDAP through whoisit, a registrar's "related"
link, IANA's bootstrap files, ARIN's bootstrap redirect) is read here, because each of those libraries
reads answers whole, follows redirects anywhere and resolves names itself. For each request:

- the URL is checked (bot.gather.urlcheck: http(s), a host name, no address in any spelling);
- the host is resolved once with our configured resolver and every address checked against the address
  policy; the connection then goes to one of those checked addresses (pinned: no second resolution, so a
  name cannot be re-pointed between the check and the connect), with TLS verified for the host name;
- the answer is read with a size cap (``max_bytes``, headers included) and one total deadline for the
  whole request (resolution, connect, TLS, every read, every redirect), so a server trickling a byte a
  second cannot hold a worker longer than the deadline; every single wait also ends after ``timeout``;
- redirects are followed by us, at most five, each one checked as above; ``Accept-Encoding: identity``
  (no compressed answer to inflate), ``Connection: close``.

``override`` (``gather.rdap_url_override``) is trusted configuration for tests and mirrors: the checks
still apply to the URL an answer names (its host resolved with our resolver), and the connection goes to
``{override}/HOST/PATH`` instead. One log line per request (logger ``bot.gather.fetch``, INFO): what was
asked, of whom, how long it took, what came back.
"""

from __future__ import annotations

import http.client
import io
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urljoin, urlsplit

from bot import registries
from bot.errors import LookupFailed
from bot.gather.urlcheck import AddressPolicy, Target, UrlRefused, address_refusal, check_addresses, check_url
from bot.text import single_line

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 8_000_000      # a registry answer is kilobytes; the biggest seen, a few hundred
MAX_HEAD_BYTES = 64 * 1024        # status line and headers
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "incident-bot (abuse reporting; +https://github.com/)"
RDAP_ACCEPT = "application/rdap+json, application/json"
# host -> (addresses, seconds they may be used for); raises LookupFailed when DNS fails
Resolve = Callable[[str], tuple[list[str], float]]


class AnswerTooLarge(LookupFailed):
    """A server sent more than the cap: not read further (untrusted, it would fill memory)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, source="fetch", temporary=False)


class FetchTimeout(LookupFailed):
    """The request's deadline passed, or one wait took longer than the timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(message, source="fetch", temporary=True)


class FetchFailed(LookupFailed):
    """The server could not be reached or broke the exchange (worth trying again later)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, source="fetch", temporary=True)


@dataclass(frozen=True)
class Answer:
    url: str              # the URL that answered, as the answers named it (never the override's form)
    status: int
    reason: str
    headers: Message
    body: bytes


def describe(url: str) -> str:
    """Who is asked what, for log lines: "ARIN, IP network", "IANA bootstrap", "rdap.example.net"."""
    parts = urlsplit(url)
    host = (parts.hostname or "?").lower()
    if host == "data.iana.org":
        return "IANA bootstrap"
    if host == "rdap-bootstrap.arin.net":
        return "ARIN bootstrap"
    registry = registries.RDAP_HOSTS.get(host) or ("apnic" if host.endswith(".rdap.apnic.net") else "")
    who = registries.name(registry) if registry else single_line(host, 80)
    for marker, what in (("/ip/", "IP network"), ("/entity/", "entity"), ("/domain/", "domain"),
                         ("/autnum/", "AS")):
        if marker in parts.path:
            return f"{who}, {what}"
    return who


class _DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose every read ends by the deadline and counts against a budget."""

    def __init__(self, sock: socket.socket, deadline: float, timeout: float, budget: int, what: str) -> None:
        self._sock = sock
        self._deadline = deadline
        self._timeout = timeout
        self._budget = budget
        self._what = what
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise FetchTimeout(f"{self._what} did not answer in time")
        self._sock.settimeout(min(self._timeout, remaining))
        count = self._sock.recv_into(buffer)
        self.count += count
        if self.count > self._budget:
            raise AnswerTooLarge(f"{self._what} sent an answer too large to read")
        return count


class _Connection:
    """What http.client.HTTPResponse needs of a socket: makefile("rb")."""

    def __init__(self, reader: _DeadlineReader) -> None:
        self._reader = reader

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(self._reader, buffer_size=16 * 1024)


class Fetcher:
    """Shared by threads. Holds the checked addresses of hosts (for at most their DNS TTL, 5 minutes at
    most) and nothing about any lookup."""

    def __init__(self, resolve: Resolve, *, timeout: float, deadline: float, override: str = "",
                 policy: AddressPolicy = address_refusal, user_agent: str = USER_AGENT,
                 tls: ssl.SSLContext | None = None, max_host_ttl: float = 300.0) -> None:
        self.resolve = resolve
        self.timeout = timeout
        self.deadline = deadline
        self.policy = policy
        self.user_agent = user_agent
        self.override = override.rstrip("/")
        self._tls = tls or ssl.create_default_context()
        self._max_host_ttl = max_host_ttl
        self._hosts: dict[str, tuple[list[str], float]] = {}
        self._lock = threading.Lock()
        self.requests = 0            # requests sent (each redirect hop counts)

    # -- the one public call -------------------------------------------------------------------

    def get(self, url: str, *, accept: str = RDAP_ACCEPT, max_bytes: int | None = None) -> Answer:
        """GET ``url``, following redirects. Raises UrlRefused, AnswerTooLarge, FetchTimeout, FetchFailed
        (all LookupFailed); any HTTP status is an Answer. ``max_bytes``: MAX_ANSWER_BYTES unless given."""
        max_bytes = MAX_ANSWER_BYTES if max_bytes is None else max_bytes
        deadline = time.monotonic() + self.deadline
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            started = time.monotonic()
            shown, what = single_line(current, 160), describe(current)
            try:
                target = check_url(current)
                answer = self._once(target, accept, max_bytes, deadline)
            except UrlRefused as exc:
                log.warning("GET %s (%s): refused: %s", shown, what, exc)
                raise
            except LookupFailed as exc:
                log.info("GET %s (%s): %s after %.0f ms", shown, what, exc,
                         (time.monotonic() - started) * 1000)
                raise
            ms = (time.monotonic() - started) * 1000
            location = answer.headers.get("Location", "") if answer.status in REDIRECTS else ""
            if not location:
                log.info("GET %s (%s): %d, %s bytes in %.0f ms", shown, what, answer.status,
                         len(answer.body), ms)
                return answer
            current = urljoin(current, location)
            log.info("GET %s (%s): %d to %s in %.0f ms", shown, what, answer.status,
                     single_line(current, 160), ms)
        raise UrlRefused(f"{urlsplit(url).hostname}: more than {MAX_REDIRECTS} redirects")

    # -- one hop ---------------------------------------------------------------------------------

    def _once(self, target: Target, accept: str, max_bytes: int, deadline: float) -> Answer:
        checked = self.checked_addresses(target.host)
        if self.override:
            base = urlsplit(self.override)
            scheme, host, port = base.scheme, base.hostname or "", base.port
            path = base.path.rstrip("/") + "/" + target.url.split("://", 1)[1]
            addresses = self._override_addresses(host)
            host_header = base.netloc
        else:
            scheme, host, port, path = target.scheme, target.host, target.port, target.path
            addresses = checked
            host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        port = port or (443 if scheme == "https" else 80)
        sock = self._connect(addresses, port, deadline, target.host)
        try:
            if scheme == "https":
                sock.settimeout(max(0.001, min(self.timeout, deadline - time.monotonic())))
                try:
                    sock = self._tls.wrap_socket(sock, server_hostname=host)
                except ssl.SSLError as exc:
                    raise FetchFailed(f"{target.host}: TLS failed ({exc.reason or 'handshake'})") from exc
            request = (f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {self.user_agent}\r\n"
                       f"Accept: {accept}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n")
            with self._lock:
                self.requests += 1
            return self._exchange(sock, request.encode("ascii"), target, max_bytes, deadline)
        except TimeoutError as exc:
            raise FetchTimeout(f"{target.host} did not answer in time") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise FetchFailed(f"{target.host} could not be read ({type(exc).__name__})") from exc
        finally:
            sock.close()

    def _exchange(self, sock: socket.socket, request: bytes, target: Target, max_bytes: int,
                  deadline: float) -> Answer:
        sock.settimeout(max(0.001, min(self.timeout, deadline - time.monotonic())))
        sock.sendall(request)
        reader = _DeadlineReader(sock, deadline, self.timeout, max_bytes + MAX_HEAD_BYTES, target.host)
        response = http.client.HTTPResponse(_Connection(reader), method="GET")  # type: ignore[arg-type]
        response.begin()
        length = response.getheader("Content-Length", "")
        if length.strip().isdigit() and int(length) > max_bytes:
            raise AnswerTooLarge(f"{target.host} announced an answer too large to read ({length} bytes)")
        body = bytearray()
        if response.status not in REDIRECTS:
            while chunk := response.read1(64 * 1024):
                body += chunk
                if len(body) > max_bytes:
                    raise AnswerTooLarge(f"{target.host} sent an answer too large to read")
        return Answer(target.url, response.status, response.reason, response.msg, bytes(body))

    # -- port 43 ----------------------------------------------------------------------------------

    def port43(self, host: str, port: int, query: str, *, max_bytes: int, trusted: bool) -> bytes:
        """Send one whois query line and read the answer until the server closes (capped, bounded by the
        deadline). ``trusted``: the configured whois_server_override (not checked); otherwise the host
        (a registry's whois server) is resolved with our resolver and checked like any other."""
        deadline = time.monotonic() + self.deadline
        started = time.monotonic()
        where = f"{single_line(host, 80)}:{port}"
        try:
            addresses = self._override_addresses(host) if trusted else self.checked_addresses(host)
            sock = self._connect(addresses, port, deadline, host)
            try:
                with self._lock:
                    self.requests += 1
                sock.settimeout(max(0.001, min(self.timeout, deadline - time.monotonic())))
                sock.sendall(query.encode("ascii", "replace") + b"\r\n")
                reader = _DeadlineReader(sock, deadline, self.timeout, max_bytes, host)
                data = bytearray()
                chunk = bytearray(64 * 1024)
                while count := reader.readinto(chunk):
                    data += chunk[:count]
            except TimeoutError as exc:
                raise FetchTimeout(f"whois server {host} did not answer in time") from exc
            except OSError as exc:
                raise FetchFailed(f"whois server {host} could not be read ({type(exc).__name__})") from exc
            finally:
                sock.close()
        except LookupFailed as exc:
            log.info("WHOIS %s at %s: %s after %.0f ms", single_line(query, 80), where, exc,
                     (time.monotonic() - started) * 1000)
            raise
        log.info("WHOIS %s at %s: %d bytes in %.0f ms", single_line(query, 80), where, len(data),
                 (time.monotonic() - started) * 1000)
        return bytes(data)

    # -- addresses -------------------------------------------------------------------------------

    def checked_addresses(self, host: str) -> list[str]:
        """The addresses of ``host`` (resolved with our resolver, or remembered for their TTL), all
        allowed by the policy; UrlRefused otherwise."""
        now = time.monotonic()
        with self._lock:
            known = self._hosts.get(host)
        if known is not None and known[1] > now:
            return known[0]
        addresses, ttl = self.resolve(host)
        checked = check_addresses(host, addresses, self.policy)
        keep = min(ttl, self._max_host_ttl)
        if keep > 0:
            with self._lock:
                self._hosts[host] = (checked, now + keep)
        return checked

    def _override_addresses(self, host: str) -> list[str]:
        """The trusted override's host: an address as written, else resolved (not checked: configured)."""
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            return [host]
        except OSError:
            addresses, _ = self.resolve(host)
            if not addresses:
                raise FetchFailed(f"gather.rdap_url_override: {host} has no address") from None
            return addresses

    def _connect(self, addresses: list[str], port: int, deadline: float, name: str) -> socket.socket:
        """A TCP connection to the first of ``addresses`` that answers (each one already checked)."""
        failure: OSError | None = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(min(self.timeout, remaining))
            try:
                sock.connect((address, port))
                return sock
            except OSError as exc:
                sock.close()
                failure = exc
        if isinstance(failure, TimeoutError | socket.timeout) or failure is None:
            raise FetchTimeout(f"{name} did not answer in time")
        raise FetchFailed(f"{name} could not be reached ({type(failure).__name__})")
