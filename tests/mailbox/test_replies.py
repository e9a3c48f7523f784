"""Replies to sent reports, read from a real Dovecot, are filed with their incident and classified.

The report is drafted from the fail2ban sample through the mailbox and sent through the core to the
local SMTP server; the replies (tests/data/mail/mailbox) then arrive in the same mailbox.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.app import App
from bot.lifecycle import Actor
from bot.models import Findings, RegistryEntity, State
from bot.store import followups
from tests.mailbox.conftest import ServeOnce, mailbox_config, make_app, sample
from tests.support.dovecot import Account
from tests.support.fakes import FakeGatherer
from tests.support.smtp import SmtpServer

DONE, UNMATCHED = "incident-bot.done", "incident-bot.unmatched"
PERSON = Actor.cli("tester")


def two_contacts(found: Findings) -> Findings:
    """Shinbiro's abuse team, and an administrative contact: the next one after a bounce."""
    assert found.network is not None
    admin = RegistryEntity("IA1-KR", "Shinbiro NOC", "individual", ("administrative",),
                           ("noc@shinbiro.example",))
    net = dataclasses.replace(found.network, entities=(*found.network.entities, admin))
    return dataclasses.replace(found, network=net)


@pytest.fixture
def sent(tmp_path: Path, imap: Account, smtp: SmtpServer,
         serve_once: ServeOnce) -> tuple[App, str, str, str]:
    """(app, incident id, its report's Message-ID, its subject): drafted from a mailed alert, sent."""
    app = make_app(mailbox_config(tmp_path, imap, smtp), smtp, FakeGatherer(tweak=two_contacts))
    imap.append("INBOX", sample("fail2ban.eml"))
    assert serve_once(app) == 0
    [inc] = app.incidents()
    out = app.send(inc.id, PERSON)
    assert out.status == "sent"
    inc = app.store().get(inc.id)
    assert inc.recipients == ("abuse@shinbiro.example",)
    smtp.messages.clear()
    return app, inc.id, inc.message_ids[0], inc.subject


def test_a_reply_matched_by_references_is_filed_and_the_incident_answered(
        sent: tuple[App, str, str, str], imap: Account, smtp: SmtpServer, serve_once: ServeOnce) -> None:
    app, inc_id, mid, _ = sent
    raw = sample("reply-references.eml", message_id=mid)
    imap.append("INBOX", raw)
    assert serve_once(app) == 0
    assert app.store().get(inc_id).state is State.ANSWERED
    [reply] = followups.replies(app.store(), inc_id)
    assert reply.kind == "human" and "abuse@shinbiro.example" in reply.sender
    assert Path(reply.path).parent == Path(app.store().get(inc_id).folder), "next to the report"
    assert len(app.incidents()) == 1, "its quoted log line is not read as a new alert"
    assert len(imap.messages(DONE)) == 2 and imap.messages("INBOX") == []
    assert smtp.messages == [], "nobody is mailed: no operator configured, and a reply is never answered"


def test_a_reply_matched_only_by_the_subject_token(
        sent: tuple[App, str, str, str], imap: Account, serve_once: ServeOnce) -> None:
    app, inc_id, _, _ = sent
    imap.append("INBOX", sample("reply-token.eml", incident=inc_id))
    assert serve_once(app) == 0
    assert app.store().get(inc_id).state is State.ANSWERED
    assert [r.kind for r in followups.replies(app.store(), inc_id)] == ["human"]


def test_an_acknowledgement_teaches_the_ticket_number_that_later_mail_is_matched_by(
        sent: tuple[App, str, str, str], imap: Account, smtp: SmtpServer, serve_once: ServeOnce) -> None:
    app, inc_id, mid, subject = sent
    imap.append("INBOX", sample("ack-ticket.eml", message_id=mid, subject=subject))
    assert serve_once(app) == 0
    inc = app.store().get(inc_id)
    assert inc.state is State.SENT, "an automatic acknowledgement is not an answer"
    [ack] = followups.replies(app.store(), inc_id)
    assert (ack.kind, ack.ticket) == ("auto_ack", "ticket #2026112812345")
    imap.append("INBOX", sample("ticket-only.eml"))
    assert serve_once(app) == 0
    replies = followups.replies(app.store(), inc_id)
    assert [(r.kind, r.ticket) for r in replies] == [("auto_ack", "ticket #2026112812345"),
                                                     ("human", "ticket #2026112812345")]
    assert app.store().get(inc_id).state is State.ANSWERED
    assert smtp.messages == [], "the acknowledgement is never answered"


