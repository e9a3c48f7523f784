"""The watcher against a real Dovecot meeting what a mailbox read for months meets: poison mail,
dropped and stalled connections, a UIDVALIDITY change, servers without MOVE or IDLE."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.models import Findings
from handlers.mailbox.imap import Connection
from handlers.mailbox.ledger import Ledger
from handlers.serve import Serve
from tests.mailbox.conftest import Logs, ServeOnce, mailbox_config, make_app, sample
from tests.mailbox.proxy import Proxy, wait_for
from tests.support.dovecot import Account, Dovecot, without
from tests.support.fakes import FakeGatherer
from tests.support.smtp import Cert

DONE, QUARANTINE = "incident-bot.done", "incident-bot.quarantine"


def alert(ip: str, mid: str, lines: int = 3, filler: str = "") -> bytes:
    body = "\n".join(f"Nov 28 10:0{i}:00 fw sshd[1]: Failed password for root from {ip} port 4{i} ssh2"
                     for i in range(lines))
    return (f"From: fw@mydomain.example\nTo: incidents@mydomain.example\nSubject: alert {ip}\n"
            f"Message-ID: <{mid}@mydomain.example>\n\n{filler}{body}\n").replace("\n", "\r\n").encode()


def nested(depth: int) -> bytes:
    head = "From: x@example.net\r\nSubject: nested\r\nMessage-ID: <nested@example.net>\r\n"
    parts = "".join(f"Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\n"
                    for n in range(depth))
    return (head + parts + "Content-Type: text/plain\r\n\r\n211.191.28.99\r\n"
            + "".join(f"--b{n}--\r\n" for n in reversed(range(depth)))).encode()


def test_poison_mail_is_quarantined_with_its_reason_and_never_blocks_the_mail_behind_it(
        tmp_path: Path, imap: Account, serve_once: ServeOnce) -> None:
    imap.append("INBOX", nested(1000))
    big = alert("211.191.28.30", "big", filler="x" * 76 + "\r\n") * 1
    big = big.replace(b"\r\n\r\n", b"\r\n\r\n" + (b"y" * 998 + b"\r\n") * 30_000, 1)  # 30 MB
    assert len(big) > 30_000_000
    imap.append("INBOX", big)
    imap.append("INBOX", sample("fail2ban.eml"))
    app = make_app(mailbox_config(tmp_path, imap))
    assert serve_once(app) == 0
    assert [inc.ips for inc in app.incidents()] == [("211.191.28.13",)]
    assert len(imap.messages(QUARANTINE)) == 2 and len(imap.messages(DONE)) == 1
    reasons = [seen.detail for seen in Ledger(app.store()).quarantined()]
    assert any("nested deeper than" in r for r in reasons), reasons
    assert any("more than mailbox.max_message_mb" in r and "not read" in r for r in reasons), reasons
    [kept] = (tmp_path / "incident" / "rejected").glob("*.eml")
    assert "nested" in kept.with_suffix(".reason").read_text()


def test_a_connection_dropped_mid_fetch_is_retried_with_backoff_and_the_mail_done_once(
        tmp_path: Path, imap: Account, serve_once: ServeOnce, caplog: Logs) -> None:
    caplog.set_level(logging.INFO)
    imap.append("INBOX", alert("211.191.28.31", "cut", filler="CUT-HERE\r\n" + "z" * 200_000 + "\r\n"))
    with Proxy(imap.port) as proxy:
        proxy.cut_at(b"CUT-HERE", times=2)
        app = make_app(mailbox_config(tmp_path, imap, mailbox={"port": proxy.port, "security": "none"}))
        assert serve_once(app) == 0
        assert proxy.cuts == 2
    assert [inc.ips for inc in app.incidents()] == [("211.191.28.31",)]
    assert len(imap.messages(DONE)) == 1 and imap.messages("INBOX") == []
    text = [r.getMessage() for r in caplog.records]
    assert sum("fetch failed (try" in t for t in text) == 2 and any("reconnecting in" in t for t in text)


def test_a_mail_whose_fetch_always_breaks_or_stalls_is_quarantined_after_max_tries(
        tmp_path: Path, imap: Account, serve_once: ServeOnce) -> None:
    imap.append("INBOX", alert("211.191.28.32", "always-cut", filler="CUT-HERE\r\n" + "z" * 100_000 + "\r\n"))
    imap.append("INBOX", alert("211.191.28.33", "slow", filler="SLOW-HERE\r\n" + "z" * 100_000 + "\r\n"))
    imap.append("INBOX", alert("211.191.28.34", "fine"))
    with Proxy(imap.port) as proxy:
        proxy.cut_at(b"CUT-HERE", times=float("inf"))
        proxy.trickle_at(b"SLOW-HERE")
        app = make_app(mailbox_config(tmp_path, imap, mailbox={
            "port": proxy.port, "security": "none", "max_tries": 2, "fetch_deadline": 0.6}))
        assert serve_once(app) == 0
    assert [inc.ips for inc in app.incidents()] == [("211.191.28.34",)]
    assert len(imap.messages(QUARANTINE)) == 2
    reasons = sorted(s.detail for s in Ledger(app.store()).quarantined())
    assert "failed 2 times" in reasons[0] and "deadline passed" in " ".join(reasons)


class Exploding(FakeGatherer):
    """A lookup that fails in a way nobody planned for, for one address."""

    def gather(self, ip: str, **kw: Any) -> Findings:
        if ip == "211.191.28.35":
            raise RuntimeError("a bug in a lookup")
        return super().gather(ip, **kw)


def test_a_mail_failing_each_time_is_quarantined_with_its_bytes_kept_and_the_rest_goes_on(
        tmp_path: Path, imap: Account, serve_once: ServeOnce) -> None:
    imap.append("INBOX", alert("211.191.28.35", "bug"))
    imap.append("INBOX", alert("211.191.28.36", "fine"))
    app = make_app(mailbox_config(tmp_path, imap, mailbox={"max_tries": 2}), gatherer=Exploding())
    assert serve_once(app) == 0
    assert [inc.ips for inc in app.incidents()] == [("211.191.28.36",)]
    [seen] = Ledger(app.store()).quarantined()
    assert "failed 2 times" in seen.detail and "RuntimeError: a bug in a lookup" in seen.detail
    assert len(list((tmp_path / "incident" / "rejected").glob("*.eml"))) == 1
    assert len(imap.messages(QUARANTINE)) == 1


def test_a_uidvalidity_change_reads_nothing_twice_and_misses_nothing(
        tmp_path: Path, imap: Account, serve_once: ServeOnce, caplog: Logs) -> None:
    a, b = alert("211.191.28.37", "a"), alert("211.191.28.38", "b")
    imap.append("INBOX", a)
    imap.append("INBOX", b)
    app = make_app(mailbox_config(tmp_path, imap))
    assert serve_once(app) == 0
    assert len(app.incidents()) == 2
    # a restored backup: the processed mail is back, a new one arrived, and every UID is new
    imap.append("INBOX", a)
    imap.append("INBOX", b)
    imap.append("INBOX", alert("211.191.28.39", "c"))
    imap.set_uidvalidity("INBOX", imap.uidvalidity("INBOX") + 1000)
    caplog.set_level(logging.INFO)
    assert serve_once(app) == 0
    assert sorted(ip for inc in app.incidents() for ip in inc.ips) == ["211.191.28.37", "211.191.28.38",
                                                                       "211.191.28.39"]
    assert all(len(app.store().history(inc.id)) == 1 for inc in app.incidents()), "nothing merged again"
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "UIDVALIDITY changed" in text and text.count("duplicate:") == 2
    assert imap.messages("INBOX") == [] and len(imap.messages(DONE)) == 5


@pytest.fixture(scope="module")
def old_server(cert: Cert) -> Iterator[Dovecot]:
    """A Dovecot that offers neither MOVE nor IDLE (an older or smaller IMAP server)."""
    with Dovecot(cert=cert, capabilities=without("MOVE").replace(" IDLE", "")) as server:
        yield server


def test_without_move_it_copies_and_expunges_that_uid_only(
        tmp_path: Path, old_server: Dovecot, serve_once: ServeOnce) -> None:
    imap = old_server.account()
    deleted = imap.append("INBOX", alert("211.191.28.40", "deleted-by-a-person"), flags=("\\Deleted",))
    imap.append("INBOX", alert("211.191.28.41", "new"))
    cfg = mailbox_config(tmp_path, imap)
    app = make_app(cfg)
    assert serve_once(app) == 0
    assert [inc.ips for inc in app.incidents()] == [("211.191.28.41",)], "a message marked deleted is left"
    [(uid, flags, _)] = imap.messages("INBOX")
    assert uid == deleted and "\\Deleted" in flags, "never a bare EXPUNGE: a person's deleted mail stays"
    [(_, done_flags, _)] = imap.messages(DONE)
    assert "$IncidentBot" in done_flags


def run_in_thread(serve: Serve) -> threading.Thread:
    t = threading.Thread(target=serve.run, daemon=True)
    t.start()
    return t


def test_without_idle_it_polls(tmp_path: Path, old_server: Dovecot) -> None:
    imap = old_server.account()
    app = make_app(mailbox_config(tmp_path, imap, mailbox={"poll_seconds": 0.2}))
    serve = Serve(app.cfg, app=app)
    t = run_in_thread(serve)
    try:
        imap.append("INBOX", alert("211.191.28.42", "polled"))
        assert wait_for(lambda: app.incidents(), timeout=10)
    finally:
        serve.stop.set()
        t.join(5)
    assert not t.is_alive()


def test_with_idle_new_mail_is_drafted_at_once_and_idle_is_renewed(
        tmp_path: Path, imap: Account, caplog: Logs) -> None:
    caplog.set_level(logging.DEBUG, "incident.mailbox")
    app = make_app(mailbox_config(tmp_path, imap, mailbox={"poll_seconds": 60, "idle_renew_seconds": 0.3}))
    serve = Serve(app.cfg, app=app)
    t = run_in_thread(serve)
    try:
        assert wait_for(lambda: "incident-bot.done" in imap.folders())
        assert wait_for(lambda: sum("IDLE renewed" in r.getMessage() for r in caplog.records) >= 2, timeout=5)
        imap.append("INBOX", alert("211.191.28.43", "idle"))
        assert wait_for(lambda: app.incidents(), timeout=2.0), "IDLE, not the 60 s poll, brought it"
    finally:
        serve.stop.set()
        t.join(5)
    assert not t.is_alive()


def test_a_refused_login_ends_serve_once_with_a_message(
        tmp_path: Path, imap: Account, serve_once: ServeOnce, caplog: Logs) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    app = make_app(mailbox_config(tmp_path, imap, mailbox={"password_file": str(wrong)}))
    assert serve_once(app) == 3
    logged = [r.getMessage() for r in caplog.records]
    assert any("login refused" in t and "mailbox.username" in t for t in logged)


def test_a_store_failure_is_not_the_mails_fault(tmp_path: Path, imap: Account,
                                                 serve_once: ServeOnce) -> None:
    imap.append("INBOX", alert("211.191.28.44", "store"))
    gatherer = FakeGatherer()
    app = make_app(mailbox_config(tmp_path, imap, mailbox={"max_tries": 1}), gatherer=gatherer)
    calls = {"n": 0}
    real = app.store().create_draft

    def flaky(*a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            from bot.errors import StoreError
            raise StoreError("disk full")
        return real(*a, **kw)

    app.store().create_draft = flaky  # type: ignore[method-assign]
    assert serve_once(app) == 0
    assert [inc.ips for inc in app.incidents()] == [("211.191.28.44",)], "tried again, not quarantined"
    assert Ledger(app.store()).quarantined() == []



class Holding(FakeGatherer):
    """Holds the first lookup until told: mail can arrive while a message is being processed."""

    def __init__(self) -> None:
        super().__init__()
        self.busy, self.go = threading.Event(), threading.Event()

    def gather(self, ip: str, **kw: Any) -> Findings:
        if not self.busy.is_set():
            self.busy.set()
            self.go.wait(10)
        return super().gather(ip, **kw)


def test_mail_arriving_while_another_is_processed_is_not_left_until_idle_is_renewed(
        tmp_path: Path, imap: Account) -> None:
    gatherer = Holding()
    app = make_app(mailbox_config(tmp_path, imap, mailbox={"poll_seconds": 600}), gatherer=gatherer)
    serve = Serve(app.cfg, app=app)
    t = run_in_thread(serve)
    try:
        imap.append("INBOX", alert("211.191.28.45", "first"))
        assert gatherer.busy.wait(10)
        imap.append("INBOX", alert("211.191.28.46", "second"))  # its EXISTS comes in a command's answer
        gatherer.go.set()
        assert wait_for(lambda: len(app.incidents()) == 2, timeout=3.0), "not after the 540 s IDLE renewal"
    finally:
        gatherer.go.set()
        serve.stop.set()
        t.join(5)


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_mail_that_came_between_the_last_command_and_idle_ends_the_wait_at_once(
        tmp_path: Path, imap: Account, security: str) -> None:
    # Dovecot tells of it right behind "+ idling", in the same packet: the client has read it
    # already when it starts to wait, and a poll of the socket sees nothing more
    cfg = mailbox_config(tmp_path, imap, mailbox={"security": security}).mailbox
    stop = threading.Event()
    with Connection.open(cfg) as conn:
        conn.select("INBOX")
        assert conn.uids() == []
        conn.wait(stop, 0.1)      # (SELECT's own EXISTS ends the first wait)
        assert conn.uids() == []
        imap.append("INBOX", alert("211.191.28.47", "between"))
        time.sleep(0.3)
        started = time.monotonic()
        conn.wait(stop, 20)
        assert time.monotonic() - started < 3, "it waited for the IDLE renewal"
        conn.noop()
        assert conn.uids() == [1]
