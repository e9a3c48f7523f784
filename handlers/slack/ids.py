"""Every name Slack and the code must agree on, in one place: the command, the shortcut, the events,
the action and view ids, and the input blocks of the modals.

handlers/slack/manifest.json declares the command, the shortcut's callback id and the events;
tests/handlers/slack/test_manifest.py checks that the manifest and these constants (and the listeners
registered on them) match both ways.
"""

from __future__ import annotations

COMMAND = "/incident"
SHORTCUT_REPORT = "report_incident"          # message shortcut "Report incident"

# Buttons and elements on a draft message (the value is the incident id).
ACTION_SEND = "incident_send"
ACTION_EDIT = "incident_edit"
ACTION_SKIP = "incident_skip"
ACTION_RECIPIENTS = "incident_recipients"    # the contacts' checkboxes
ACTIONS = (ACTION_SEND, ACTION_EDIT, ACTION_SKIP, ACTION_RECIPIENTS)

# Modals (callback ids) and their input blocks (block id == action id of the element inside).
VIEW_EDIT = "incident_edit_view"
VIEW_SKIP = "incident_skip_view"
VIEWS = (VIEW_EDIT, VIEW_SKIP)
FIELD_RECIPIENTS = "recipients"
FIELD_SUBJECT = "subject"
FIELD_DESCRIPTION = "description"
FIELD_BODY = "body"
FIELD_REASON = "reason"

# Events the app subscribes to (Events API names) and the one Bolt listener type they reach.
BOT_EVENTS = ("message.channels", "message.groups", "message.im")
EVENT_LISTENED = "message"

# The bot token scopes, each with why it is needed (the manifest asks for exactly these).
SCOPES = {
    "commands": "the /incident command and the Report incident shortcut",
    "chat:write": "posting and updating drafts, progress, replies in threads, ephemeral notices",
    "channels:history": "message.channels: logs pasted in a public channel the bot is in",
    "groups:history": "message.groups: logs pasted in a private channel the bot is in",
    "im:history": "message.im: logs sent to the bot in a direct message",
    "usergroups:read": "usergroups.users.list: who is in slack.sender_group",
}

# Store link kind: where a draft's message is (``<channel>/<ts>``).
LINK_MESSAGE = "slack-message"
