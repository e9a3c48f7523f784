"""Sending against a real SMTP server (aiosmtpd on 127.0.0.1): TLS modes, AUTH, retries, refusals."""

from __future__ import annotations

import dataclasses
import smtplib
import socket
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.config import SmtpConfig, from_dict
from bot.errors import SendError
from bot.mail.outbox import Outbox, SendResult, UncertainDelivery
from tests.support.smtp import Cert, SmtpServer


def _msg(subject: str = "[INC-20260908-0001] test") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "security@mydomain.example"
    msg["To"] = "abuse@example.net"
    msg["Subject"] = subject
    msg.set_content("body\n")
    return msg


def _cfg(srv: SmtpServer, tmp_path: Path, **extra: object) -> SmtpConfig:
    table = srv.config_dict(**extra)
    if srv.users:
        pw = tmp_path / "pw"
        pw.write_text("s3cret\n")
        table.update(username="bot", password_file=str(pw))
    return from_dict({"smtp": table}).smtp


def test_starttls_with_auth_delivers(smtp: SmtpServer, tmp_path: Path) -> None:
    out = smtp.track(Outbox(_cfg(smtp, tmp_path)))
    res = out.send(_msg(), "security@mydomain.example", ["abuse@example.net", "noc@example.net"])
    assert res.accepted == ("abuse@example.net", "noc@example.net") and not res.failed
    assert len(smtp.messages) == 1
    got = smtp.messages[0]
    assert got.rcpt_tos == ("abuse@example.net", "noc@example.net")
    assert got.message["Subject"] == "[INC-20260908-0001] test"


def test_implicit_tls(cert: Cert, tmp_path: Path) -> None:
    with SmtpServer(security="tls", users={"bot": "s3cret"}, cert=cert) as srv:
        out = srv.track(Outbox(_cfg(srv, tmp_path)))
        res = out.send(_msg(), "security@mydomain.example", ["abuse@example.net"])
        assert res.accepted == ("abuse@example.net",)
        assert len(srv.messages) == 1


def test_untrusted_certificate_is_refused_without_sending(smtp: SmtpServer, tmp_path: Path) -> None:
    cfg = _cfg(smtp, tmp_path, cafile="")
    with pytest.raises(SendError) as err:
        smtp.track(Outbox(cfg, sleep=lambda s: None)).send(_msg(), "security@mydomain.example",
                                                                     ["abuse@example.net"])
    assert err.value.permanent
    assert smtp.messages == []


def test_wrong_password_is_a_permanent_error(smtp: SmtpServer, tmp_path: Path) -> None:
    pw = tmp_path / "bad"
    pw.write_text("wrong")
    cfg = from_dict({"smtp": smtp.config_dict(username="bot", password_file=str(pw))}).smtp
    sleeps: list[float] = []
    with pytest.raises(SendError, match="login refused") as err:
        smtp.track(Outbox(cfg, sleep=sleeps.append)).send(_msg(), "security@mydomain.example",
                                                                   ["abuse@example.net"])
    assert err.value.permanent
    assert sleeps == []  # not retried: a wrong password stays wrong
    assert smtp.auth_attempts >= 1 and smtp.messages == []


def test_5xx_recipient_is_marked_failed_others_get_it(smtp: SmtpServer, tmp_path: Path) -> None:
    smtp.reject("gone@example.net", 550, "5.1.1 no such user")
    res = smtp.track(Outbox(_cfg(smtp, tmp_path))).send(
        _msg(), "security@mydomain.example", ["gone@example.net", "abuse@example.net"])
    assert res.accepted == ("abuse@example.net",)
    assert res.failed["gone@example.net"].startswith("550")
    assert [m.rcpt_tos for m in smtp.messages] == [("abuse@example.net",)]


def test_4xx_is_retried_with_backoff_then_delivered(smtp: SmtpServer, tmp_path: Path) -> None:
    smtp.temporary_failures(2)
    sleeps: list[float] = []
    cfg = _cfg(smtp, tmp_path, retries=3, retry_delay=0.5)
    res = smtp.track(Outbox(cfg, sleep=sleeps.append)).send(_msg(), "security@mydomain.example",
                                                                   ["abuse@example.net"])
    assert res.accepted == ("abuse@example.net",) and res.attempts == 3
    assert sleeps == [0.5, 1.0]
    assert len(smtp.messages) == 1


def test_4xx_recipient_retried_then_given_up(smtp: SmtpServer, tmp_path: Path) -> None:
    smtp.reject("busy@example.net", 450, "4.2.1 mailbox busy")
    cfg = _cfg(smtp, tmp_path, retries=2)
    res = smtp.track(Outbox(cfg, sleep=lambda s: None)).send(
        _msg(), "security@mydomain.example", ["abuse@example.net", "busy@example.net"])
    assert res.accepted == ("abuse@example.net",)
    assert "gave up after 3 attempts" in res.failed["busy@example.net"]
    assert len(smtp.messages) == 1  # the accepted recipient got exactly one copy


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    cfg = from_dict({"smtp": {"host": "127.0.0.1", "port": port, "security": "none", "retries": 2,
                              "retry_delay": 0.01, "from_address": "a@mydomain.example"}}).smtp
    sleeps: list[float] = []
    with pytest.raises(SendError, match="connection refused") as err:
        Outbox(cfg, sleep=sleeps.append).send(_msg(), "a@mydomain.example", ["abuse@example.net"])
    assert not err.value.permanent
    assert sleeps == [0.01, 0.02]


