"""Make a skipped (or failed) incident a draft again, to edit and send it.

Exit codes: 0; 1 when its state does not allow it; 2 for an unknown incident.
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


def run(args: argparse.Namespace, cfg: Config) -> int:
    with App(cfg) as app:
        inc = app.reopen(args.incident, actor())
    print(visible_line(f"{inc.id}: a draft again"))
    return Exit.OK
