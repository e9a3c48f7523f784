"""Edit, Skip and the contacts' checkboxes: modals opened before anything slow, validated on submit,
the draft message updated in place; the errors a person sees."""

from __future__ import annotations

import json
import logging

import pytest

from bot.models import State
from handlers.slack import ids
from tests.handlers.slack.helpers import ALLOWED, Harness, action_ids, texts
from tests.support.smtp import SmtpServer


def _draft(slack: Harness) -> str:
    slack.command("211.191.28.13")
    slack.idle()
    [inc] = slack.drafts()
    return inc


def test_edit_opens_the_modal_first_then_fills_it(slack: Harness) -> None:
    inc = _draft(slack)
    slack.click(ids.ACTION_EDIT, inc)
    slack.idle()
    order = [c.method for c in slack.api.calls if c.method.startswith("views.")]
    assert order == ["views.open", "views.update"]
    opened = slack.api.calls_to("views.open")[0]["view"]
    assert opened["callback_id"] == ids.VIEW_EDIT and "Loading" in texts(opened["blocks"])
    filled = slack.api.calls_to("views.update")[0]
    assert filled["view_id"] == "V0TEST" and filled["hash"] == "h-1"
    fields = {
        b["block_id"]: b["element"].get("initial_value", "")
        for b in filled["view"]["blocks"]
        if b["type"] == "input"
    }
    held = slack.app.show(inc).draft
    assert fields[ids.FIELD_RECIPIENTS] == "abuse@shinbiro.example"
    assert fields[ids.FIELD_SUBJECT] == held.subject and fields[ids.FIELD_BODY] == held.body
    assert json.loads(filled["view"]["private_metadata"])["id"] == inc


def test_edit_submit_is_validated_on_the_fields(slack: Harness) -> None:
    inc = _draft(slack)
    meta = {"id": inc, "channel": "C0DRAFTS", "ts": slack.message_ts(inc)}
    bad = slack.submit(
        ids.VIEW_EDIT,
        {
            ids.FIELD_RECIPIENTS: "abuse@shinbiro.example\nnot an address",
            ids.FIELD_SUBJECT: " ",
            ids.FIELD_BODY: "text",
        },
        meta,
    )
    answer = json.loads(bad.body)
    assert answer["response_action"] == "errors"
    assert "'not' is not a usable e-mail address" in answer["errors"][ids.FIELD_RECIPIENTS]
    assert answer["errors"][ids.FIELD_SUBJECT] == "The subject cannot be empty."
    empty = json.loads(
        slack.submit(ids.VIEW_EDIT, {ids.FIELD_RECIPIENTS: "", ids.FIELD_SUBJECT: "s"}, meta).body
    )
    assert empty["errors"] == {ids.FIELD_RECIPIENTS: "At least one address is needed."}
    assert slack.app.show(inc).draft.recipients == ("abuse@shinbiro.example",), "nothing changed"


def test_edit_submit_changes_the_draft_and_its_message_in_place(slack: Harness, smtp: SmtpServer) -> None:
    inc = _draft(slack)
    ts = slack.message_ts(inc)
    meta = {"id": inc, "channel": "C0DRAFTS", "ts": ts}
    held = slack.app.show(inc).draft
    ok = slack.submit(
        ids.VIEW_EDIT,
        {
            ids.FIELD_RECIPIENTS: "abuse@shinbiro.example, noc@shinbiro.example",
            ids.FIELD_SUBJECT: "Scan from your network",
            ids.FIELD_DESCRIPTION: "",
            ids.FIELD_BODY: held.body,
        },
        meta,
    )
    assert ok.status == 200 and not ok.body
    slack.idle()
    now = slack.app.show(inc)
    assert now.draft.recipients == ("abuse@shinbiro.example", "noc@shinbiro.example")
    assert now.draft.subject == f"[{inc}] Scan from your network"
    assert now.history[-1].actor == f"slack:{ALLOWED}"
    update = slack.api.calls_to("chat.update")[-1]
    assert update["ts"] == ts and "Scan from your network" in texts(update["blocks"])
    slack.click(ids.ACTION_SEND, inc)
    slack.idle()
    assert [m.rcpt_tos for m in smtp.messages] == [("abuse@shinbiro.example", "noc@shinbiro.example")]
    assert smtp.messages[0].message["Subject"] == f"[{inc}] Scan from your network"


def test_edit_by_someone_not_allowed_opens_a_refusal(slack: Harness) -> None:
    inc = _draft(slack)
    slack.click(ids.ACTION_EDIT, inc, user="U0OTHER")
    slack.idle()
    shown = slack.api.calls_to("views.update")[0]["view"]
    assert "not allowed" in texts(shown["blocks"]) and "submit" not in shown


