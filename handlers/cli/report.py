"""Report the attacker in a log to whoever runs its network (the old incident.pl).

Finds the attacker in FILE (the address seen most, on the attacker side), gathers who runs its
network, writes the report as a draft under report.incident_dir, shows the possible contacts with
where each came from (* marks those it goes to) and asks before sending: answer y, n, d (keep it as
a draft to send later with 'incident send ID'), or the numbers of the contacts to send to. The
optional IP names the attacker; any other STRING isolates the lines holding it, as in the old tool.

With -A or -b, addresses whose contact is the same become one report to that contact
(report.group_by_contact); an address reported within report.suppress_days, or whose last report
was interrupted while being sent, is skipped unless --force. The same attacker again while its
draft is open (report.merge_window_hours) adds its lines to that draft. Without smtp.host the
reports are written, not sent. --draft writes the drafts and stops: nothing is asked or sent, and
the incident ids are printed. A log read from standard input ('-') needs -b, --draft or --dry-run.
With -b, a report whose lookups did not complete, or with no usable contact, is kept as a draft
for a person.

Exit codes: 0 every report was sent, written, kept as you chose, or printed (--dry-run, --draft);
1 nothing to report (no reportable address, every one suppressed, or kept for a person); 2 bad input
or configuration; 3 a send failed after retries (the incident is marked failed, or left "sending"
when the connection broke mid-transaction and the mail may have gone out).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bot.app import App
from bot.config import Config
from bot.errors import NothingToDo, UserError
from bot.flow import STEPS, DraftOptions, Intake, Outcome, Timings
from bot.lifecycle import Actor
from bot.models import Origin
from bot.store import ORIG_EMAIL
from bot.text import visible_text
from handlers.cli.common import actor as cli_actor
from handlers.cli.exits import Exit
from handlers.cli.prompts import TerminalUI


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
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="compose and print every report; write nothing, send nothing")
    mode.add_argument("--draft", action="store_true",
                      help="write the drafts and stop: nothing asked, nothing sent; prints the incident ids")
    p.add_argument("--force", action="store_true",
                   help="report even if already reported recently, interrupted while sending, or open")
    p.add_argument("--timings", action="store_true", help="print the time spent in each step (stderr); with "
                   "-b the sends run beside the drafting, so the steps add up to more than the run")


class _Session:
    """One `incident report` run: the person's answers applied to the drafts through the App."""

    def __init__(self, app: App, args: argparse.Namespace, ui: TerminalUI, actor: Actor,
                 timings: Timings) -> None:
        self.app = app
        self.args = args
        self.ui = ui
        self.actor = actor
        self.timings = timings
        self.description: str | None = args.description if args.description is not None else (
            "" if args.batch else None)
        self.can_send = bool(app.cfg.smtp.host)

    def settle(self, out: Outcome) -> Outcome:
        """Ask about a new (or grown) draft and act on the answer; other outcomes pass through."""
        if out.status not in ("drafted", "merged") or out.draft is None or self.args.draft:
            return out
        inc_id = out.incident_id
        if self.description is None:
            self.description = self.ui.description()
        draft = out.draft  # as the pipeline stored it; read again only when changed here
        if self.description and self.description != draft.description:
            self.app.edit(inc_id, self.actor, description=self.description)
            draft = self.app.store().draft(inc_id)
        path = Path(out.folder) / ORIG_EMAIL
        ips = ", ".join(out.ips) if len(out.ips) < 4 else f"{len(out.ips)} addresses"
        self.ui.progress(f"Email for {ips} written to {path}")
        body = self.ui.review(inc_id, draft.subject, draft.body)
        if body is not None:
            self.app.edit(inc_id, self.actor, body=body)
        answer = self.ui.approve(draft.contacts, draft.recipients, can_send=self.can_send)
        if answer.decision == "skip":
            self.app.skip(inc_id, self.actor, "not sent (your choice)")
            return dataclasses.replace(out, status="skipped", detail="not sent (your choice)")
        if not self.can_send:
            return dataclasses.replace(out, status="written", detail=(
                f"no smtp.host configured: written, not sent: {path} "
                f"(send it later with 'incident send {inc_id}')"))
        if answer.decision == "later":
            return dataclasses.replace(out, status="draft", detail=f"kept as a draft: incident send {inc_id}")
        with self.timings.step("send"):  # batch sends run side by side: their times add up
            return self.app.send(inc_id, self.actor, to=answer.to if answer.to != draft.recipients else None,
                                 unattended=self.args.batch, notice=self.ui.progress)


def _print_outcome(out: Outcome, *, show_draft: bool) -> None:
    ips = ", ".join(out.ips) if len(out.ips) <= 3 else f"{out.ips[0]} and {len(out.ips) - 1} more"
    if out.status == "dry-run" and out.draft is not None and show_draft:
        print(f"\n--- {out.incident_id} (dry run) ---")
        print(f"To: {', '.join(out.recipients) or '(no usable contact)'}")
        print(visible_text(f"Subject: {out.draft.subject}\n"))
        print(visible_text(out.draft.body))
        return
    ref = f"{out.incident_id}: " if out.incident_id else ""
    print(visible_text(f"{ref}{out.status} ({ips})" + (f": {out.detail}" if out.detail else "")))


