"""Who is told: a short notice mailed to the operators (without Slack), the optional approval by
mail with the per-draft secret, and the Slack front end's notifier when [slack] is configured."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.flow import Outcome
from bot.models import State
from bot.notify import Notifier
from handlers.serve import Serve
from tests.mailbox.conftest import ServeOnce, mailbox_config, make_app, sample
from tests.support.dovecot import Account
from tests.support.smtp import SmtpServer

OPS = "ops@mydomain.example"
Approval = tuple[App, str, EmailMessage]


def notices(smtp: SmtpServer) -> list[EmailMessage]:
    return [m.message for m in smtp.messages if OPS in m.rcpt_tos]


def answer(notice: EmailMessage, first_line: str, sender: str = OPS) -> bytes:
    """An operator's answer to a notice, quoting it below their first line."""
    quoted = "\n".join(f"> {ln}" for ln in notice.get_content().splitlines())
    return (f"From: Op <{sender}>\nTo: incidents@mydomain.example\nSubject: Re: {notice['Subject']}\n"
            f"Message-ID: <answer-{abs(hash(first_line + sender))}@mydomain.example>\n"
            f"In-Reply-To: {notice['Message-ID']}\n\n{first_line}\n\nOn Sat, the bot wrote:\n{quoted}\n"
            ).replace("\n", "\r\n").encode()


def test_a_new_draft_is_told_to_the_operators_with_how_to_act(
        tmp_path: Path, imap: Account, smtp: SmtpServer, serve_once: ServeOnce) -> None:
    imap.append("INBOX", sample("fail2ban.eml"))
    app = make_app(mailbox_config(tmp_path, imap, smtp, serve={"operators": [OPS]}), smtp)
    assert serve_once(app) == 0
    [inc] = app.incidents()
    [notice] = notices(smtp)
    body = notice.get_content()
    assert "211.191.28.13" in notice["Subject"] and inc.id not in notice["Subject"], \
        "no incident token in the subject: an operator's answer is never taken for the desk's"
    assert notice["Auto-Submitted"] == "auto-generated"
    for wanted in (inc.id, "SHINBIRO-KR", "abuse@shinbiro.example (chosen)",
                   "Failed password for root from 211.191.28.13", f"incident send {inc.id}",
                   f"incident skip {inc.id}"):
        assert wanted in body, wanted
    assert "approval code" not in body, "mail approval is off by default"
    # delivered to the very mailbox the bot reads: not an alert, nothing merged
    imap.append("INBOX", smtp.messages[0].data)
    assert serve_once(app) == 0
    assert len(app.store().history(inc.id)) == 1 and len(notices(smtp)) == 1


@pytest.fixture
def approval(tmp_path: Path, imap: Account, smtp: SmtpServer, serve_once: ServeOnce) -> Approval:
    """(app, draft id, the notice mailed for it), with mail approval on."""
    imap.append("INBOX", sample("fail2ban.eml"))
    cfg = mailbox_config(tmp_path, imap, smtp, serve={"operators": [OPS], "mail_approval": True})
    app = make_app(cfg, smtp)
    assert serve_once(app) == 0
    [inc] = app.incidents()
    [notice] = notices(smtp)
    assert re.search(r"approval code: ib-[0-9a-f]{32}", notice.get_content())
    smtp.messages.clear()
    return app, inc.id, notice


def test_an_operator_answering_send_with_the_code_sends_the_draft(
        approval: Approval, imap: Account, smtp: SmtpServer, serve_once: ServeOnce) -> None:
    app, inc_id, notice = approval
    imap.append("INBOX", answer(notice, "Send"))
    assert serve_once(app) == 0
    assert app.store().get(inc_id).state is State.SENT
    assert [e.actor for e in app.store().history(inc_id) if e.action == "send"] == [f"mail:{OPS}"]
    assert len([m for m in smtp.messages if "abuse@shinbiro.example" in m.rcpt_tos]) == 1
    [told] = notices(smtp)
    assert f"{inc_id}: sent" in told.get_content() and told["In-Reply-To"]
    imap.append("INBOX", answer(notice, "send it again"))
    assert serve_once(app) == 0
    assert "already sent by mail:ops@mydomain.example" in notices(smtp)[-1].get_content()
    assert len([m for m in smtp.messages if "abuse@shinbiro.example" in m.rcpt_tos]) == 1