def test_skip_asks_a_reason_and_marks_the_incident(slack: Harness) -> None:
    inc = _draft(slack)
    slack.click(ids.ACTION_SKIP, inc)
    slack.idle()
    modal = slack.api.calls_to("views.open")[0]["view"]
    assert modal["callback_id"] == ids.VIEW_SKIP
    meta = json.loads(modal["private_metadata"])
    assert slack.submit(ids.VIEW_SKIP, {ids.FIELD_REASON: "our own scanner"}, meta).status == 200
    slack.idle()
    view = slack.app.show(inc)
    assert view.incident.state is State.SKIPPED and view.history[-1].detail == "our own scanner"
    shown = slack.last_blocks(slack.message_ts(inc))
    assert f"Skipped by <@{ALLOWED}>" in texts(shown) and "(our own scanner)" in texts(shown)
    assert action_ids(shown) == set()
    again = json.loads(slack.submit(ids.VIEW_SKIP, {ids.FIELD_REASON: ""}, meta).body)
    assert "is skipped by slack:U0ALLOWED" in again["errors"][ids.FIELD_REASON]


def test_unticking_a_contact_changes_the_recipients(slack: Harness) -> None:
    inc = _draft(slack)
    view = slack.app.show(inc)
    everyone = [c.address for c in view.draft.contacts]
    slack.tick(inc, everyone)
    slack.idle()
    assert slack.app.show(inc).draft.recipients == tuple(everyone)
    slack.tick(inc, [])
    slack.idle()
    assert slack.app.show(inc).draft.recipients == tuple(everyone), "an empty choice is refused"
    assert any("at least one recipient is needed" in t for t in slack.ephemeral_texts())
    slack.tick(inc, everyone[:1], user="U0OTHER")
    slack.idle()
    assert slack.app.show(inc).draft.recipients == tuple(everyone)


def test_the_message_shortcut_drafts_from_the_message(slack: Harness) -> None:
    slack.shortcut("Apr 14 23:11:08 fw sshd[1]: Failed password for root from 211.191.28.13 port 4711 ssh2")
    slack.idle()
    [inc] = slack.drafts()
    origins = slack.app.show(inc).origins
    assert origins[0].kind == "slack" and origins[0].ref == "C0DRAFTS/1699999999.000200"
    slack.shortcut("no address here", ts="1699999999.000300")
    slack.idle()
    assert any("No reportable address" in t for t in slack.ephemeral_texts())


def test_an_internal_error_shows_the_incident_id_only(
    slack: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    inc = _draft(slack)

    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("secret detail from deep inside")

    monkeypatch.setattr(slack.app, "send", broken)
    with caplog.at_level(logging.ERROR):
        slack.click(ids.ACTION_SEND, inc)
        slack.idle()
    told = slack.ephemeral_texts()[-1]
    assert told == f":x: internal error with {inc}; the details are in the bot's log."
    assert all("secret detail" not in t for t in slack.api.posted_texts())
    assert any(r.exc_info and "secret detail" in str(r.exc_info[1]) for r in caplog.records)


def test_internal_errors_after_and_before_an_ack_show_the_incident_id_only(
    slack: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    inc = _draft(slack)
    meta = {"id": inc, "channel": "C0DRAFTS", "ts": slack.message_ts(inc)}

    def broken(*a: object, **k: object) -> None:
        raise KeyError("the store said something private")

    monkeypatch.setattr(slack.app, "show", broken)
    with caplog.at_level(logging.ERROR):
        assert slack.click(ids.ACTION_EDIT, inc).status == 200, "acknowledged, then the error is reported"
        slack.idle()
        assert (
            slack.ephemeral_texts()[-1] == f":x: internal error with {inc}; the details are in the bot's log."
        )
        # before the ack (a modal's submission): Bolt's global error handler, the same reporter
        values = {ids.FIELD_RECIPIENTS: "abuse@shinbiro.example", ids.FIELD_SUBJECT: "s"}
        assert slack.submit(ids.VIEW_EDIT, values, meta).status == 500
        slack.idle()
    dm = slack.api.calls_to("chat.postMessage")[-1]
    assert dm["channel"] == ALLOWED, "a modal has no channel: the person gets a direct message"
    assert dm["text"] == f":x: internal error with {inc}; the details are in the bot's log."
    assert all("private" not in t for t in slack.api.posted_texts())
    assert sum(1 for r in caplog.records if r.exc_info) == 2