def exit_code(outcomes: Sequence[Outcome]) -> int:
    statuses = Counter(o.status for o in outcomes)
    if statuses["failed"]:
        return Exit.FAILED
    if any(statuses[s] for s in ("sent", "written", "dry-run", "draft", "drafted", "merged", "skipped")):
        return Exit.OK
    return Exit.NOTHING


def run(args: argparse.Namespace, cfg: Config) -> int:
    if args.file != "-" and not Path(args.file).exists():
        raise UserError(f"{args.file}: no such file")
    if args.file == "-" and not (args.batch or args.dry_run or args.draft):
        # the questions would read the rest of the log (nothing) and every answer would be "no"
        raise UserError("the log comes from standard input, so no question can be answered there: "
                        "add -b (no questions), --draft or --dry-run, or give the log as a FILE")
    batch = bool(args.batch or args.draft or args.dry_run)
    every = bool(args.all_ips or args.ask_each)
    # -a -b: batch answers every question, "process this address?" too: the same run as -A -b
    ask_each = bool(args.ask_each and not batch)
    ui = TerminalUI(batch=batch, bulk=every and not ask_each)
    ui.progress(f"Using config {cfg.path}" if cfg.path else "Using the default configuration (no file)")
    intake = (Intake.from_files(["/dev/stdin"], Origin("stdin")) if args.file == "-"
              else Intake.from_files([args.file]))
    opts = DraftOptions(select=args.select, every=every, description=args.description or "",
                        keep_received=args.keep_received, probe=args.probe, group=every and not ask_each,
                        force=args.force, dry_run=args.dry_run)
    timings = Timings()
    outcomes: list[Outcome] = []
    with App(cfg) as app:
        if cfg.smtp.host and not (args.dry_run or args.draft):
            app.outbox()  # a missing From address is a configuration error before any lookup
        session = _Session(app, args, ui, cli_actor(), timings)
        with timings.step("scan"):
            scanned = app.scan(intake, select=args.select, keep_received=args.keep_received)
        ui.progress(f"Analyzing input... {scanned.lines_read} lines read, "
                    f"{len(scanned.candidates)} addresses.")
        if scanned.unmatched_selector and not args.force:
            raise UserError(f"{scanned.unmatched_selector}: nothing reported (--force to report anyway)")
        reportable = [c for c in scanned.candidates if c.reportable]
        try:
            if not reportable:
                raise NothingToDo(scanned.nothing_reportable())
            if not every:
                ui.progress(f"Attack appears to be from {reportable[0].ip}")
            if ask_each:
                for cand in sorted(reportable, key=lambda c: -c.count):
                    earlier = None if args.force else app.earlier(cand.ip)
                    if earlier is not None:  # checked first: no point asking about it
                        ui.progress(f"{cand.ip}: {earlier.detail}")
                        outcomes.append(earlier)
                    elif not ui.choose_ip(cand):
                        outcomes.append(Outcome("skipped", (cand.ip,), detail="skipped by you"))
                    else:
                        one = app.draft(intake, session.actor, dataclasses.replace(opts, only=(cand.ip,)),
                                        progress=ui.progress, timings=timings, scanned=scanned)
                        outcomes += [session.settle(o) for o in one.outcomes]
            elif args.batch and cfg.smtp.host and not (args.dry_run or args.draft):
                # nobody is asked: each draft is sent while the next ones are written, by as many
                # workers as the outbox keeps connections (smtp.connections)
                with ThreadPoolExecutor(cfg.smtp.connections, thread_name_prefix="send") as pool:
                    sends: list[Future[Outcome]] = []
                    app.draft(intake, session.actor, opts, progress=ui.progress,
                              bulk_progress=ui.bulk_progress, timings=timings, scanned=scanned,
                              on_outcome=lambda o: sends.append(pool.submit(session.settle, o)))
                    outcomes += [f.result() for f in sends]
            else:
                drafted = app.draft(intake, session.actor, opts, progress=ui.progress,
                                    bulk_progress=ui.bulk_progress, timings=timings, scanned=scanned)
                outcomes += [session.settle(o) for o in drafted.outcomes]
        except NothingToDo as exc:
            print(f"Nothing to report: {exc}")
            return Exit.NOTHING
    for out in outcomes:
        _print_outcome(out, show_draft=True)
    counts = Counter(o.status for o in outcomes)
    if len(outcomes) > 1:
        print("reports: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if args.timings:
        parts = " ".join(f"{step}={timings.seconds.get(step, 0.0):.3f}s" for step in STEPS)
        sys.stderr.write(f"timings: {parts} lines={scanned.lines_read}\n")
    return exit_code(outcomes)
