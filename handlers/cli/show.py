"""Show one incident: its state, recipients, the contacts found with where each came from, the
report as it stands, the replies filed with it, and its history (who did what, when).

--json prints the same as one JSON document.

Exit codes: 0; 2 for an unknown incident.
"""

from __future__ import annotations

import argparse

from bot.app import App
from bot.config import Config
from handlers.cli.common import print_view
from handlers.cli.exits import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("incident", metavar="ID", help="the incident, e.g. INC-20261128-0001")
    p.add_argument("--json", action="store_true", help="one JSON document")


def run(args: argparse.Namespace, cfg: Config) -> int:
    with App(cfg) as app:
        print_view(app.show(args.incident), as_json=args.json)
    return Exit.OK
