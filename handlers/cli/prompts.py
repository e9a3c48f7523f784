"""The questions the command line asks a person, and the $EDITOR round trip.

Everything shown comes from logs, registries and mail: it goes through bot.text's terminal rules.
In batch mode no question is asked; each takes the answer the old tool's -b gave.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.models import Candidate, Contact
from bot.text import visible_line, visible_text
from handlers.cli.common import contact_lines


def ask(prompt: str, default: bool = False) -> bool:
    try:
        answer = input(prompt).strip().lower()
    except EOFError:
        sys.stdout.write("\n")
        return default
    return answer.startswith("y") if answer else default


def edit_text(text: str, *, name: str) -> str | None:
    """``text`` after the person edited it in $VISUAL/$EDITOR; None when nothing usable came back
    (no editor, the editor failed or was abandoned, an empty file): the caller keeps what it had."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        print("(No $VISUAL or $EDITOR is set, so the message cannot be edited here; it is unchanged.)")
        return None
    fd, tmp = tempfile.mkstemp(prefix=f"{name}-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            done = subprocess.run([*shlex.split(editor), tmp], check=False)
        except (OSError, ValueError) as exc:  # no such editor, or an unparsable $EDITOR
            print(f"Cannot run the editor {editor!r} ({exc}); the message is unchanged.")
            return None
        if done.returncode != 0:  # e.g. vim's :cq, the usual way to abandon an edit
            print(f"The editor exited with status {done.returncode}; the message is unchanged.")
            return None
        data = Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)
    try:
        edited = data.decode("utf-8")
    except UnicodeDecodeError:
        edited = data.decode("utf-8", "replace")
        print("The edited message is not UTF-8: characters that could not be read are shown as \ufffd.")
    if not edited.strip():
        print("The edited message is empty; the message as written is kept.")
        return None
    return edited


@dataclass(frozen=True)
class Approval:
    """The person's answer to "send?": ``send`` (to ``to``), ``skip``, or ``later`` (keep the draft)."""

    decision: str
    to: tuple[str, ...] = ()


class TerminalUI:
    """Prompts on the terminal; in batch mode every question takes its default answer."""

    def __init__(self, *, batch: bool, bulk: bool) -> None:
        self.batch = batch
        self.bulk = bulk
        self.bar = sys.stderr.isatty()
        self._bar_shown = False

    def progress(self, line: str) -> None:
        if self._bar_shown:
            sys.stderr.write("\n")
            self._bar_shown = False
        print(visible_text(line), flush=True)

    def bulk_progress(self, done: int, total: int, step: str) -> None:
        if not self.bar or total <= 1:
            return
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\r{step:<7} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self._bar_shown = done < total
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def choose_ip(self, candidate: Candidate) -> bool:
        if self.batch:  # -a -b: batch answers every question with yes, as the old tool's -b did
            return True
        print(f"\n{candidate.ip}: {candidate.count} lines, for example:")
        for line in candidate.evidence.lines[:3]:
            print(f"  {visible_line(line[:200])}")
        return ask(f"Process {candidate.ip}? [y/N] ")

    def description(self) -> str:
        if self.batch or not ask("Add description of attack to message? [y/N] "):
            return ""
        print("Enter description (ctrl-d or an empty line to end):")
        lines: list[str] = []
        while True:
            try:
                line = input()
            except EOFError:
                break
            if not line.strip():
                break
            lines.append(line)
        return "\n".join(lines)

    def review(self, incident_id: str, subject: str, body: str) -> str | None:
        """A new body when the person edited it, else None."""
        if self.batch or not ask("View/edit message? [y/N] "):
            return None
        if not (os.environ.get("VISUAL") or os.environ.get("EDITOR")):
            print(visible_text(f"Subject: {subject}\n\n{body}"))
        return edit_text(body, name=incident_id)

    def approve(self, contacts: Sequence[Contact], chosen: Sequence[str], *, can_send: bool) -> Approval:
        """Whom to send to: the * contacts by default; numbers pick others; 'd' keeps the draft."""
        if not self.batch or not self.bulk:
            print("Possible admin contacts (* the report goes to them):" if contacts
                  else "No contact found for this network.")
            for line in contact_lines(contacts, chosen):
                print(line)
        if self.batch:
            return Approval("send", tuple(chosen))
        if not can_send:
            return Approval("later")
        while True:
            default = ", ".join(chosen) or "nobody (no usable contact)"
            try:
                question = (f"Send message to {default}? "
                            f"[y/N; numbers such as 1,3 to choose; d: keep as a draft] ")
                answer = input(visible_line(question)).strip().lower()
            except EOFError:
                sys.stdout.write("\n")
                return Approval("skip")
            if answer in ("d", "draft", "later"):
                return Approval("later")
            if answer.startswith("y"):
                return Approval("send", tuple(chosen)) if chosen else Approval("later")
            if not answer or answer.startswith("n"):
                return Approval("skip")
            picked = _numbers(answer, len(contacts))
            if picked:
                return Approval("send", tuple(contacts[i - 1].address for i in picked))
            print(f"Answer y, n, d, or numbers between 1 and {len(contacts)} separated by commas.")


def _numbers(answer: str, count: int) -> list[int]:
    picked: list[int] = []
    for word in answer.replace(",", " ").split():
        if not word.isdigit() or not 1 <= int(word) <= count:
            return []
        picked.append(int(word))
    return list(dict.fromkeys(picked))
