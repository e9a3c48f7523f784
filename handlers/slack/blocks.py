"""Block Kit for the Slack app: pure functions from the core's values to message and modal JSON.

Untrusted text (log lines, registry names, mail subjects and senders) only ever reaches Slack through
``bot.text.mrkdwn`` in a ``verbatim`` mrkdwn object, or as ``plain_text`` (which Slack neither
formats nor links). Slack's limits are kept here: a header is at most 150 characters, a section's
text 3000, a field 2000, a checkbox group 10 options of 75 characters, a message 50 blocks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.app import IncidentView
from bot.lifecycle import Action, Event, when
from bot.models import Contact, Incident, State, Target
from bot.text import mrkdwn, mrkdwn_line, single_line
from handlers.slack import ids

Block = dict[str, Any]
TEXT_MAX = 3000
CHECKBOX_MAX = 10
INPUT_MAX = 3000      # plain_text_input's max_length


def plain(text: object, limit: int = 2000) -> dict[str, Any]:
    """Our own words (labels, titles, buttons) as plain text on one line."""
    return {"type": "plain_text", "text": single_line(text, limit) or "-", "emoji": False}


def safe(text: object, limit: int = 2000) -> dict[str, Any]:
    """An untrusted value on one line: escaped mrkdwn that Slack neither links nor parses."""
    return md(mrkdwn_line(text, limit) or "-")


def md(text: str) -> dict[str, Any]:
    """mrkdwn that is already safe (ours, or escaped with bot.text.mrkdwn); never auto-linked."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def who(actor: str) -> str:
    """An actor as Slack shows it: a Slack user as a mention, anyone else as written (escaped)."""
    if actor.startswith("slack:") and actor[6:].isalnum():
        return f"<@{actor[6:]}>"
    return mrkdwn_line(actor, 80)


def code_block(lines: Sequence[str], total: int, limit: int = TEXT_MAX) -> tuple[str, int]:
    """The excerpt as a code block of whole escaped lines within ``limit``; and how many are shown."""
    room = limit - 8 - 60  # the fences, and the "more lines" note
    shown: list[str] = []
    used = 0
    for line in lines:
        safe = mrkdwn(line)[:500]
        if used + len(safe) + 1 > room:
            break
        shown.append(safe)
        used += len(safe) + 1
    body = "\n".join(shown) or " "
    return f"```\n{body}\n```", len(shown)


