"""File a reply to a sent report with its incident (the old -e): incident followup < message.eml

Reads one mail on standard input (pipe it from your mail client), finds its incident by the
Message-IDs it answers (In-Reply-To, References), then by the [INC-...] token in the subject, then by
the subject itself, and stores it beside the report as followup-<time>.eml. A sent incident becomes
"answered". A mail that matches no incident is kept in <report.incident_dir>/unmatched/, and one
that cannot be read as a mail in rejected/ with the reason: never dropped.

Exit codes: 0 filed with its incident; 1 kept in unmatched/; 2 not a mail (kept in rejected/ when
there was anything to keep), or bad configuration.
"""

from __future__ import annotations

import argparse
import sys

from bot.app import App
from bot.config import Config
from bot.errors import InputError
from bot.text import visible_line
from handlers.cli.common import actor
from handlers.cli.exits import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", metavar="PATH", help="read the mail from PATH instead of standard input")


def run(args: argparse.Namespace, cfg: Config) -> int:
    origin = args.file or "standard input"
    with App(cfg) as app:
        if args.file:
            try:
                with open(args.file, "rb") as fh:
                    out = app.file_reply(fh, actor())
            except OSError as exc:
                raise InputError(f"{args.file}: {exc.strerror}") from exc
        else:  # read as a stream: a large mail is spooled to disk, never held whole
            out = app.file_reply(sys.stdin.buffer, actor())
    again = " (filed there before; not copied again)" if out.again else ""
    if out.status == "rejected" and out.reason.startswith("empty"):
        raise InputError(f"no mail in {origin}")
    if out.status == "rejected":
        raise InputError(f"{origin} is not a mail that can be read ({out.reason}); kept in {out.path}{again}")
    if out.incident is None:
        print(visible_line(f"No incident matches this mail; kept in {out.path}{again}"))
        return Exit.NOTHING
    inc = out.incident
    if out.again:
        print(visible_line(f"Already filed with {inc.id} ({inc.ip}): {out.path}; not copied again"))
    else:
        what = {"auto_ack": "an automatic acknowledgement", "bounce": "a bounce"}.get(out.kind, "a reply")
        ticket = f", their ticket {out.ticket}" if out.ticket else ""
        print(visible_line(f"Filed with {inc.id} ({inc.ip}, matched by {out.how}; {what}{ticket}): "
                           f"{out.path}"))
        if out.proposed is not None:
            print(visible_line(f"A draft to the next contact is waiting: {out.proposed.incident_id} "
                               f"({', '.join(out.proposed.recipients)}); send it with "
                               f"'incident send {out.proposed.incident_id}'"))
    if out.note:  # the headers and the subject disagree: say so, a person decides
        print(visible_line(f"Note: {out.note}"))
    return Exit.OK