class _DroppingConnection:
    """Stands in for smtplib.SMTP whose line drops after the message was handed over."""

    def __init__(self, counter: list[int]) -> None:
        counter.append(1)

    def send_message(self, *args: object, **kwargs: object) -> dict[str, tuple[int, bytes]]:
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    def quit(self) -> None:
        raise smtplib.SMTPServerDisconnected("gone")

    def close(self) -> None:
        pass


def test_connection_lost_mid_transaction_is_not_retried() -> None:
    cfg = from_dict({"smtp": {"host": "127.0.0.1", "retries": 3}}).smtp
    connects: list[int] = []
    out = Outbox(cfg, connect=lambda: _DroppingConnection(connects), sleep=lambda s: None)  # type: ignore
    with pytest.raises(UncertainDelivery, match="may or may not have been delivered"):
        out.send(_msg(), "a@mydomain.example", ["abuse@example.net"])
    assert connects == [1]  # exactly one attempt: a retry could deliver a second copy


def test_one_connection_serves_several_messages_and_is_replaced_when_dead(
        smtp: SmtpServer, tmp_path: Path) -> None:
    with Outbox(_cfg(smtp, tmp_path)) as out:
        for n in range(3):
            out.send(_msg(f"[INC-20260908-000{n + 1}] x"), "security@mydomain.example", ["abuse@example.net"])
        assert smtp.auth_attempts == 1  # logged in once for three messages
        (idle,) = out._idle
        idle.close()  # the line died while idle
        res = out.send(_msg(), "security@mydomain.example", ["abuse@example.net"])
    assert res.accepted == ("abuse@example.net",) and smtp.auth_attempts == 2
    assert len(smtp.messages) == 4


def test_plain_connection_to_a_starttls_server_is_a_permanent_config_error(
        smtp: SmtpServer, tmp_path: Path) -> None:
    sleeps: list[float] = []
    cfg = _cfg(smtp, tmp_path, security="none")
    with pytest.raises(SendError, match=r"smtp\.security") as err:
        Outbox(cfg, sleep=sleeps.append).send(_msg(), "security@mydomain.example", ["abuse@example.net"])
    assert err.value.permanent and sleeps == [] and smtp.messages == []


class _ScriptedConnection:
    """Stands in for smtplib.SMTP: each connection plays the next answer of a script."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def noop(self) -> tuple[int, bytes]:
        return (250, b"ok")

    def send_message(self, *args: object, **kwargs: object) -> object:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    def quit(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("later", [
    smtplib.SMTPDataError(554, b"5.7.1 message refused"),
    smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"),
])
def test_a_permanent_failure_after_some_recipients_got_it_keeps_what_was_delivered(later: Exception) -> None:
    # first transaction: A accepted, B "try later"; the retry for B then fails for good
    script = [{"busy@example.net": (450, b"4.2.1 busy")}, later]
    cfg = from_dict({"smtp": {"host": "127.0.0.1", "retries": 2}}).smtp

    def connect() -> smtplib.SMTP:
        if isinstance(script[0], smtplib.SMTPAuthenticationError) and len(script) == 1:
            raise script.pop(0)  # type: ignore[misc]
        return _ScriptedConnection(script.pop(0))  # type: ignore[return-value]

    res = Outbox(cfg, connect=connect, sleep=lambda s: None).send(
        _msg(), "a@mydomain.example", ["abuse@example.net", "busy@example.net"])
    # A has the mail: the outcome must say so (else the incident is "failed" and may be sent to A again)
    assert res.accepted == ("abuse@example.net",)
    assert "5" in res.failed["busy@example.net"] and not script


def test_a_retry_wait_does_not_hold_up_another_threads_message(
        smtp: SmtpServer, tmp_path: Path) -> None:
    # A's first DATA gets a 4xx; while A waits for its retry, B's message must go out at once
    smtp.temporary_failures(1)
    waiting, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        waiting.set()
        assert release.wait(30), "the test never released the retry wait"

    out = smtp.track(Outbox(_cfg(smtp, tmp_path, retries=2), sleep=sleep))
    results: dict[str, object] = {}
    a = threading.Thread(target=lambda: results.update(
        a=out.send(_msg("[INC-20260908-0001] a"), "security@mydomain.example", ["abuse@example.net"])))
    a.start()
    try:
        assert waiting.wait(30), "A never reached its retry wait"
        b = threading.Thread(target=lambda: results.update(
            b=out.send(_msg("[INC-20260908-0002] b"), "security@mydomain.example", ["noc@example.net"])))
        b.start()
        b.join(10)
        assert not b.is_alive(), "B waited for A's retry delay: the outbox slept holding its lock"
        assert [m.message["Subject"] for m in smtp.messages] == ["[INC-20260908-0002] b"]
    finally:
        release.set()
        a.join(30)
    res_a, res_b = results["a"], results["b"]
    assert isinstance(res_a, SendResult) and res_a.accepted == ("abuse@example.net",) and res_a.attempts == 2
    assert isinstance(res_b, SendResult) and res_b.accepted == ("noc@example.net",) and res_b.attempts == 1
    assert sorted(m.message["Subject"] for m in smtp.messages) == [
        "[INC-20260908-0001] a", "[INC-20260908-0002] b"]


def test_concurrent_sends_use_several_connections_at_most_as_configured(smtp: SmtpServer,
                                                                        tmp_path: Path) -> None:
    cfg = dataclasses.replace(_cfg(smtp, tmp_path), connections=3)
    with Outbox(cfg) as out:
        start = threading.Barrier(8)

        def one(n: int) -> None:
            start.wait()
            out.send(_msg(f"[INC-20260908-{n:04d}] x"), "security@mydomain.example", ["abuse@example.net"])

        threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 1 <= len(out._idle) <= 3 and smtp.auth_attempts == len(out._idle)
    assert len(smtp.messages) == 8
