"""The app manifest and the code agree both ways: the command, the shortcut's callback id, the events
and the scopes in handlers/slack/manifest.json are the ones the code registers and uses, and every
action and view id the code puts in a message or modal has a listener (and nothing else does)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.flow import DraftOptions, Intake
from bot.lifecycle import MAILBOX
from bot.models import Origin
from handlers.slack import blocks, ids
from tests.handlers.slack.helpers import CHANNEL, Harness
from tests.support.slack_api import TEAM, form, interactive

MANIFEST = Path(ids.__file__).with_name("manifest.json")
SLACK_CODE = Path(ids.__file__).parent
# Web API methods the code may call, and the bot scope each needs ("" = none).
METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "usergroups_users_list": "usergroups:read",
    "views_open": "",
    "views_update": "",
    "auth_test": "",
}
WEB_METHOD = re.compile(
    r"\bclient\.((?:chat|views|usergroups|users|auth|conversations|reactions|files|team)_\w+)\("
)
EVENT_SCOPES = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
}


def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def test_commands_shortcuts_and_events_match_both_ways(slack: Harness) -> None:
    m = manifest()
    commands = {c["command"] for c in m["features"]["slash_commands"]}
    shortcuts = {s["callback_id"] for s in m["features"]["shortcuts"]}
    assert commands == {ids.COMMAND}
    assert shortcuts == {ids.SHORTCUT_REPORT}
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == set(ids.BOT_EVENTS)
    assert m["settings"]["interactivity"]["is_enabled"] is True
    for command in commands:
        resp = slack.dispatch(form(team_id=TEAM, channel_id=CHANNEL, user_id="U1", command=command, text=""))
        assert resp.status == 200, f"no listener for {command}"
    assert slack.dispatch(form(team_id=TEAM, user_id="U1", command="/other", text="")).status == 404
    for callback in shortcuts | {"not_ours"}:
        resp = slack.dispatch(
            interactive(
                {
                    "type": "message_action",
                    "callback_id": callback,
                    "user": {"id": "U1"},
                    "team": {"id": TEAM},
                    "channel": {"id": CHANNEL},
                    "message": {"ts": "1.1", "text": ""},
                    "trigger_id": "t",
                }
            )
        )
        assert resp.status == (404 if callback == "not_ours" else 200), callback


def test_every_action_and_view_id_in_the_blocks_has_a_listener_and_no_other(slack: Harness) -> None:
    run = slack.app.draft(
        Intake.from_text("scan from 211.191.28.13", Origin("text")), MAILBOX, DraftOptions()
    )
    view = slack.app.show(run.outcomes[0].incident_id)
    emitted = _ids(blocks.incident_blocks(view)) | _ids(
        blocks.reply_blocks(view.incident, "bounce", "x", "", "", view)
    )
    assert emitted == set(ids.ACTIONS)
    modals = [blocks.edit_modal(view, {}), blocks.skip_modal(view.incident.id, {})]
    assert {m["callback_id"] for m in modals} | {
        blocks.loading_modal(ids.VIEW_EDIT, "x", {})["callback_id"]
    } == set(ids.VIEWS)
    for action in (*ids.ACTIONS, "not_ours"):
        resp = slack.dispatch(
            interactive(
                {
                    "type": "block_actions",
                    "user": {"id": "U0NOBODY"},
                    "team": {"id": TEAM},
                    "trigger_id": "t",
                    "container": {"type": "message", "message_ts": "1.1", "channel_id": CHANNEL},
                    "channel": {"id": CHANNEL},
                    "actions": [
                        {
                            "type": "button",
                            "action_id": action,
                            "block_id": "b",
                            "value": view.incident.id,
                            "action_ts": "1",
                        }
                    ],
                }
            )
        )
        assert resp.status == (404 if action == "not_ours" else 200), action
    for callback in (*ids.VIEWS, "not_ours"):
        resp = slack.dispatch(
            interactive(
                {
                    "type": "view_submission",
                    "user": {"id": "U0NOBODY"},
                    "team": {"id": TEAM},
                    "view": {
                        "id": "V1",
                        "type": "modal",
                        "callback_id": callback,
                        "private_metadata": "{}",
                        "state": {"values": {}},
                    },
                }
            )
        )
        assert resp.status == (404 if callback == "not_ours" else 200), callback
    slack.idle()


def test_the_manifest_asks_exactly_the_scopes_the_code_uses() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert scopes == set(ids.SCOPES)
    called = set()
    for path in SLACK_CODE.glob("*.py"):
        called |= set(WEB_METHOD.findall(path.read_text()))
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"Web API methods with no known scope in this test: {unknown}"
    needed = {METHOD_SCOPES[m] for m in called} | {EVENT_SCOPES[e] for e in ids.BOT_EVENTS} | {"commands"}
    needed.discard("")
    assert needed == scopes, f"asked but unused: {scopes - needed}; used but not asked: {needed - scopes}"


def _ids(value: object) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("action_id"), str):
            found.add(value["action_id"])
        for item in value.values():
            found |= _ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= _ids(item)
    return found
