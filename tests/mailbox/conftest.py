"""Fixtures of the mailbox tests: a real Dovecot per test, the sample mails, an App on them.

The App is the real one with the fake gatherer (tests/support/fakes.py): every address in
211.191.0.0/16 is Shinbiro's (abuse@shinbiro.example), 45.33.32.x another network's. The sample
mails are in tests/data/mail/mailbox (README there: where each format comes from).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Config, from_dict
from bot.mail.outbox import Outbox
from handlers.serve import Serve
from tests.support.dovecot import Account, Dovecot
from tests.support.fakes import FakeGatherer
from tests.support.smtp import Cert, SmtpServer

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail" / "mailbox"
ServeOnce = Callable[[App], int]
Logs = pytest.LogCaptureFixture


def sample(name: str, **values: str) -> bytes:
    """A sample mail with ``$name`` placeholders filled in, with CRLF line ends as IMAP wants them."""
    text = (MAIL / name).read_text(encoding="utf-8")
    if values:
        text = string.Template(text).substitute(values)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


@pytest.fixture(scope="session")
def dovecot(cert: Cert) -> Iterator[Dovecot]:
    """A real Dovecot on 127.0.0.1 (STARTTLS with the test CA), shared by the session."""
    with Dovecot(cert=cert) as server:
        yield server


@pytest.fixture
def imap(dovecot: Dovecot) -> Account:
    """A fresh account on the shared Dovecot: each test sees only its own mail."""
    return dovecot.account()


def mailbox_config(tmp_path: Path, imap: Account, smtp: SmtpServer | None = None, *,
                   mailbox: dict[str, Any] | None = None, serve: dict[str, Any] | None = None,
                   **sections: Any) -> Config:
    data: dict[str, Any] = {
        "report": {"incident_dir": str(tmp_path / "incident"), "reporter_email": "security@mydomain.example"},
        "mailbox": imap.config_dict(**(mailbox or {})),
        "serve": {"reminder_days": 0, "retry_failed_minutes": 0, **(serve or {})},
        **sections,
    }
    if smtp is not None:
        data["smtp"] = smtp.config_dict()
    return from_dict(data)


def make_app(cfg: Config, smtp: SmtpServer | None = None, gatherer: Any = None) -> App:
    outbox = smtp.track(Outbox(cfg.smtp, sleep=lambda s: None)) if smtp is not None else None
    return App(cfg, gatherer=gatherer or FakeGatherer(), outbox=outbox)


@pytest.fixture
def serve_once() -> Callable[[App], int]:
    """Run ``incident serve --once`` on an App: every folder read until empty, each job once."""
    def run(app: App) -> int:
        return Serve(app.cfg, app=app).run(once=True)
    return run
