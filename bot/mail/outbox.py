"""Sending over SMTP: STARTTLS, implicit TLS or none, AUTH, retries with backoff.

``connector(cfg.smtp)`` builds the connection factory (the one place an SMTP client is made); the
Outbox gets it injected. ``Outbox.send`` only sends: recording the Message-ID and the ``sending``
state before it, and the outcome after it, is the pipeline's job (see bot/pipeline.py).

Temporary failures (4xx answers, refused connections, timeouts while connecting) are retried
``smtp.retries`` times with doubling delays from ``smtp.retry_delay``; a 5xx answer to a recipient
marks that recipient failed, a 5xx to the whole transaction is a permanent SendError (unless an
earlier attempt already delivered it to some recipients: then the rest are marked failed and the
result says who has it, so the incident is not taken for unsent and sent to them again). A connection
lost *during* the transaction is not retried: the server may have taken the mail before the line
dropped, so ``UncertainDelivery`` is raised and a person decides (no mail is ever sent twice on a guess).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from bot.config import SmtpConfig
from bot.errors import SendError

Connect = Callable[[], smtplib.SMTP]


class UncertainDelivery(SendError):
    """The connection broke during the SMTP transaction: the mail may or may not have been delivered."""


@dataclass(frozen=True)
class SendResult:
    accepted: tuple[str, ...]
    failed: dict[str, str] = field(default_factory=dict)    # address -> "550 5.1.1 no such user"
    attempts: int = 1


def _tls_context(cfg: SmtpConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if cfg.cafile:
        try:
            ctx.load_verify_locations(cafile=cfg.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise SendError(f"smtp.cafile: cannot load {cfg.cafile}: {exc}", permanent=True) from exc
    return ctx


def connector(cfg: SmtpConfig) -> Connect:
    """A factory of logged-in SMTP connections as configured. Nothing connects until it is called."""

    def connect() -> smtplib.SMTP:
        ctx = _tls_context(cfg)
        conn: smtplib.SMTP
        if cfg.security == "tls":
            conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=ctx)
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        try:
            if conn.sock is not None:
                # Without it, Nagle's algorithm holds the last piece of a large message until the
                # server's delayed ACK (~40 ms per mail): a hundred reports would wait four seconds.
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.ehlo()
            if cfg.security == "starttls":
                conn.starttls(context=ctx)
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, cfg.password())
        except BaseException:
            _close(conn)
            raise
        return conn

    return connect


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def _temporary(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, ssl.SSLError | smtplib.SMTPNotSupportedError | smtplib.SMTPAuthenticationError):
        return False  # a certificate, TLS mode or login problem does not fix itself
    return isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | OSError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(
            exc.smtp_error)
        return f"{exc.smtp_code} {' '.join(text.split())}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    return exc.__class__.__name__ + (f": {exc}" if str(exc) else "")


class Outbox:
    """Sends messages, retrying what may work later.

    Logged-in connections are kept open between messages (a bulk run sends a thousand reports), at
    most ``smtp.connections`` of them, and each is checked with NOOP before it is used again, so one
    that died while idle is replaced before any message is handed over. Concurrent ``send`` calls
    (a batch's workers; a scheduled job and a person's Send) each take a connection for one attempt
    at a time: a message waiting for its retry holds none. ``close()`` (or ``with``) ends them all.
    """

    def __init__(self, cfg: SmtpConfig, connect: Connect | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._cfg = cfg
        self._connect = connect or connector(cfg)
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max(1, cfg.connections))
        self._lock = threading.Lock()          # guards the idle list
        self._idle: list[smtplib.SMTP] = []

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)

    def _take(self) -> smtplib.SMTP:
        """An idle connection that still answers, else a new one (called holding a slot)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect()
            try:
                if conn.noop()[0] == 250:
                    return conn
            except (smtplib.SMTPException, OSError):
                pass
            _close(conn)

    def _give_back(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            self._idle.append(conn)

    def send(self, msg: EmailMessage | bytes, envelope_from: str, recipients: Sequence[str],
             notice: Callable[[str], None] | None = None) -> SendResult:
        """`notice` is told of each wait before a retry (a person should not face a silent pause).
        `msg` may be given already flattened (CRLF line ends), as the caller recorded it.

        The lock is held for one attempt at a time (connection check, SMTP transaction), never
        across a wait: another thread's message goes out while this one waits for its retry."""
        pending = list(dict.fromkeys(recipients))
        accepted: list[str] = []
        failed: dict[str, str] = {}
        last = ""
        attempts = 0
        delay = self._cfg.retry_delay
        for attempt in range(self._cfg.retries + 1):
            if attempt:
                if notice is not None:
                    notice(f"SMTP: {last}; trying again in {delay:g} s "
                           f"(attempt {attempt + 1} of {self._cfg.retries + 1})")
                self._sleep(delay)  # without the lock
                delay *= 2
            attempts = attempt + 1
            with self._slots:
                outcome = self._attempt(msg, envelope_from, pending, bool(accepted))
            if outcome.stop is not None:  # a permanent failure after others got it: keep that
                failed.update(dict.fromkeys(pending, outcome.stop))
                pending = []
                break
            if outcome.retry_why:
                last = outcome.retry_why
                if outcome.refused is None:
                    continue
            retry: list[str] = []
            for addr in pending:
                if addr not in (outcome.refused or {}):
                    accepted.append(addr)
                    continue
                code, text = (outcome.refused or {})[addr]
                why = f"{code} {' '.join(text.decode('utf-8', 'replace').split())}"
                if 400 <= code < 500:
                    retry.append(addr)
                    last = why
                else:
                    failed[addr] = why
            pending = retry
            if not pending:
                break
        if pending and not accepted and not failed:
            # The server never took the transaction: nothing was sent, the caller may try later.
            raise SendError(f"SMTP server unavailable after {attempts} attempts: {last}")
        for addr in pending:
            failed[addr] = f"gave up after {attempts} attempts: {last}"
        return SendResult(tuple(accepted), failed, attempts)

    def _attempt(self, msg: EmailMessage | bytes, envelope_from: str, pending: list[str],
                 delivered_some: bool) -> _Attempt:
        """One try, holding a slot. Raises SendError for a permanent failure while nobody has the
        mail yet, UncertainDelivery when the line broke during the transaction."""
        try:
            conn = self._take()
        except (smtplib.SMTPException, OSError) as exc:
            if isinstance(exc, smtplib.SMTPAuthenticationError):
                why = f"SMTP login refused: {_describe(exc)}"
            elif isinstance(exc, smtplib.SMTPNotSupportedError):
                why = f"SMTP: {exc} (check smtp.security: starttls, tls or none)"
            elif not _temporary(exc):
                why = f"SMTP: {_describe(exc)}"
            else:
                return _Attempt(retry_why=_describe(exc))
            if not delivered_some:
                raise SendError(why, permanent=True) from exc
            return _Attempt(stop=why)
        try:
            if isinstance(msg, bytes):
                refused = conn.sendmail(envelope_from, pending, msg)
            else:
                refused = conn.send_message(msg, from_addr=envelope_from, to_addrs=pending)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except smtplib.SMTPResponseException as exc:  # a definite answer: nothing was taken
            why = _describe(exc)
            _close(conn)
            if _temporary(exc):
                return _Attempt(retry_why=why)
            if not delivered_some:
                raise SendError(f"SMTP refused the message: {why}", permanent=True) from exc
            return _Attempt(stop=f"SMTP refused the message: {why}")
        except (smtplib.SMTPException, OSError) as exc:
            _close(conn)
            raise UncertainDelivery(
                f"the connection to the SMTP server broke during the transaction ({_describe(exc)}); "
                f"the mail may or may not have been delivered", permanent=False) from exc
        if any(400 <= refused[a][0] < 500 for a in pending if a in refused):
            _close(conn)  # recipients answered 4xx: come back later on a fresh connection
        else:
            self._give_back(conn)
        return _Attempt(refused=dict(refused))


@dataclass(frozen=True)
class _Attempt:
    refused: dict[str, tuple[int, bytes]] | None = None   # the transaction happened: who was refused
    retry_why: str = ""                                   # nothing was taken; worth trying again
    stop: str | None = None                               # permanent, and others have the mail already
