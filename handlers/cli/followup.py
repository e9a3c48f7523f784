"""File a reply to a sent report with its incident (the old -e): incident followup < message.eml

Reads one mail on standard input (pipe it from your mail client), finds its incident by the
Message-IDs it answers (In-Reply-To, References), then by the [INC-...] token in the subject, then by
the subject itself, and stores it beside the report as followup-<time>.eml. A sent incident becomes
"answered". A mail that matches no incident is kept in <report.incident_dir>/unmatched/, never dropped.

Exit codes: 0 filed with its incident; 1 kept in unmatched/; 2 not a mail (or bad configuration).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.config import Config
from bot.errors import InputError, StoreError, UserError
from bot.mail import replies
from bot.store import Store
from handlers.cli.exits import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", metavar="PATH", help="read the mail from PATH instead of standard input")


def run(args: argparse.Namespace, cfg: Config) -> int:
    if args.file:
        try:
            raw = Path(args.file).read_bytes()
        except OSError as exc:
            raise InputError(f"{args.file}: {exc.strerror}") from exc
    else:
        raw = sys.stdin.buffer.read()
    msg = replies.parse(raw, args.file or "standard input")  # InputError (one line) when it is not a mail
    try:
        store = Store(Path(cfg.report.incident_dir).expanduser())
        found = replies.match(msg, store)
        prior = store.followup_filed(raw)
        if found.incident is None:
            path = store.file_followup(None, raw)
            again = " (filed there before; not copied again)" if prior and prior[1] == path else ""
            print(f"No incident matches this mail (subject: {replies.subject(msg)[:120]!r}); "
                  f"kept in {path}{again}")
            return Exit.NOTHING
        path = store.file_followup(found.incident.id, raw)
        others = [i for i in replies.subject_tokens(msg, store) if i.lower() != found.incident.id.lower()] \
            if found.how == "message-id" else []
    except StoreError as exc:  # its text is written for a person: a folder or index we cannot use
        raise UserError(f"incident store: {exc}") from exc
    if prior and prior[1] == path:
        print(f"Already filed with {found.incident.id} ({found.incident.ip}): {path}; not copied again")
    else:
        print(f"Filed with {found.incident.id} ({found.incident.ip}, matched by {found.how}): {path}")
    if others:  # the headers and the subject disagree: say so, a person decides
        print(f"Note: its subject names {', '.join(others)}, but it answers a message of "
              f"{found.incident.id}; filed with {found.incident.id}")
    return Exit.OK