@pytest.mark.parametrize("first_line, sender, tamper", [
    ("send", "mallory@evil.example", False),      # the right code from someone else: From is not enough
    ("send", OPS, True),                          # an operator, without the right code
    ("please send it", OPS, False),               # not the first word
])
def test_anything_else_changes_nothing_and_is_kept_as_ordinary_mail(
        first_line: str, sender: str, tamper: bool, approval: Approval, imap: Account,
        smtp: SmtpServer, serve_once: ServeOnce) -> None:
    app, inc_id, notice = approval
    raw = answer(notice, first_line, sender)
    if tamper:
        raw = re.sub(rb"ib-[0-9a-f]{32}", b"ib-" + b"0" * 32, raw)
    imap.append("INBOX", raw)
    assert serve_once(app) == 0
    assert app.store().get(inc_id).state is State.DRAFT
    assert [m for m in smtp.messages if "abuse@shinbiro.example" in m.rcpt_tos] == []
    assert len(list((app.store().root / "unmatched").glob("*.eml"))) == 1
    assert len(app.store().history(inc_id)) == 1, "its quoted log lines added nothing to the draft"


def test_skip_by_mail(approval: Approval, imap: Account, serve_once: ServeOnce) -> None:
    app, inc_id, notice = approval
    imap.append("INBOX", answer(notice, "skip: a customer's pen test"))
    assert serve_once(app) == 0
    inc = app.store().get(inc_id)
    assert inc.state is State.SKIPPED
    assert app.store().history(inc_id)[-1].actor == f"mail:{OPS}"


class FakeFront:
    """The shape of the Slack front end (handlers.slack): start(), stop(), .notifier."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.told: list[Any] = []
        self.started = self.stopped = False
        front = self

        class Told:
            def draft_ready(self, outcome: Outcome) -> None:
                front.told.append(("draft", outcome.incident_id))

            def reply_filed(self, incident: Any, kind: str, sender: str, ticket: str, preview: str,
                            proposed: Outcome | None = None) -> None:
                front.told.append(("reply", incident.id, kind))

            def remind(self, incidents: Any) -> None:
                front.told.append(("remind", [i.id for i in incidents]))

        self.notifier: Notifier = Told()

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


def test_with_slack_the_slack_front_ends_notifier_is_told_and_no_mail_goes_out(
        tmp_path: Path, imap: Account, smtp: SmtpServer) -> None:
    imap.append("INBOX", sample("fail2ban.eml"))
    app = make_app(mailbox_config(tmp_path, imap, smtp, serve={"operators": [OPS]}), smtp)
    fronts: list[FakeFront] = []

    def build(a: App) -> FakeFront:
        fronts.append(FakeFront(a))
        return fronts[-1]

    assert Serve(app.cfg, app=app, slack=build).run(once=True) == 0
    [inc] = app.incidents()
    assert fronts[0].told == [("draft", inc.id)]
    assert smtp.messages == []


def test_with_slack_enabled_serve_runs_the_slack_front_end_and_posts_the_draft_there(
        tmp_path: Path, imap: Account, smtp: SmtpServer) -> None:
    from tests.support.slack_api import BOT_TOKEN, SIGNING_SECRET, SlackApi

    (tmp_path / "bot-token").write_text(BOT_TOKEN + "\n")
    (tmp_path / "signing").write_text(SIGNING_SECRET + "\n")
    imap.append("INBOX", sample("fail2ban.eml"))
    with SlackApi() as api:
        cfg = mailbox_config(tmp_path, imap, smtp, serve={"operators": [OPS]}, slack={
            "enabled": True, "mode": "http", "channel": "C0DRAFTS", "http_port": 0, "api_url": api.base_url,
            "bot_token_file": str(tmp_path / "bot-token"), "signing_secret_file": str(tmp_path / "signing")})
        app = make_app(cfg, smtp)
        assert Serve(cfg, app=app).run(once=True) == 0
        [inc] = app.incidents()
        posts = api.calls_to("chat.postMessage")
    assert any(p.get("channel") == "C0DRAFTS" and inc.id in json.dumps(p) for p in posts), posts
    assert notices(smtp) == [], "Slack is told, not the operators' mailboxes"
