"""The draft's buttons and modals: Send, Edit, Skip, the recipients' checkboxes.

Only the people ``Senders`` allows act on a draft (send, edit, skip, tick). A send runs in a job (SMTP
is slow); its conflicts ("already sent by ...") come from the core and are shown to the person as
they are. Modals open at once (views.open before anything slow: Slack's trigger lives 3 seconds)
and are filled in after.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App as BoltApp

from bot.errors import UserError
from bot.lifecycle import Actor, Conflict
from bot.mail.message import check_address
from bot.models import State
from bot.text import mrkdwn_line
from handlers.slack import blocks, ids
from handlers.slack.errors import Where
from handlers.slack.listeners import Parts

NOT_ALLOWED = ":no_entry: You are not allowed to act on incident drafts (slack.senders / slack.sender_group)."


def selected_recipients(body: dict[str, Any]) -> list[str] | None:
    """The ticked contacts in the clicked message's state, or None when it has no checkboxes."""
    values = (body.get("state") or {}).get("values") or {}
    for block in values.values():
        box = block.get(ids.ACTION_RECIPIENTS) if isinstance(block, dict) else None
        if isinstance(box, dict) and box.get("type") == "checkboxes":
            return [str(o.get("value", "")) for o in box.get("selected_options") or []]
    return None


def _field(view: dict[str, Any], name: str) -> str | None:
    block = ((view.get("state") or {}).get("values") or {}).get(name)
    if not isinstance(block, dict) or name not in block:
        return None
    return str(block[name].get("value") or "")


