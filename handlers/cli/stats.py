"""Which abuse desks act: per desk, reports sent, answered by a person, auto-acknowledged, bounced.

A desk is the mail domain of a contact the report went to, with the network reported to it. For
each: the reports that reached it (sent or answered), how many a person answered, how many got only
an automatic acknowledgement, how many bounced, and the median time from sending to the first
answer by a person. --since DAYS counts the reports sent in the last DAYS days.

--json prints one JSON object per desk and line (domain, network, sent, answered, auto_acknowledged,
bounced, median_hours_to_answer).

Exit codes: 0 (also when nothing was sent yet); 2 for a bad option.
"""

from __future__ import annotations

import argparse
import json

from bot import stats
from bot.app import App
from bot.config import Config
from bot.errors import UserError
from bot.text import visible_line
from handlers.cli.exits import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", metavar="DAYS", type=float, help="only reports sent in the last DAYS days")
    p.add_argument("--json", action="store_true", help="one JSON object per desk and line")


def run(args: argparse.Namespace, cfg: Config) -> int:
    if args.since is not None and args.since < 0:
        raise UserError("--since: the number of days must not be negative")
    with App(cfg) as app:
        reports = stats.collect(app.store(), since=stats.since_days(app.now(), args.since))
    desks = stats.summarise(reports)
    if args.json:
        for desk in desks:
            print(json.dumps(desk.as_dict(), ensure_ascii=False))
        return Exit.OK
    if not desks:
        print("No report has been sent" + (f" in the last {args.since:g} days." if args.since else "."))
        return Exit.OK
    for line in stats.table(desks):
        print(visible_line(line))
    return Exit.OK
