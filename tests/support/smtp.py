"""A real SMTP server on 127.0.0.1 for the sending tests and the bulk benchmark (aiosmtpd, in a thread).

    with SmtpServer(security="starttls", users={"bot": "secret"}, cert=cert) as srv:
        srv.port, srv.messages (list of Received), srv.config_dict() -> the [smtp] table for our config

``security``: "starttls" (STARTTLS required before AUTH/MAIL), "tls" (implicit TLS) or "none".
Fault injection: ``srv.reject(address, code, text)`` answers RCPT TO for that address with the code;
``srv.temporary_failures(n)`` answers the next n DATA commands with 451.
The certificate is a throwaway self-signed one made by ``make_cert`` with the `cryptography` package.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Cert:
    certfile: str
    keyfile: str


def make_cert(folder: Path) -> Cert:
    """A self-signed certificate for 127.0.0.1 / localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "incident-bot test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return Cert(str(certfile), str(keyfile))


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, srv: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.server.lock:
            rule = self.server.rejects.get(address.lower())
        if rule:
            return rule
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:
        with self.server.lock:
            if self.server.fail_data > 0:
                self.server.fail_data -= 1
                return "451 4.3.0 try again later"
            self.server.messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos),
                                                 bytes(envelope.original_content or envelope.content)))
        return "250 2.0.0 queued"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    def __init__(self, *, security: str = "starttls", users: dict[str, str] | None = None,
                 cert: Cert | None = None) -> None:
        if security != "none" and cert is None:
            raise ValueError("a TLS server needs a certificate (make_cert)")
        self.security = security
        self.users = users or {}
        self.cert = cert
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.rejects: dict[str, str] = {}
        self.fail_data = 0
        self.auth_attempts = 0
        self.port = 0
        self._controller: Controller | None = None
        self._clients: list[Any] = []
        self._secrets: tempfile.TemporaryDirectory[str] | None = None

    def track(self, client: Any) -> Any:
        """Close `client` (an Outbox) before the server stops, so no connection is left half-open."""
        self._clients.append(client)
        return client

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        with self.lock:
            self.auth_attempts += 1
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def reject(self, address: str, code: int = 550, text: str = "5.1.1 no such user") -> None:
        with self.lock:
            self.rejects[address.lower()] = f"{code} {text}"

    def temporary_failures(self, n: int) -> None:
        with self.lock:
            self.fail_data = n

    def __enter__(self) -> SmtpServer:
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own deprecation chatter
        ctx = None
        if self.cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert.certfile, self.cert.keyfile)
        kwargs: dict[str, Any] = {}
        if self.security == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        elif self.security == "tls":
            kwargs.update(ssl_context=ctx)
        if self.users and self.security == "starttls":
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=True)
        elif self.users:
            # aiosmtpd does not see an implicit-TLS transport as TLS: AUTH is offered (and checked) but
            # cannot be required without its plain-text warning.
            kwargs.update(authenticator=self._authenticate, auth_required=False, auth_require_tls=False)
        self.port = _free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                      ready_timeout=5.0, **kwargs)
        self._controller.start()
        if self.users:  # the login's password, in a file as smtp.password_file wants it
            self._secrets = tempfile.TemporaryDirectory(prefix="smtp-secret-")
            (Path(self._secrets.name) / "password").write_text(next(iter(self.users.values())) + "\n")
        return self

    def __exit__(self, *exc: object) -> None:
        while self._clients:
            self._clients.pop().close()
        if self._controller is not None:
            self._controller.stop()
        if self._secrets is not None:
            self._secrets.cleanup()

    def config_dict(self, **extra: Any) -> dict[str, Any]:
        """The [smtp] table pointing our sender at this server, with its first user's login (the
        password from a file the server keeps while it runs)."""
        table: dict[str, Any] = {
            "host": "127.0.0.1", "port": self.port, "security": self.security, "timeout": 5.0,
            "retries": 2, "retry_delay": 0.05, "from_address": "security@mydomain.example",
        }
        if self.cert is not None:
            table["cafile"] = self.cert.certfile
        if self.users and self._secrets is not None:
            table.update(username=next(iter(self.users)),
                         password_file=str(Path(self._secrets.name) / "password"))
        table.update(extra)
        return table