@pytest.mark.parametrize("name", ["dsn-bounce.eml", "mta-bounce.eml"])
def test_a_bounce_marks_its_recipient_failed_and_proposes_the_next_contact_for_a_person(
        name: str, sent: tuple[App, str, str, str], imap: Account, smtp: SmtpServer,
        serve_once: ServeOnce) -> None:
    app, inc_id, mid, subject = sent
    imap.append("INBOX", sample(name, message_id=mid, subject=subject, recipient="abuse@shinbiro.example"))
    assert serve_once(app) == 0
    inc = app.store().get(inc_id)
    assert inc.state is State.SENT, "a bounce is not an answer"
    assert inc.delivery["abuse@shinbiro.example"].startswith("failed: bounced")
    assert [r.kind for r in followups.replies(app.store(), inc_id)] == ["bounce"]
    drafts = app.incidents(states=[State.DRAFT])
    assert len(drafts) == 1, "the report again, to the next contact"
    assert drafts[0].recipients == ("noc@shinbiro.example",) and drafts[0].ips == inc.ips
    assert smtp.messages == [], "nothing is sent by itself, and the bounce is never answered"
    imap.append("INBOX", sample(name, message_id=mid, subject=subject, recipient="abuse@shinbiro.example")
                .replace(b"Message-ID: <", b"Message-ID: <again-"))
    assert serve_once(app) == 0
    assert len(app.incidents(states=[State.DRAFT])) == 1, "a second bounce proposes the same contact once"


def test_an_auto_reply_is_filed_never_answered_and_leaves_the_incident_unanswered(
        sent: tuple[App, str, str, str], imap: Account, smtp: SmtpServer, serve_once: ServeOnce) -> None:
    app, inc_id, mid, subject = sent
    imap.append("INBOX", sample("auto-reply.eml", message_id=mid, subject=subject))
    assert serve_once(app) == 0
    assert app.store().get(inc_id).state is State.SENT
    assert [r.kind for r in followups.replies(app.store(), inc_id)] == ["auto_ack"]
    assert smtp.messages == []


def test_an_unclaimed_mail_in_a_reply_folder_is_kept_not_read_as_an_alert(
        tmp_path: Path, imap: Account, serve_once: ServeOnce) -> None:
    imap.append("Replies", sample("fail2ban.eml"))
    app = make_app(mailbox_config(tmp_path, imap, mailbox={"folders": [], "reply_folders": ["Replies"]}))
    assert serve_once(app) == 0
    assert app.incidents() == []
    assert len(followups.unmatched(app.store())) == 1
    assert len(imap.messages(UNMATCHED)) == 1 and imap.messages("Replies") == []


def test_a_bounce_filed_by_a_run_that_died_before_its_proposal_gets_it_at_the_next_run(
        sent: tuple[App, str, str, str], imap: Account, serve_once: ServeOnce) -> None:
    app, inc_id, mid, subject = sent
    raw = sample("dsn-bounce.eml", message_id=mid, subject=subject, recipient="abuse@shinbiro.example")
    followups.file_reply(app.store(), inc_id, raw, actor=PERSON, kind="bounce")  # then the process died
    imap.append("INBOX", raw)
    assert serve_once(app) == 0
    assert len(followups.replies(app.store(), inc_id)) == 1, "filed once"
    assert app.store().get(inc_id).delivery["abuse@shinbiro.example"].startswith("failed: bounced")
    [draft] = app.incidents(states=[State.DRAFT])
    assert draft.recipients == ("noc@shinbiro.example",)