def _seen(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"


def _facts(target: Target) -> list[dict[str, Any]]:
    f, ev = target.findings, target.candidate.evidence
    net = f.network
    network = " / ".join(x for x in (net.name, net.handle, net.registry.upper(), ", ".join(net.cidrs[:2]))
                         if x) if net else ""
    asn = f"AS{net.asn} {net.as_name}".strip() if net and net.asn else ""
    pairs = [("Reverse name", f.rdns or "none"), ("Network", network or "unknown"), ("AS", asn or "unknown"),
             ("Country", (net.country if net else "") or "unknown"), ("First seen", _seen(ev.first_seen)),
             ("Last seen", _seen(ev.last_seen)), ("Lines", str(ev.total_lines))]
    return [md(f"*{k}:* {mrkdwn_line(v, 300) or '-'}") for k, v in pairs]


def _contact_option(c: Contact) -> dict[str, Any]:
    source = c.sources[0] if c.sources else ""
    mark = "catch-all, " if c.flag else ""
    return {"text": safe(c.address, 60), "value": c.address[:150],
            "description": safe(f"{mark}{c.confidence.value}: {source}", 60)}


def _last(history: Sequence[Event], *actions: Action) -> Event | None:
    return next((e for e in reversed(history) if e.action in actions), None)


def status_line(inc: Incident, history: Sequence[Event]) -> str:
    """Who did what to the incident last, for the message's context line."""
    if inc.state is State.SENT or inc.state is State.ANSWERED:
        ev = _last(history, Action.DELIVERED, Action.SETTLE_SENT)
        to = ", ".join(a for a, s in inc.delivery.items() if s == "accepted") or ", ".join(inc.recipients)
        by = f" by {who(ev.actor)} at {when(ev.at)}" if ev else ""
        answered = " · answered" if inc.state is State.ANSWERED else ""
        return f":white_check_mark: Sent{by} to {mrkdwn_line(to, 500)}{answered}"
    if inc.state is State.SKIPPED:
        ev = _last(history, Action.SKIP)
        reason = f" ({mrkdwn_line(ev.detail, 300)})" if ev and ev.detail else ""
        return f":no_entry_sign: Skipped by {who(ev.actor) if ev else 'someone'}" \
               f"{f' at {when(ev.at)}' if ev else ''}{reason}"
    if inc.state is State.SENDING:
        ev = _last(history, Action.SEND)
        return f":hourglass_flowing_sand: Being sent{f' (started by {who(ev.actor)})' if ev else ''}"
    if inc.state is State.FAILED:
        failed = "; ".join(f"{a}: {s}" for a, s in inc.delivery.items() if s != "accepted")
        return f":x: Not delivered: {mrkdwn_line(failed, 600) or 'the server refused it'}. Send to try again."
    ev = _last(history, Action.EDIT, Action.MERGE, Action.CREATE, Action.REOPEN)
    last = f" · last change: {ev.action} by {who(ev.actor)} at {when(ev.at)}" if ev else ""
    return f":memo: Draft waiting for a person{last}"


def incident_blocks(view: IncidentView) -> list[Block]:
    """The draft message: what was seen, who runs the network, whom to tell, and what a person can do."""
    inc, draft = view.incident, view.draft
    first = draft.targets[0] if draft.targets else None
    ips = ", ".join(inc.ips)
    blocks: list[Block] = [{"type": "header", "text": plain(f"{inc.id} · {ips}", 150)}]
    if first is not None:
        blocks.append({"type": "section", "fields": _facts(first)})
        ev = first.candidate.evidence
        text, shown = code_block(ev.lines, ev.total_lines)
        blocks.append({"type": "section", "text": md(text)})
        more = max(ev.total_lines, len(ev.lines)) - shown
        if more > 0:
            blocks.append({"type": "context", "elements": [md(
                f"{shown} of {max(ev.total_lines, len(ev.lines))} lines shown; the whole excerpt is in "
                f"the incident folder ({mrkdwn_line(inc.folder, 200)})")]})
    if len(draft.targets) > 1:
        blocks.append({"type": "context", "elements": [plain(
            f"Also in this report: {', '.join(t.candidate.ip for t in draft.targets[1:])}", 1000)]})
    if draft.incomplete:
        blocks.append({"type": "context", "elements": [safe(
            "Lookups incomplete: " + "; ".join(draft.incomplete), 1500)]})
    blocks.append({"type": "section", "text": md(f"*Subject:* {mrkdwn_line(draft.subject, 250)}")})
    actionable = inc.state in (State.DRAFT, State.FAILED)
    if actionable and draft.contacts:
        options = [_contact_option(c) for c in draft.contacts[:CHECKBOX_MAX]]
        chosen = [o for o in options if o["value"] in draft.recipients]
        box: dict[str, Any] = {"type": "checkboxes", "action_id": ids.ACTION_RECIPIENTS, "options": options}
        if chosen:
            box["initial_options"] = chosen
        blocks.append({"type": "section", "text": md("*Contacts* (ticked: recipients)"),
                       "accessory": box, "block_id": f"{ids.ACTION_RECIPIENTS}.{inc.id}"})
        rest = draft.contacts[CHECKBOX_MAX:]
        if rest:
            blocks.append({"type": "context", "elements": [safe(
                "More contacts (add them with Edit): " + ", ".join(c.address for c in rest), 1500)]})
    elif actionable:
        blocks.append({"type": "section", "text": md("*No contact found.* Add a recipient with Edit.")})
    else:
        blocks.append({"type": "section", "text": md(
            f"*Recipients:* {mrkdwn_line(', '.join(inc.recipients) or 'none', 1500)}")})
    blocks.append({"type": "context", "elements": [md(status_line(inc, view.history))]})
    if actionable:
        blocks.append({"type": "actions", "block_id": "incident_actions", "elements": [
            {"type": "button", "action_id": ids.ACTION_SEND, "text": plain("Send"), "style": "primary",
             "value": inc.id},
            {"type": "button", "action_id": ids.ACTION_EDIT, "text": plain("Edit"), "value": inc.id},
            {"type": "button", "action_id": ids.ACTION_SKIP, "text": plain("Skip"), "value": inc.id}]})
    return blocks[:50]


def incident_text(inc: Incident) -> str:
    """The notification text of a draft message (what a phone shows): ours only, escaped."""
    return mrkdwn_line(f"{inc.id} ({inc.state.value}): report on {', '.join(inc.ips)}", 300)


def progress_blocks(title: str, lines: Sequence[str]) -> list[Block]:
    body = "\n".join(mrkdwn_line(line, 200) for line in lines[-12:])
    blocks: list[Block] = [{"type": "section", "text": md(f":mag: {title}")}]
    if body:
        blocks.append({"type": "context", "elements": [md(body[:TEXT_MAX])]})
    return blocks


def notice_blocks(text: str) -> list[Block]:
    """A short notice of ours (already escaped)."""
    return [{"type": "section", "text": md(text[:TEXT_MAX])}]


# --- modals ----------------------------------------------------------------------------------


def loading_modal(callback_id: str, title: str, meta: dict[str, str]) -> dict[str, Any]:
    """What views.open shows at once, before anything slow: filled in by views.update after."""
    return {"type": "modal", "callback_id": callback_id, "title": plain(title, 24),
            "private_metadata": json.dumps(meta),
            "blocks": [{"type": "section", "text": md(":hourglass_flowing_sand: Loading…")}]}


def message_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (a refusal, an error), with no submit button."""
    return {"type": "modal", "title": plain(title, 24), "close": plain("Close"),
            "blocks": [{"type": "section", "text": md(text[:TEXT_MAX])}]}


def _input(block_id: str, label: str, value: str, *, multiline: bool = False, optional: bool = False,
           hint: str = "") -> Block:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": block_id, "multiline": multiline,
                               "max_length": INPUT_MAX}
    if value:
        element["initial_value"] = value[:INPUT_MAX]
    block: Block = {"type": "input", "block_id": block_id, "label": plain(label), "element": element,
                    "optional": optional}
    if hint:
        block["hint"] = plain(hint)
    return block


def edit_modal(view: IncidentView, meta: dict[str, str]) -> dict[str, Any]:
    """Recipients, subject, description and (when Slack can hold it) the body, prefilled."""
    draft = view.draft
    known = ", ".join(c.address for c in draft.contacts[:20])
    blocks = [
        _input(ids.FIELD_RECIPIENTS, "Recipients (one a line)", "\n".join(draft.recipients), multiline=True,
               hint=f"Contacts found: {known}" if known else ""),
        _input(ids.FIELD_SUBJECT, "Subject", draft.subject),
        _input(ids.FIELD_DESCRIPTION, "Description", draft.description, multiline=True, optional=True,
               hint="Said in the report's text, which is written again unless you edit the body"),
    ]
    if len(draft.body) <= INPUT_MAX:
        blocks.append(_input(ids.FIELD_BODY, "Body", draft.body, multiline=True))
    else:
        blocks.append({"type": "context", "elements": [plain(
            f"The body is {len(draft.body)} characters, more than Slack can edit; edit it with "
            f"'incident edit {view.incident.id}' on the command line.")]})
    return {"type": "modal", "callback_id": ids.VIEW_EDIT, "title": plain(f"Edit {view.incident.id}", 24),
            "submit": plain("Save"), "close": plain("Cancel"), "private_metadata": json.dumps(meta),
            "blocks": blocks}


def skip_modal(incident_id: str, meta: dict[str, str]) -> dict[str, Any]:
    return {"type": "modal", "callback_id": ids.VIEW_SKIP, "title": plain(f"Skip {incident_id}", 24),
            "submit": plain("Skip it"), "close": plain("Cancel"), "private_metadata": json.dumps(meta),
            "blocks": [_input(ids.FIELD_REASON, "Reason (optional)", "", optional=True)]}


# --- follow-ups ------------------------------------------------------------------------------

REPLY_KINDS = {"human": ":speech_balloon: Reply", "auto_ack": ":robot_face: Auto-acknowledgement",
               "bounce": ":leftwards_arrow_with_hook: Bounce"}


def reply_blocks(inc: Incident, kind: str, sender: str, ticket: str, preview: str,
                 proposed: IncidentView | None) -> list[Block]:
    """A reply filed with ``inc``, for its thread; a bounce offers the next contact's draft."""
    head = f"*{REPLY_KINDS.get(kind, mrkdwn_line(kind, 40))}* from {mrkdwn_line(sender, 200) or 'unknown'}"
    if ticket:
        head += f" · ticket {mrkdwn_line(ticket, 80)}"
    blocks: list[Block] = [{"type": "section", "text": md(head)}]
    if preview:
        blocks.append({"type": "section", "text": md("> " + mrkdwn_line(preview, 600))})
    if proposed is not None:
        p = proposed.incident
        to = ", ".join(proposed.draft.recipients) or "no contact left"
        blocks.append({"type": "section", "text": md(
            f"Next contact drafted as *{mrkdwn_line(p.id, 40)}*: {mrkdwn_line(to, 500)}")})
        if p.state is State.DRAFT and proposed.draft.recipients:
            blocks.append({"type": "actions", "block_id": "proposed_actions", "elements": [
                {"type": "button", "action_id": ids.ACTION_SEND, "text": plain("Send"),
                 "style": "primary", "value": p.id},
                {"type": "button", "action_id": ids.ACTION_SKIP, "text": plain("Skip"), "value": p.id}]})
    elif kind == "bounce":
        blocks.append({"type": "context", "elements": [md("No other contact to propose.")]})
    return blocks


def reminder_blocks(incidents: Sequence[Incident], days_since: Any) -> list[Block]:
    lines = [f"• *{mrkdwn_line(i.id, 40)}* {mrkdwn_line(', '.join(i.ips), 200)} → "
             f"{mrkdwn_line(', '.join(i.recipients), 300)} (sent {days_since(i)} days ago)"
             for i in incidents[:40]]
    more = f"\n…and {len(incidents) - 40} more (incident list --state sent)" if len(incidents) > 40 else ""
    return [{"type": "section", "text": md(
        f":alarm_clock: *{len(incidents)} sent report(s) without a human answer*")},
            {"type": "section", "text": md(("\n".join(lines) + more)[:TEXT_MAX])}]
