"""List incidents, newest first: drafts waiting for a person, sent reports, answers...

Each line: id, state, addresses, recipients, created. Drafts left by an interrupted run are listed
like any other draft; an incident left "sending" by a crash is listed as such (settle it with
'incident settle ID').

--json prints one JSON object per line (id, state, ips, recipients, delivery, created, updated, sent,
subject, domain, folder) for scripts.

Exit codes: 0 (also when nothing is listed); 2 for a bad option.
"""

from __future__ import annotations

import argparse
import json

from bot.app import App
from bot.config import Config
from bot.errors import UserError
from bot.text import visible_line
from handlers.cli.common import parse_states, stamp, summary_json
from handlers.cli.exits import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", metavar="STATE", help="only these states, comma-separated "
                   "(draft, sending, sent, failed, skipped, answered)")
    p.add_argument("--since", metavar="DAYS", type=float, help="only incidents created in the last DAYS days")
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args: argparse.Namespace, cfg: Config) -> int:
    if args.since is not None and args.since < 0:
        raise UserError("--since: the number of days must not be negative")
    with App(cfg) as app:
        found = app.incidents(states=parse_states(args.state), since_days=args.since)
    for inc in found:
        if args.json:
            print(json.dumps(summary_json(inc), ensure_ascii=False))
        else:
            ips = ", ".join(inc.ips[:3]) + (f" +{len(inc.ips) - 3}" if len(inc.ips) > 3 else "")
            print(visible_line(f"{inc.id}  {inc.state.value:<8}  {ips:<32}  {stamp(inc.created)}  "
                               f"{', '.join(inc.recipients) or '(no recipient)'}"))
    return Exit.OK
