"""One logged-in IMAP connection as [mailbox] describes it, with imapclient's errors made ours.

Built only here (a front end never builds a client elsewhere), nothing connects at import time.
Every command has the socket timeout ``mailbox.timeout``; fetching one message whole also has a
total deadline (``mailbox.fetch_deadline``): a watchdog cuts the connection when it passes, so a
server trickling a message byte by byte costs that message, not the process. A message's bytes are
read with a partial fetch of at most the size cap plus one byte, whatever RFC822.SIZE claimed.

Errors: ``Dropped`` when the connection cannot be used any more (reset, timeout, BYE, TLS): the
watcher reconnects with backoff. ``Refused`` when the server answered NO or BAD to one command: the
connection is still good. ``LoginRefused`` (a Refused) for a wrong user or password.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from bot.config import MailboxConfig
from bot.errors import IncidentError

log = logging.getLogger("incident.mailbox")
T = TypeVar("T")
_MSGID = re.compile(rb"<[^<>\s]{1,250}>")
DELETED = b"\\Deleted"


class MailboxError(IncidentError):
    """The mailbox could not be read; the text is one line for the log."""


class Dropped(MailboxError):
    """The connection is gone (or was cut by a deadline): reconnect."""


class Refused(MailboxError):
    """The server answered NO or BAD to one command; the connection still works."""


class LoginRefused(Refused):
    """Wrong user name or password (or the account is locked)."""


@dataclass(frozen=True)
class Meta:
    uid: int
    size: int
    message_id: str     # "" when the message has none


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = " ".join(str(exc).split())[:300]
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


@contextmanager
def converted(what: str) -> Iterator[None]:
    """imapclient's, imaplib's and the socket's exceptions as ours, naming ``what`` was being done."""
    try:
        yield
    except LoginError as exc:
        raise LoginRefused(f"{what}: login refused ({_describe(exc)})") from exc
    except imaplib.IMAP4.abort as exc:  # before .error: abort is its subclass
        raise Dropped(f"{what}: connection lost ({_describe(exc)})") from exc
    except imaplib.IMAP4.error as exc:
        raise Refused(f"{what}: {_describe(exc)}") from exc
    except (OSError, EOFError) as exc:  # sockets, TLS, timeouts, a connection cut by a deadline
        raise Dropped(f"{what}: {_describe(exc)}") from exc