def _meta(view: dict[str, Any]) -> dict[str, str]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def register(bolt: BoltApp, p: Parts) -> None:
    def after_ack(where: Where, fn: Callable[[], None]) -> None:
        """Run what a listener does after its ack, its errors to the reporter. (An exception
        raised in a listener soon after ack() races Bolt's runner, which then loses the ack and
        answers Slack 404; so nothing is raised after an ack.)"""
        try:
            fn()
        except Exception as exc:
            p.errors.report(exc, where)

    def refresh(inc: str, meta: dict[str, str]) -> None:
        p.messages.refresh(inc, also=(meta.get("channel", ""), meta.get("ts", "")))

    def send(body: dict[str, Any], where: Where) -> None:
        if not p.senders.allowed(where.user):
            p.errors.tell(where, NOT_ALLOWED)
            return
        inc = where.incident_id
        held = p.app.show(inc)
        ticked = selected_recipients(body)
        if ticked is not None and not ticked:
            raise UserError(f"{inc}: no recipient ticked; tick at least one contact, or add one with Edit")
        to = ticked if ticked is not None and set(ticked) != set(held.draft.recipients) else None
        try:
            outcome = p.app.send(inc, Actor.slack(where.user), to=to)
        except Conflict:
            refresh(inc, {"channel": where.channel, "ts": where.message_ts})
            raise
        refresh(inc, {"channel": where.channel, "ts": where.message_ts})
        if outcome.status != "sent":
            p.errors.tell(where, f":warning: {mrkdwn_line(outcome.detail, 1500)}")

    @bolt.action(ids.ACTION_SEND)
    def on_send(ack: Any, body: dict[str, Any]) -> None:
        ack()
        where = Where.of(body)
        p.jobs.submit(lambda: send(body, where), where)

    @bolt.action(ids.ACTION_RECIPIENTS)
    def on_recipients(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        where = Where.of(body)
        inc = str(action.get("block_id", "")).partition(".")[2]
        where = dataclasses.replace(where, incident_id=inc)
        after_ack(where, lambda: tick(where, inc, action))

    def tick(where: Where, inc: str, action: dict[str, Any]) -> None:
        meta = {"channel": where.channel, "ts": where.message_ts}
        if not p.senders.allowed(where.user):
            p.errors.tell(where, NOT_ALLOWED)
            refresh(inc, meta)  # the ticks the person changed on their screen go back
            return
        chosen = [str(o.get("value", "")) for o in action.get("selected_options") or []]
        try:
            p.app.edit(inc, Actor.slack(where.user), recipients=chosen)
        finally:
            refresh(inc, meta)

    @bolt.action(ids.ACTION_EDIT)
    def on_edit(ack: Any, body: dict[str, Any], client: Any) -> None:
        ack()
        where = Where.of(body)
        after_ack(where, lambda: edit(where, client))

    def edit(where: Where, client: Any) -> None:
        meta = {"id": where.incident_id, "channel": where.channel, "ts": where.message_ts}
        loading = blocks.loading_modal(ids.VIEW_EDIT, f"Edit {where.incident_id}", meta)
        opened = client.views_open(trigger_id=where.trigger_id, view=loading)
        view_id, vhash = opened["view"]["id"], opened["view"]["hash"]
        if not p.senders.allowed(where.user):
            modal = blocks.message_modal("Not allowed", NOT_ALLOWED)
        else:
            held = p.app.show(where.incident_id)
            if held.incident.state not in (State.DRAFT, State.FAILED):
                status = blocks.status_line(held.incident, held.history)
                modal = blocks.message_modal(held.incident.id, status)
            else:
                modal = blocks.edit_modal(held, meta)
        client.views_update(view_id=view_id, hash=vhash, view=modal)

    @bolt.view(ids.VIEW_EDIT)
    def on_edit_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = _meta(view)
        user, inc = Where.of(body).user, meta.get("id", "")
        recipients_text = _field(view, ids.FIELD_RECIPIENTS) or ""
        subject = (_field(view, ids.FIELD_SUBJECT) or "").strip()
        description = _field(view, ids.FIELD_DESCRIPTION)
        text = _field(view, ids.FIELD_BODY)
        errors: dict[str, str] = {}
        recipients = [a for a in re.split(r"[\s,;]+", recipients_text) if a]
        if not recipients:
            errors[ids.FIELD_RECIPIENTS] = "At least one address is needed."
        for addr in recipients:
            try:
                check_address(addr, "recipient")
            except UserError as exc:
                errors[ids.FIELD_RECIPIENTS] = str(exc)
                break
        if not subject:
            errors[ids.FIELD_SUBJECT] = "The subject cannot be empty."
        if text is not None and not text.strip():
            errors[ids.FIELD_BODY] = "The body cannot be empty."
        if not errors and not p.senders.allowed(user):
            errors[ids.FIELD_RECIPIENTS] = "You are not allowed to edit incident drafts."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        held = p.app.show(inc)
        body_text = text if text is not None and text.rstrip() != held.draft.body.rstrip() else None
        try:
            p.app.edit(inc, Actor.slack(user), recipients=recipients, subject=subject, body=body_text,
                       description=description.strip() if description is not None else None)
        except UserError as exc:  # a conflict (sent meanwhile) or a rule of the core: on the form
            ack(response_action="errors", errors={ids.FIELD_RECIPIENTS: str(exc)[:300]})
            return
        ack()
        refresh(inc, meta)

    @bolt.action(ids.ACTION_SKIP)
    def on_skip(ack: Any, body: dict[str, Any], client: Any) -> None:
        ack()
        where = Where.of(body)
        after_ack(where, lambda: skip(where, client))

    def skip(where: Where, client: Any) -> None:
        meta = {"id": where.incident_id, "channel": where.channel, "ts": where.message_ts}
        modal = blocks.skip_modal(where.incident_id, meta)
        opened = client.views_open(trigger_id=where.trigger_id, view=modal)
        if not p.senders.allowed(where.user):
            client.views_update(view_id=opened["view"]["id"], hash=opened["view"]["hash"],
                                view=blocks.message_modal("Not allowed", NOT_ALLOWED))

    @bolt.view(ids.VIEW_SKIP)
    def on_skip_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = _meta(view)
        user, inc = Where.of(body).user, meta.get("id", "")
        if not p.senders.allowed(user):
            ack(response_action="errors", errors={ids.FIELD_REASON: "You are not allowed to skip incidents."})
            return
        try:
            p.app.skip(inc, Actor.slack(user), (_field(view, ids.FIELD_REASON) or "").strip())
        except UserError as exc:
            ack(response_action="errors", errors={ids.FIELD_REASON: str(exc)[:300]})
            return
        ack()
        refresh(inc, meta)
