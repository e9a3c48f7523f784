"""A real IMAP server for the mailbox tests: Dovecot (Debian's ``dovecot-imapd``) on 127.0.0.1.

    with Dovecot(cert=cert) as server:
        imap = server.account()                  # a fresh user: tests sharing a server stay apart
        imap.append("INBOX", raw_bytes)          # what a mail server delivering an alert does
        imap.messages("incident-bot.done")       # [(uid, flags, bytes)]
        cfg = from_dict({"mailbox": imap.config_dict(), ...})

It runs unprivileged: started by root (CI), the master and every process run as ``nobody`` in a
private folder made for it under /tmp; started by anyone else, as that user. The configuration is
a throwaway one: its own ``base_dir``, an empty ``chroot =`` for the login processes, users
(``bot``, and each ``account()`` a new one; password ``s3cret``) whose mail is a Maildir in that
folder (the users are lines of a passwd-file Dovecot reads again when it changes), STARTTLS on
the plain port and implicit TLS on the other when a certificate is given (``make_cert`` of
tests/support/smtp.py). ``capabilities`` replaces what the server advertises after login (to
play a server without IDLE or MOVE; the commands themselves keep working, as on such servers that
still parse them).

If Dovecot is not installed the constructor raises with a message saying so: the tests fail, they
are never skipped (.ci/run installs it with apt-get).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from tests.support.smtp import Cert

USER = "bot"
PASSWORD = "s3cret"
# Dovecot 2.3's capabilities after login (bookworm), for tests that take one away.
FULL_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
    "THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS "
    "LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
    "LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY"
)
SPARE_USERS = 400
MISSING = ("Dovecot is not installed (no 'dovecot' on PATH or in /usr/sbin): the mailbox tests need a real "
           "IMAP server; install the Debian package dovecot-imapd (.ci/run does it with apt-get)")


def dovecot_binary() -> str:
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None)
    if not found:
        raise RuntimeError(MISSING)
    return found


def without(capability: str) -> str:
    """Dovecot's capabilities without one (``without("IDLE")``)."""
    return " ".join(c for c in FULL_CAPABILITIES.split() if c != capability)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dovecot:
    def __init__(self, *, cert: Cert | None = None, capabilities: str = "") -> None:
        self.binary = dovecot_binary()
        self.doveadm = shutil.which("doveadm") or str(Path(self.binary).with_name("doveadm"))
        self.cert = cert
        self.capabilities = capabilities
        self.port = 0           # plain IMAP, STARTTLS offered when there is a certificate
        self.tls_port = 0       # implicit TLS (0 without a certificate)
        self.dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._run_as: pwd.struct_passwd | None = pwd.getpwnam("nobody") if os.geteuid() == 0 else None

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _user(self) -> tuple[str, str, int, int]:
        """The user and group every Dovecot process runs as (names for its config, ids for files)."""
        who = self._run_as or pwd.getpwuid(os.geteuid())
        return who.pw_name, grp.getgrgid(who.pw_gid).gr_name, who.pw_uid, who.pw_gid

    def start(self) -> None:
        # /tmp itself, not pytest's tmp_path: that one is private to root, and Dovecot runs as nobody
        self.dir = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
        user, group, uid, gid = self._user()
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir()
        # Users made up front: Dovecot notices a changed passwd-file only about once a second.
        self._users = [USER]
        self._spare = [f"user{n}" for n in range(1, SPARE_USERS + 1)]
        (self.dir / "passwd").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}\n" for u in [USER, *self._spare]))
        self.port = _free_port()
        ssl_lines = "ssl = no"
        if self.cert is not None:
            self.tls_port = _free_port()
            shutil.copy(self.cert.certfile, self.dir / "cert.pem")
            shutil.copy(self.cert.keyfile, self.dir / "key.pem")
            ssl_lines = (f"ssl = yes\nssl_cert = <{self.dir}/cert.pem\nssl_key = <{self.dir}/key.pem\n"
                         f"ssl_min_protocol = TLSv1.2")
        d = self.dir
        conf = f"""
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl_lines}
disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
mail_max_userip_connections = 500
# IDLE learns of new mail from inotify at once; where the machine's inotify instances run out (a
# busy CI host), Dovecot falls back to looking every mailbox_idle_check_interval (30 s by default)
mailbox_idle_check_interval = 1 secs
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
{f"imap_capability = {self.capabilities}" if self.capabilities else ""}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
        (d / "dovecot.conf").write_text(conf)
        if self._run_as is not None:
            for path in [d, *d.rglob("*")]:
                os.chown(path, uid, gid)
        kwargs: dict[str, Any] = {}
        if self._run_as is not None:
            kwargs.update(user=uid, group=gid, extra_groups=[])
        self._proc = subprocess.Popen([self.binary, "-F", "-c", str(d / "dovecot.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"Dovecot did not start: {err.strip()} {self.log()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Dovecot did not answer on 127.0.0.1:{self.port} within 15 s: "
                           f"{self.log()[-2000:]}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log(self) -> str:
        try:
            return (self.dir / "dovecot.log").read_text(errors="replace") if self.dir else ""
        except OSError:
            return ""

    def account(self, user: str = "") -> Account:
        """A mail account on this server: ``user`` (a new one named for the caller when empty, so that
        tests sharing one server never see each other's mail)."""
        if not user:
            if not self._spare:
                raise RuntimeError(f"more than {SPARE_USERS} accounts asked of one Dovecot")
            user = self._spare.pop(0)
        elif user != USER:
            raise ValueError(f"unknown user {user!r}: ask for a new account without a name")
        self._users.append(user)
        return Account(self, user)


class Account:
    """One user's mailbox on a Dovecot: what the tests do to it, and the [mailbox] table for it."""

    def __init__(self, server: Dovecot, user: str) -> None:
        self.server = server
        self.user = user
        self.port = server.port
        self.cert = server.cert

    def config_dict(self, **extra: Any) -> dict[str, Any]:
        """The [mailbox] table for this server: STARTTLS with the test CA when there is a certificate
        (plain IMAP on 127.0.0.1 otherwise), the password from the environment variable named here."""
        table: dict[str, Any] = {
            "host": "127.0.0.1", "port": self.port, "username": self.user,
            "security": "starttls" if self.cert is not None else "none",
            "password_file": str(self.password_file()), "timeout": 10.0, "fetch_deadline": 20.0,
            "backoff": 0.05, "backoff_max": 0.5, "poll_seconds": 0.5, "address": "incidents@mydomain.example",
        }
        if self.cert is not None:
            table["cafile"] = self.cert.certfile
        table.update(extra)
        return table

    def password_file(self) -> Path:
        assert self.server.dir is not None
        path = self.server.dir / "imap-password"
        if not path.exists():
            path.write_text(PASSWORD + "\n")
        return path

    def client(self) -> IMAPClient:
        """A logged-in client for the test itself (plain on loopback: the bot's own TLS is tested apart)."""
        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        try:
            if self.cert is not None:
                c.starttls(ssl.create_default_context(cafile=self.cert.certfile))
            c.login(self.user, PASSWORD)
        except BaseException:
            c.shutdown()
            raise
        return c

    def append(self, folder: str, raw: bytes, flags: tuple[str, ...] = ()) -> int:
        """Deliver ``raw`` into ``folder`` (created when missing); its UID."""
        with self.client() as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            answer = c.append(folder, raw, flags=flags)
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        # "[APPENDUID <uidvalidity> <uid>] Append completed"
        return int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]"))

    def messages(self, folder: str) -> list[tuple[int, tuple[str, ...], bytes]]:
        """Every message in ``folder``: (uid, flags, bytes); [] when the folder does not exist."""
        with self.client() as c:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            if not uids:
                return []
            got = c.fetch(uids, ["FLAGS", "BODY.PEEK[]"])
        return [(uid, tuple(f.decode() if isinstance(f, bytes) else str(f) for f in got[uid][b"FLAGS"]),
                 got[uid][b"BODY[]"]) for uid in sorted(got)]

    def folders(self) -> list[str]:
        """The folders that can hold mail (not a \\Noselect parent such as ``incident-bot``)."""
        with self.client() as c:
            return sorted(name for flags, _, name in c.list_folders() if b"\\Noselect" not in flags)

    def uidvalidity(self, folder: str) -> int:
        with self.client() as c:
            return int(c.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def set_uidvalidity(self, folder: str, value: int) -> None:
        """What a restored backup or a rebuilt index does to a folder: every UID is new."""
        server = self.server
        assert server.dir is not None
        kwargs: dict[str, Any] = {}
        if server._run_as is not None:
            kwargs.update(user=server._run_as.pw_uid, group=server._run_as.pw_gid, extra_groups=[])
        subprocess.run([server.doveadm, "-c", str(server.dir / "dovecot.conf"), "mailbox", "update",
                        "-u", self.user, "--uid-validity", str(value), folder],
                       check=True, capture_output=True, timeout=20, **kwargs)