def tls_context(cfg: MailboxConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if cfg.cafile:
        try:
            ctx.load_verify_locations(cafile=cfg.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise MailboxError(f"mailbox.cafile: cannot load {cfg.cafile}: {exc}") from exc
    return ctx


class Connection:
    """A logged-in connection. ``open`` connects; ``close`` (or ``with``) logs out."""

    def __init__(self, client: IMAPClient, cfg: MailboxConfig) -> None:
        self.client = client
        self.cfg = cfg
        with converted("capabilities"):
            self.capabilities = {c.decode("ascii", "replace").upper() for c in client.capabilities()}
            self.delimiter = self._delimiter()
        self.keywords = True        # the selected folder keeps our keyword (PERMANENTFLAGS has \*)

    @classmethod
    def open(cls, cfg: MailboxConfig) -> Connection:
        password = cfg.password()
        if not password:
            raise MailboxError(f"no IMAP password: set the environment variable {cfg.password_env} or "
                               f"mailbox.password_file")
        where = f"IMAP {cfg.host}:{cfg.port}"
        ctx = tls_context(cfg)
        with converted(where):
            client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.security == "tls", ssl_context=ctx,
                                timeout=cfg.timeout)
        try:
            with converted(where):
                if cfg.security == "starttls":
                    if not client.has_capability("STARTTLS"):
                        raise MailboxError(f"{where} does not offer STARTTLS (mailbox.security)")
                    client.starttls(ctx)
                client.login(cfg.username, password)
            return cls(client, cfg)
        except BaseException:
            _quietly(client.shutdown)
            raise

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # logging out of a dead connection: nothing to save
            _quietly(self.client.shutdown)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    def _delimiter(self) -> str:
        for _flags, delim, _name in self.client.list_folders("", "INBOX"):
            if delim:
                return delim.decode("ascii", "replace") if isinstance(delim, bytes) else str(delim)
        return "/"

    def folder(self, leaf: str) -> str:
        """``<folder_prefix><delimiter><leaf>`` in the server's own hierarchy delimiter (levels of the
        prefix are written with "/")."""
        prefix = self.cfg.folder_prefix.strip("/").replace("/", self.delimiter)
        return f"{prefix}{self.delimiter}{leaf}"

    # --- commands ----------------------------------------------------------------------------

    def ensure(self, folders: Sequence[str]) -> list[str]:
        """Create the folders that do not exist yet (and subscribe them); those created."""
        made = []
        for name in folders:
            with converted(f"create {name}"):
                if self.client.folder_exists(name):
                    continue
                self.client.create_folder(name)
                _quietly(lambda n=name: self.client.subscribe_folder(n))  # type: ignore[misc]
            made.append(name)
        return made

    def select(self, folder: str) -> int:
        """Select ``folder`` for reading and writing; its UIDVALIDITY."""
        with converted(f"select {folder}"):
            info = self.client.select_folder(folder)
        perm = info.get(b"PERMANENTFLAGS", ())
        self.keywords = b"\\*" in perm
        return int(info[b"UIDVALIDITY"])

    def uids(self) -> list[int]:
        with converted("search"):
            return sorted(int(u) for u in self.client.search(["NOT", "DELETED"]))

    def meta(self, uid: int) -> Meta | None:
        """Size and Message-ID of one message (its body not read); None when it is gone."""
        with converted(f"fetch uid {uid} size"):
            got = self.client.fetch([uid], ["RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        data = got.get(uid)
        if data is None:
            return None
        header = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"") or b""
        found = _MSGID.search(header)
        mid = found.group(0).decode("ascii", "replace") if found else ""
        return Meta(uid, int(data.get(b"RFC822.SIZE", 0)), mid)

    def fetch(self, uid: int, cap: int) -> bytes | None:
        """The message's bytes (None when it is gone, or when it holds more than ``cap`` bytes),
        within ``fetch_deadline`` seconds or Dropped."""
        with self._deadline(self.cfg.fetch_deadline), converted(f"fetch uid {uid}"):
            got = self.client.fetch([uid], [f"BODY.PEEK[]<0.{cap + 1}>"])
        data = got.get(uid)
        if data is None:
            return None
        raw = next((v for k, v in data.items() if k.startswith(b"BODY[]")), None)
        if raw is None or len(raw) > cap:
            return None
        return bytes(raw)

    @contextmanager
    def _deadline(self, seconds: float) -> Iterator[None]:
        cut = threading.Event()

        def expire() -> None:
            cut.set()
            _quietly(lambda: self.client.socket().shutdown(socket.SHUT_RDWR))

        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except Dropped as exc:
            if cut.is_set():
                raise Dropped(f"{exc} (the {seconds:g} s deadline passed)") from exc
            raise
        finally:
            timer.cancel()

    def mark_and_move(self, uid: int, folder: str) -> str:
        """Set our keyword and move the message to ``folder``: MOVE where offered, else COPY, \\Deleted
        and UID EXPUNGE of this UID only (never a bare EXPUNGE). How it was done, for the log."""
        with converted(f"move uid {uid} to {folder}"):
            if self.keywords:
                self.client.add_flags([uid], [self.cfg.flag])
            if self.has("MOVE"):
                self.client.move([uid], folder)
                return "moved"
            self.client.copy([uid], folder)
            self.client.add_flags([uid], [DELETED])
            if self.has("UIDPLUS"):
                self.client.expunge([uid])  # UID EXPUNGE <uid>
                return "copied and expunged"
        return "copied; left flagged \\Deleted (the server has no UID EXPUNGE)"

    def wait(self, stop: threading.Event, seconds: float) -> None:
        """Until new mail arrives, ``seconds`` pass or ``stop`` is set: IDLE where the server offers
        it (ended and issued again by the caller at least every idle_renew_seconds), else a sleep and
        a NOOP. Checks ``stop`` every half second."""
        # New mail reported in the answer to an earlier command (a MOVE while it arrived) is not
        # reported again in IDLE: imaplib keeps such untagged EXISTS until asked (its public
        # response()); then the caller reads the folder again at once.
        _, told = self.client._imap.response("EXISTS")
        if told and told != [None]:
            return
        if not (self.cfg.idle and self.has("IDLE")):
            stop.wait(seconds)
            with converted("noop"):
                self.client.noop()
            return
        with converted("idle"):
            self.client.idle()
            # Mail that came after the last command is told right behind "+ idling", often in the
            # same packet: imaplib has read it into its buffer already, where idle_check (a poll of
            # the socket) does not look. Such mail waited for the next renewal (idle_renew_seconds).
            news = self._told_already()
            try:
                end = time.monotonic() + seconds
                while not news and not stop.is_set() and time.monotonic() < end:
                    answers = self.client.idle_check(timeout=min(0.5, max(0.0, end - time.monotonic())))
                    if any(len(a) > 1 and a[1] in (b"EXISTS", b"RECENT") for a in answers):
                        news = True
                        break
            finally:
                self.client.idle_done()
        if not news and not stop.is_set():
            log.debug("IDLE renewed after %g s without new mail", seconds)

    def _told_already(self) -> bool:
        """Whether new mail is told in what waits, already read, in imaplib's buffer (peeked without
        blocking: the socket is made non-blocking meanwhile). Other words there ("* OK Still
        here", a flag change) are no news: they are read when IDLE ends."""
        sock = self.client.socket()
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            waiting = self.client._imap.file.peek(1)
        except OSError:         # (nothing buffered, and nothing to read either)
            return False
        finally:
            sock.settimeout(timeout)
        return b" EXISTS" in waiting or b" RECENT" in waiting

    def noop(self) -> None:
        with converted("noop"):
            self.client.noop()


def _quietly(call: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):  # best effort on a connection already in trouble
        call()
