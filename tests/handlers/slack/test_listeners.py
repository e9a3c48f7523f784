"""The listeners, driven as Slack drives them: signed requests dispatched to the Bolt app, every Web
API call recorded by the local stand-in, mails caught by the local SMTP server."""

from __future__ import annotations

from bot.models import State
from handlers.slack import ids
from tests.handlers.slack.helpers import ALLOWED, CHANNEL, Harness, action_ids, texts
from tests.support.smtp import SmtpServer

SNORT = "\n".join(
    f"Apr 14 23:11:{i:02d} fw snort[1]: SCAN: 211.191.28.13:{1000 + i} -> 192.0.2.{i + 1}:8080"
    for i in range(5)
)


def test_incident_command_acks_at_once_then_progress_becomes_the_draft(slack: Harness) -> None:
    resp = slack.command("211.191.28.13")
    assert resp.status == 200
    assert "Looking into it" in resp.body and f"<#{CHANNEL}>" in resp.body
    slack.idle()
    [inc] = slack.drafts()
    first = slack.api.calls_to("chat.postMessage")[0]
    assert first["channel"] == CHANNEL and "Drafting from <@U0ALLOWED>" in texts(first["blocks"])
    ts = slack.message_ts(inc)
    assert ts == "1700000000.000001", "the progress message itself became the draft"
    shown = slack.last_blocks(ts)
    assert shown[0]["type"] == "header" and shown[0]["text"]["text"] == f"{inc} · 211.191.28.13"
    body = texts(shown)
    for fact in ("*Network:* SHINBIRO-KR", "*AS:* AS64496 SHINBIRO-AS", "*Country:* KR", "*Lines:* 1"):
        assert fact in body
    box = next(b["accessory"] for b in shown if b.get("accessory", {}).get("type") == "checkboxes")
    assert [o["value"] for o in box["initial_options"]] == ["abuse@shinbiro.example"]
    assert action_ids(shown) == set(ids.ACTIONS)


def test_pasted_logs_draft_the_top_attacker_or_each_one(slack: Harness, tmp_path, api, smtp) -> None:
    two = SNORT + "\nApr 14 23:12:00 fw snort[1]: SCAN: 45.33.32.9:1000 -> 192.0.2.9:22"
    slack.message(two)
    slack.idle()
    assert len(slack.drafts()) == 1
    from tests.handlers.slack.helpers import make_harness

    each = make_harness(tmp_path / "each", api, smtp, every_attacker=True)
    try:
        each.message(two, event_id="Ev0002", ts="1699999999.000300")
        each.idle()
        assert len(each.drafts()) == 2
    finally:
        each.front.stop()


def test_bots_edits_threads_and_repeated_deliveries_never_draft(slack: Harness) -> None:
    slack.message(SNORT, event_id="EvBot", bot_id="B0OTHER")
    slack.message(SNORT, event_id="EvSub", subtype="message_changed")
    slack.message(SNORT, event_id="EvThread", thread_ts="1699999990.000001")
    slack.message(SNORT, event_id="EvElsewhere", channel="C0RANDOM")
    slack.idle()
    assert slack.drafts() == [] and slack.api.calls_to("chat.postMessage") == []
    slack.message(SNORT, event_id="EvOnce")
    slack.message(SNORT, event_id="EvOnce", retry=1)
    slack.idle()
    assert len(slack.drafts()) == 1
    assert len(slack.api.calls_to("chat.postMessage")) == 1, "the retry posted nothing"
    # a retry of an event this process never saw (it was down), whose message has an incident already
    slack.message(SNORT, event_id="EvUnseen", retry=2)
    slack.idle()
    assert len(slack.drafts()) == 1 and len(slack.api.calls_to("chat.postMessage")) == 1


def test_send_by_an_allowed_person_mails_once_and_the_message_says_who(
    slack: Harness, smtp: SmtpServer
) -> None:
    slack.command("211.191.28.13")
    slack.idle()
    [inc] = slack.drafts()
    slack.click(ids.ACTION_SEND, inc, ticked=["abuse@shinbiro.example"])
    slack.idle()
    assert [m.rcpt_tos for m in smtp.messages] == [("abuse@shinbiro.example",)]
    shown = slack.last_blocks(slack.message_ts(inc))
    assert f"Sent by <@{ALLOWED}>" in texts(shown) and "to abuse@shinbiro.example" in texts(shown)
    assert action_ids(shown) == set(), "no buttons left on a sent report"
    assert slack.app.show(inc).incident.state is State.SENT


def test_send_is_refused_to_others_and_the_group_is_asked_once(slack: Harness, smtp: SmtpServer) -> None:
    slack.command("211.191.28.13")
    slack.idle()
    [inc] = slack.drafts()
    slack.click(ids.ACTION_SEND, inc, user="U0OTHER")
    slack.idle()
    assert smtp.messages == []
    assert any("not allowed" in t for t in slack.ephemeral_texts())
    assert slack.app.show(inc).incident.state is State.DRAFT


def test_a_group_member_may_send_and_the_membership_is_cached(tmp_path, api, smtp: SmtpServer) -> None:
    from tests.handlers.slack.helpers import make_harness

    h = make_harness(tmp_path, api, smtp, senders=[], sender_group="S0SENDERS")
    try:
        h.command("211.191.28.13")
        h.command("45.33.32.9")
        h.idle()
        first, second = sorted(h.drafts())
        h.click(ids.ACTION_SEND, first, user="U0OUTSIDER")
        h.click(ids.ACTION_SEND, first, user="U0GROUPIE")
        h.click(ids.ACTION_SEND, second, user="U0GROUPIE")
        h.idle()
        assert len(smtp.messages) == 2
        assert len(api.calls_to("usergroups.users.list")) == 1
        assert api.calls_to("usergroups.users.list")[0]["usergroup"] == "S0SENDERS"
    finally:
        h.front.stop()


def test_two_people_clicking_send_at_once_send_one_mail(tmp_path, api, smtp: SmtpServer) -> None:
    import threading

    from tests.handlers.slack.helpers import make_harness

    h = make_harness(tmp_path, api, smtp, senders=[ALLOWED, "U0SECOND"])
    try:
        h.command("211.191.28.13")
        h.idle()
        [inc] = h.drafts()
        clicks = [
            threading.Thread(target=h.click, args=(ids.ACTION_SEND, inc), kwargs={"user": user})
            for user in (ALLOWED, "U0SECOND", ALLOWED)
        ]
        for t in clicks:
            t.start()
        for t in clicks:
            t.join()
        h.idle()
        assert len(smtp.messages) == 1
        refused = [t for t in h.ephemeral_texts() if t.startswith(":warning:")]
        assert len(refused) == 2
        assert all("already sent by slack:U0" in t or "is being sent" in t for t in refused), refused
    finally:
        h.front.stop()
