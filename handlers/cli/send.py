"""Send a draft (or a failed incident) as it is stored, from any process, at any time later.

Nothing is looked up again: the report, its recipients and attachments come from the store. The send
is recorded before the SMTP transaction starts, so two sends of one incident at once deliver one
mail; the second is told who sent it and when. --to replaces the recipients (repeat it for several).

Exit codes: 0 sent; 1 not sent because of the incident's state (already sent, being sent, skipped)
or because the same address or contact was reported within report.suppress_days (--force to send
anyway); 2 bad input (unknown incident, no usable recipient, no smtp.host); 3 the send failed.
"""

from __future__ import annotations

import argparse
import sys

from bot.app import App
from bot.config import Config
from bot.text import visible_line
from handlers.cli.common import actor
from handlers.cli.exits import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("incident", metavar="ID", help="the incident, e.g. INC-20261128-0001")
    p.add_argument("--to", metavar="ADDRESS", action="append", help="send to this address instead "
                   "(repeat for several)")
    p.add_argument("--force", action="store_true", help="send even if the address or contact was reported "
                   "within report.suppress_days")


def _notice(line: str) -> None:
    sys.stderr.write(visible_line(line) + "\n")


def run(args: argparse.Namespace, cfg: Config) -> int:
    with App(cfg) as app:
        out = app.send(args.incident, actor(), to=args.to, force=args.force, notice=_notice)
    print(visible_line(f"{out.incident_id}: {out.status}: {out.detail}"))
    return Exit.OK if out.status == "sent" else Exit.FAILED
