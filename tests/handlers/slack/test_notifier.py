"""The Notifier the mailbox side calls: drafts posted and linked, replies in the draft's thread, a
bounce's next contact offered with a Send button, reminders."""

from __future__ import annotations

from bot.flow import DraftOptions, Intake
from bot.lifecycle import MAILBOX
from bot.models import Origin
from bot.notify import Notifier
from handlers.slack import ids
from tests.handlers.slack.helpers import CHANNEL, Harness, action_ids, texts
from tests.support.smtp import SmtpServer

ALERT = "Apr 14 23:11:08 fw snort[1]: SCAN: 211.191.28.13:1000 -> 192.0.2.1:8080"


def _mail_draft(slack: Harness, text: str = ALERT, ref: str = "<a1@alerts>") -> str:
    run = slack.app.draft(Intake.from_text(text, Origin("mail", ref)), MAILBOX, DraftOptions())
    notifier: Notifier = slack.front.notifier
    notifier.draft_ready(run.outcomes[0])
    return run.outcomes[0].incident_id


def test_a_mailbox_draft_is_posted_and_more_evidence_updates_it_in_place(slack: Harness) -> None:
    inc = _mail_draft(slack)
    [post] = slack.api.calls_to("chat.postMessage")
    assert post["channel"] == CHANNEL and inc in texts(post["blocks"])
    ts = slack.message_ts(inc)
    again = _mail_draft(slack, ALERT.replace("23:11:08", "23:15:00"), "<a2@alerts>")
    assert again == inc
    assert len(slack.api.calls_to("chat.postMessage")) == 1
    update = slack.api.calls_to("chat.update")[-1]
    assert update["ts"] == ts and "*Lines:* 2" in texts(update["blocks"])


def test_a_reply_goes_in_the_thread_and_a_bounce_offers_the_next_contact(
    slack: Harness, smtp: SmtpServer
) -> None:
    inc = _mail_draft(slack)
    slack.click(ids.ACTION_SEND, inc)
    slack.idle()
    view = slack.app.show(inc)
    slack.front.notifier.reply_filed(
        view.incident,
        "auto_ack",
        "abuse@shinbiro.example",
        "2026112812345",
        "Thank you, your ticket has been opened",
    )
    ack = slack.api.calls_to("chat.postMessage")[-1]
    assert ack["thread_ts"] == slack.message_ts(inc)
    assert "Auto-acknowledgement" in texts(ack["blocks"]) and "ticket 2026112812345" in texts(ack["blocks"])
    # the next contact, drafted by the mailbox side after a bounce
    nxt = slack.app.draft(
        Intake.from_text(ALERT, Origin("mail", "<bounce@x>")), MAILBOX, DraftOptions(force=True)
    )
    proposed = nxt.outcomes[0]
    slack.app.edit(proposed.incident_id, MAILBOX, recipients=["noc@shinbiro.example"])
    slack.front.notifier.reply_filed(
        view.incident, "bounce", "MAILER-DAEMON@shinbiro.example", "", "550 no such user", proposed
    )
    bounce = slack.api.calls_to("chat.postMessage")[-1]
    assert bounce["thread_ts"] == slack.message_ts(inc)
    assert "Bounce" in texts(bounce["blocks"]) and "noc@shinbiro.example" in texts(bounce["blocks"])
    assert action_ids(bounce["blocks"]) == {ids.ACTION_SEND, ids.ACTION_SKIP}
    slack.click(ids.ACTION_SEND, proposed.incident_id)
    slack.idle()
    assert [m.rcpt_tos for m in smtp.messages][-1] == ("noc@shinbiro.example",)


def test_reminders_list_the_incidents(slack: Harness) -> None:
    inc = _mail_draft(slack)
    slack.click(ids.ACTION_SEND, inc)
    slack.idle()
    sent = slack.app.show(inc).incident
    slack.front.notifier.remind([sent])
    post = slack.api.calls_to("chat.postMessage")[-1]
    assert "1 sent report(s) without a human answer" in texts(post["blocks"]) and inc in texts(post["blocks"])


def test_a_notifier_never_raises_when_slack_fails(slack: Harness) -> None:
    slack.api.fail("chat.postMessage", "channel_not_found", times=5)
    inc = _mail_draft(slack)  # logged, not raised
    assert slack.app.store().links(inc, ids.LINK_MESSAGE) == []
    assert len(slack.api.calls_to("chat.postMessage")) == 1
