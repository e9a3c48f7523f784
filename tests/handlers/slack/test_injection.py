"""Untrusted text cannot ping or mislead: mentions, broadcasts and disguised links in log lines,
registry answers and reply mails arrive in the recorded chat.postMessage / chat.update payloads as
plain characters, in text objects Slack does not auto-link."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from bot.flow import DraftOptions, Intake
from bot.lifecycle import MAILBOX
from bot.models import Findings, Origin
from tests.handlers.slack.helpers import Harness, make_harness
from tests.support.fakes import FakeGatherer

LIVE = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@U999>", "<https://evil.example", "<#C0SECRET")


def hostile(found: Findings) -> Findings:
    assert found.network is not None
    net = dataclasses.replace(
        found.network, name="<!channel> SHINBIRO", as_name="<@U123>", org="<https://evil.example|Your Bank>"
    )
    return dataclasses.replace(found, network=net, rdns="<https://evil.example|bank.com>.example")


def mrkdwn_objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            yield value
        for item in value.values():
            yield from mrkdwn_objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from mrkdwn_objects(item)


def assert_inert(h: Harness) -> None:
    shown = list(h.api.posted_texts())
    assert shown
    for text in shown:
        for live in LIVE:
            assert live not in text, f"{live} reached Slack live in {text!r}"
    for call in h.api.calls:
        if call.method in ("chat.postMessage", "chat.update"):
            assert all(o.get("verbatim") is True for o in mrkdwn_objects(call.params.get("blocks")))
            if call.method == "chat.postMessage":
                assert call.params["unfurl_links"] is False and call.params["unfurl_media"] is False


def test_mentions_and_links_in_a_paste_and_in_registry_answers_arrive_as_text(tmp_path, api, smtp) -> None:
    h = make_harness(tmp_path, api, smtp, gatherer=FakeGatherer(tweak=hostile))
    try:
        # as Slack delivers what a person pasted: typed brackets escaped, typed @here turned into markup
        line = (
            "Apr 14 23:11:08 fw sshd[1]: Invalid user &lt;!channel&gt; <!here> &lt;@U123&gt; <@U999> "
            "&lt;https://evil.example|bank.com&gt; <#C0SECRET|secret> ```end``` from 211.191.28.13 port 22"
        )
        h.message(line)
        h.idle()
        [inc] = h.drafts()
        assert "<!channel>" in h.app.show(inc).draft.body, "the report keeps the line as it was"
        assert_inert(h)
        shown = "\n".join(h.api.posted_texts())
        assert "&lt;!channel&gt;" in shown and "&lt;@U123&gt;" in shown
        assert "&lt;https://evil.example|bank.com&gt;" in shown
        assert "ˋˋˋendˋˋˋ" in shown, "a backtick fence in a line cannot close the code block"
    finally:
        h.front.stop()


def test_a_command_with_markup_and_a_reply_mail_arrive_as_text(tmp_path, api, smtp) -> None:
    h = make_harness(tmp_path, api, smtp)
    try:
        h.command("211.191.28.13 &lt;!everyone&gt; <!channel>")
        h.idle()
        [inc] = h.drafts()
        h.front.notifier.reply_filed(
            h.app.show(inc).incident,
            "human",
            "<!channel> <abuse@shinbiro.example>",
            "<@U123>",
            "<https://evil.example|Click to unsubscribe> <!here>",
        )
        assert_inert(h)
        reply = h.api.calls_to("chat.postMessage")[-1]
        assert reply["thread_ts"] == h.message_ts(inc)
    finally:
        h.front.stop()


def test_a_mailbox_draft_with_hostile_text_is_posted_inert(tmp_path, api, smtp) -> None:
    h = make_harness(tmp_path, api, smtp, gatherer=FakeGatherer(tweak=hostile))
    try:
        run = h.app.draft(
            Intake.from_text("<!channel> scan from 211.191.28.13 <@U123>", Origin("mail", "<alert@x>")),
            MAILBOX,
            DraftOptions(),
        )
        h.front.notifier.draft_ready(run.outcomes[0])
        assert_inert(h)
    finally:
        h.front.stop()
