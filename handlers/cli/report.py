"""Report the attacker in a log to whoever runs its network (the old incident.pl).

Finds the attacker in FILE (the address seen most, on the attacker side), gathers who runs its
network, writes a report under report.incident_dir, shows the possible contacts with where each came
from (* marks those the report goes to) and asks before sending. The optional IP names the attacker;
any other STRING isolates the lines holding it, as in the old tool.

With -A or -b, addresses whose contact is the same become one report to that contact
(report.group_by_contact); an address reported within report.suppress_days, or whose last report
was interrupted while being sent, is skipped unless --force. Without smtp.host in the
configuration, reports are written, not sent, and the output says where. A log read from standard
input ('-') needs -b or --dry-run: the questions could not be answered there.

Exit codes: 0 every report was sent, written or skipped by you (or --dry-run); 1 nothing to report
(no reportable address, or every one was suppressed or had no contact); 2 bad input or
configuration; 3 a send failed after retries (the incident is marked failed, or left "sending"
when the connection broke mid-transaction and the mail may have gone out).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bot.compose import with_body
from bot.config import Config
from bot.contacts import explain
from bot.errors import NothingToDo, StoreError, UserError
from bot.models import Candidate, Contact, Draft
from bot.pipeline import STEPS, Options, Outcome, Pipeline
from bot.text import visible_text
from handlers.cli.exits import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="log excerpt to analyse ('-' for standard input)")
    p.add_argument("select", metavar="IP|STRING", nargs="?", help="the attacker, or a string isolating lines")
    many = p.add_mutually_exclusive_group()
    many.add_argument("-a", dest="ask_each", action="store_true",
                      help="every address in the input, by count, asking before each (with a short excerpt)")
    many.add_argument("-A", dest="all_ips", action="store_true",
                      help="every address in the input, by count, without asking before each")
    p.add_argument("-b", "--batch", action="store_true",
                   help="batch: no questions; the * contacts get the report (old: assume yes)")
    p.add_argument("-d", "--description", metavar="TEXT",
                   help="the description of the attack (otherwise asked; none with -b)")
    p.add_argument("-r", dest="keep_received", action="store_true", default=None,
                   help='keep lines holding "Received:" (mail headers), normally ignored')
    probe = p.add_mutually_exclusive_group()
    probe.add_argument("--probe", dest="probe", action="store_true", default=None,
                       help="probe the attacker's ports (default: probe.enabled)")
    probe.add_argument("--no-probe", "-H", dest="probe", action="store_false", help="do not probe (old -H)")
    p.add_argument("--dry-run", action="store_true",
                   help="compose and print the reports; write nothing, send nothing")
    p.add_argument("--force", action="store_true",
                   help="report even if already reported recently or interrupted while sending")
    p.add_argument("--timings", action="store_true", help="print the time spent in each step (stderr)")


def _ask(prompt: str, default: bool = False) -> bool:
    try:
        answer = input(prompt).strip().lower()
    except EOFError:
        sys.stdout.write("\n")
        return default
    return answer.startswith("y") if answer else default


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
            print(f"  {visible_text(line[:200])}")
        return _ask(f"Process {candidate.ip}? [y/N] ")

    def description(self) -> str:
        if self.batch or not _ask("Add description of attack to message? [y/N] "):
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

    def review(self, draft: Draft, path: Path) -> Draft:
        if self.batch or not _ask("View/edit message? [y/N] "):
            return draft
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            print(visible_text(f"Subject: {draft.subject}\n\n{draft.body}"))
            print("(No $VISUAL or $EDITOR is set, so the message cannot be edited here; it is unchanged.)")
            return draft
        fd, tmp = tempfile.mkstemp(prefix=f"{draft.incident_id}-", suffix=".txt")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(draft.body)
            try:
                done = subprocess.run([*shlex.split(editor), tmp], check=False)
            except (OSError, ValueError) as exc:  # no such editor, or an unparsable $EDITOR
                print(f"Cannot run the editor {editor!r} ({exc}); the message is unchanged.")
                return draft
            if done.returncode != 0:  # e.g. vim's :cq, the usual way to abandon an edit
                print(f"The editor exited with status {done.returncode}; the message is unchanged.")
                return draft
            data = Path(tmp).read_bytes()
        finally:
            Path(tmp).unlink(missing_ok=True)
        try:
            body = data.decode("utf-8")
        except UnicodeDecodeError:
            body = data.decode("utf-8", "replace")
            print("The edited message is not UTF-8: characters that could not be read are shown as \ufffd.")
        if not body.strip():
            print("The edited message is empty; the message as written is kept.")
            return draft
        return with_body(draft, body)

    def approve(self, draft: Draft, contacts: Sequence[Contact],
                chosen: Sequence[Contact]) -> tuple[str, ...]:
        default = tuple(c.address for c in chosen)
        if not self.batch or not self.bulk:
            print("Possible admin contacts:" if contacts else "No contact found for this network.")
            for c in contacts:
                mark = "*" if c in chosen else " "
                print(f" {mark} {visible_text(explain(c))}")
        if self.batch:
            return default
        if not default:
            print("No usable contact: the report is written, not sent.")
            return ()
        if _ask(visible_text(f"Send message to {', '.join(default)}? [y/N] ")):
            return default
        return ()


def _print_outcome(out: Outcome, *, show_draft: bool) -> None:
    ips = ", ".join(out.ips) if len(out.ips) <= 3 else f"{out.ips[0]} and {len(out.ips) - 1} more"
    ref = f"{out.incident_id}: " if out.incident_id else ""
    if out.status == "dry-run" and out.draft is not None and show_draft:
        print(f"\n--- {out.incident_id} (dry run) ---")
        print(f"To: {', '.join(out.recipients) or '(no usable contact)'}")
        print(visible_text(f"Subject: {out.draft.subject}\n"))
        print(visible_text(out.draft.body))
        return
    text = f"{ref}{out.status} ({ips})" + (f": {out.detail}" if out.detail else "")
    print(visible_text(text))


def exit_code(outcomes: Sequence[Outcome]) -> int:
    statuses = Counter(o.status for o in outcomes)
    if statuses["failed"]:
        return Exit.FAILED
    if statuses["sent"] or statuses["written"] or statuses["dry-run"] or statuses["draft"]:
        return Exit.OK
    if any(o.status == "skipped" and o.detail != "no usable contact" for o in outcomes):
        return Exit.OK
    return Exit.NOTHING


def build_pipeline(cfg: Config, *, dry_run: bool) -> Pipeline:
    """The real collaborators, built from the configuration (the only place `report` wires them)."""
    from bot.clients import build_clients
    from bot.gather import Gatherer
    from bot.mail.outbox import Outbox
    from bot.scan import collect_evidence, scan_paths
    from bot.store import Store

    store = None if dry_run else Store(Path(cfg.report.incident_dir).expanduser())
    outbox = Outbox(cfg.smtp) if cfg.smtp.host and not dry_run else None
    gatherer = Gatherer(cfg, build_clients(cfg))
    return Pipeline(cfg, gatherer=gatherer, store=store, outbox=outbox, scan=scan_paths,
                    evidence=collect_evidence)


def run(args: argparse.Namespace, cfg: Config) -> int:
    if args.file != "-" and not Path(args.file).exists():
        raise UserError(f"{args.file}: no such file")
    if args.file == "-" and not (args.batch or args.dry_run):
        # the questions would read the rest of the log (nothing) and every answer would be "no"
        raise UserError("the log comes from standard input, so no question can be answered there: "
                        "add -b (no questions) or --dry-run, or give the log as a FILE")
    if cfg.smtp.host and not args.dry_run:
        from bot.mail.message import sender

        sender(cfg)  # a missing From address is a configuration error before any lookup
    opts = Options(
        # -a -b: batch answers every question, "process this address?" too: the same run as -A -b
        select=args.select, all_ips=bool(args.all_ips or args.ask_each),
        ask_each=bool(args.ask_each and not args.batch),
        description=args.description if args.description is not None else ("" if args.batch else None),
        keep_received=args.keep_received, probe=args.probe, dry_run=args.dry_run, force=args.force,
    )
    ui = TerminalUI(batch=args.batch, bulk=opts.all_ips and not opts.ask_each)
    ui.progress(f"Using config {cfg.path}" if cfg.path else "Using the default configuration (no file)")
    paths = ["/dev/stdin"] if args.file == "-" else [args.file]
    pipeline = None
    try:
        pipeline = build_pipeline(cfg, dry_run=args.dry_run)
        result = pipeline.run(paths, opts, ui)
    except NothingToDo as exc:
        print(f"Nothing to report: {exc}")
        return Exit.NOTHING
    except StoreError as exc:  # its text is written for a person: a folder or index we cannot use
        raise UserError(f"incident store: {exc}") from exc
    finally:
        if pipeline is not None and pipeline.outbox is not None:
            pipeline.outbox.close()
    for out in result.outcomes:
        _print_outcome(out, show_draft=len(result.outcomes) == 1 or not ui.bulk)
    counts = Counter(o.status for o in result.outcomes)
    if len(result.outcomes) > 1:
        print("reports: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if args.timings:
        parts = " ".join(f"{step}={result.timings.get(step, 0.0):.3f}s" for step in STEPS)
        sys.stderr.write(f"timings: {parts} lines={result.lines_read}\n")
    return exit_code(result.outcomes)
