"""Settle an incident left "sending" by a crash: say whether the mail went out.

A send is recorded before the SMTP transaction; when the process died during it, nobody knows
whether the relay took the mail, so nothing sends it again by itself. Check the relay's log for the
incident's Message-ID ('incident show ID' prints it), then:
  --sent       it went out: the incident is sent (and counts for suppression);
  --not-sent   it did not: the incident is a draft again, to send with 'incident send ID'.

Exit codes: 0; 1 when the incident is not "sending"; 2 for an unknown incident.
"""

from __future__ import annotations

import argparse

from bot.app import App
from bot.config import Config
from bot.text import visible_line
from handlers.cli.common import actor
from handlers.cli.exits import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("incident", metavar="ID", help="the incident, e.g. INC-20261128-0001")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--sent", dest="sent", action="store_true", help="the relay's log shows it was sent")
    which.add_argument("--not-sent", dest="sent", action="store_false", help="the relay never took it")
    p.add_argument("--note", metavar="TEXT", default="", help="what you checked (kept in the history)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    with App(cfg) as app:
        inc = app.settle(args.incident, actor(), sent=args.sent, note=args.note)
    print(visible_line(f"{inc.id}: {inc.state.value}"))
    return Exit.OK
