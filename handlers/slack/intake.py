"""From Slack text to drafts: /incident, pasted logs and the Report incident shortcut all end here.

Runs in a background job (the listener has acknowledged already): scan, post a progress message in
the drafts channel, draft through the core (progress lines update that message at most every
``slack.progress_seconds``), then turn the message into the first draft and post the others.
"""

from __future__ import annotations

import html
import ipaddress
import re
import threading
import time
from dataclasses import dataclass

from bot.app import App
from bot.config import SlackConfig
from bot.errors import NothingToDo, UserError
from bot.flow import DraftOptions, Intake, Outcome
from bot.lifecycle import Actor
from bot.models import Origin
from bot.text import mrkdwn_line
from handlers.slack import blocks
from handlers.slack.errors import ErrorReporter, Where
from handlers.slack.messages import Messages

# Slack's markup in message and command text: <url|label>, <url>, <@U1>, <#C1|name>, <!here>.
_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_HOST = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?$")


def _plain(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if label:
        return label
    if target.startswith(("@", "#")):
        return target
    if target.startswith("!"):
        return "@" + target[1:].split("^")[0]
    return target


def unslack(text: str) -> str:
    """Slack's message text as the person typed it: links and mentions to their text, &lt; &gt; &amp;
    back to characters (what the scanner must see; an IP in a linked host name is found either way)."""
    return html.unescape(_MARKUP.sub(_plain, text)) if "<" in text or "&" in text else text


@dataclass(frozen=True)
class Request:
    """One ask to draft: the text, where it came from, who asked, and how to answer them."""

    text: str
    origin: Origin
    user: str
    where: Where
    explicit: bool          # the person asked (command, shortcut): "nothing found" is said to them
    how: str                # "/incident", "a pasted message", "Report incident"


class DraftRunner:
    def __init__(self, app: App, cfg: SlackConfig, messages: Messages, errors: ErrorReporter) -> None:
        self.app = app
        self.cfg = cfg
        self.messages = messages
        self.errors = errors

    def _text_of(self, req: Request) -> str:
        """/incident HOST: the host's address, looked up first (the lookup fills the shared cache)."""
        text = req.text.strip()
        if len(text.split()) != 1 or _is_ip(text) or not _HOST.match(text):
            return text
        result, _ = self.app.lookup(text)
        if not result.addresses:
            raise UserError(f"{text}: no address found for this name")
        return f"{result.addresses[0]} ({text}) named with /incident"

    def run(self, req: Request) -> list[Outcome]:
        text = self._text_of(req)
        intake = Intake.from_text(text, req.origin)
        scanned = self.app.scan(intake)
        if not any(c.reportable for c in scanned.candidates):
            if req.explicit:
                self.errors.tell(req.where, ":grey_question: No reportable address (global, not ours) "
                                            "in that text: nothing drafted.")
            return []
        channel = self.messages.channel
        title = f"Drafting from {blocks.who('slack:' + req.user)}'s {req.how}…"
        ts = self.messages.post(channel, blocks.progress_blocks(title, []), "Drafting an incident…")
        progress = _Progress(self.messages, channel, ts, title, self.cfg.progress_seconds)
        try:
            run = self.app.draft(intake, Actor.slack(req.user), DraftOptions(every=self.cfg.every_attacker),
                                 progress=progress, scanned=scanned)
        except NothingToDo as exc:
            progress.finish(f":grey_question: {mrkdwn_line(str(exc), 300)}")
            return []
        except Exception:
            progress.finish(f":x: Drafting stopped; {blocks.who('slack:' + req.user)} was told why.")
            raise
        self._show(run.outcomes, progress)
        if req.where.channel and req.where.channel != channel and req.explicit:
            done = ", ".join(o.incident_id for o in run.outcomes if o.incident_id) or "nothing"
            self.errors.tell(req.where, f"Done: {mrkdwn_line(done, 300)} in <#{channel}>.")
        return list(run.outcomes)

    def _show(self, outcomes: tuple[Outcome, ...], progress: _Progress) -> None:
        notes: list[str] = []
        used = False
        for out in outcomes:
            if out.status == "drafted":
                if not used:
                    progress.stop()
                    self.messages.show_incident(out.incident_id, channel=progress.channel, ts=progress.ts)
                    used = True
                else:
                    self.messages.show_incident(out.incident_id)
            elif out.status == "merged":
                if self.messages.linked(out.incident_id):
                    self.messages.refresh(out.incident_id)
                else:
                    self.messages.show_incident(out.incident_id)
                notes.append(f"{', '.join(out.ips)}: {out.detail}")
            else:
                notes.append(f"{', '.join(out.ips)}: {out.detail or out.status}")
        if not used:
            progress.finish("\n".join(f"• {mrkdwn_line(n, 400)}" for n in notes) or "Nothing drafted.")
        elif notes:
            self.messages.post(progress.channel, blocks.notice_blocks(
                "\n".join(f"• {mrkdwn_line(n, 400)}" for n in notes)), "Also:", thread_ts=progress.ts)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _Progress:
    """The progress message: lines collected as the core reports them, drawn at most every ``every``."""

    def __init__(self, messages: Messages, channel: str, ts: str, title: str, every: float) -> None:
        self.messages = messages
        self.channel, self.ts, self.title, self.every = channel, ts, title, every
        self.lines: list[str] = []
        self.last = time.monotonic()
        self.stopped = False
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)
            if self.stopped or time.monotonic() - self.last < self.every:
                return
            self.last = time.monotonic()
            lines = list(self.lines)
        self.messages.update(self.channel, self.ts, blocks.progress_blocks(self.title, lines), "Drafting…")

    def stop(self) -> None:
        with self._lock:
            self.stopped = True

    def finish(self, text: str) -> None:
        self.stop()
        self.messages.update(self.channel, self.ts, blocks.notice_blocks(text), "Drafting done")
