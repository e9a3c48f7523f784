"""Mark a draft (or a failed incident) as not to be sent, with an optional reason kept in its history.

'incident reopen ID' makes it a draft again.

Exit codes: 0; 1 when its state does not allow it (already sent...); 2 for an unknown incident.
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
    p.add_argument("--reason", metavar="TEXT", default="", help="why (kept in the history)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    with App(cfg) as app:
        inc = app.skip(args.incident, actor(), args.reason)
    print(visible_line(f"{inc.id}: skipped" + (f" ({args.reason})" if args.reason else "")))
    return Exit.OK
