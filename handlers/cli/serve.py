"""Run the bot: forwarded alerts become drafts, replies are filed with their incident, jobs run.

Reads the [mailbox] folders over IMAP (IDLE where the server offers it, else polling every
mailbox.poll_seconds). Each alert mail becomes a draft for each attacker it shows (or adds to the
attacker's open draft); each reply to a sent report is filed with its incident (a bounce marks its
recipient failed and drafts the report to the next contact, for a person). Nothing is sent without
a person, except a retry of a send that failed for a temporary reason. Processed mail is flagged
and moved under mailbox.folder_prefix: done, no-report, unmatched, quarantine. Nothing is deleted.

New drafts, filed replies and reminders are told in Slack when [slack] is configured, else mailed
to serve.operators. Scheduled jobs: reminders (serve.reminder_days), a retry of failed sends
(serve.retry_failed_minutes), lookup-cache upkeep. Logs go to standard error, one event a line.

SIGTERM or SIGINT stops it within serve.shutdown_seconds. --once reads what is waiting, runs each
job once, and exits (for cron). The IMAP password comes from the environment variable named by
mailbox.password_env, or the file mailbox.password_file.

Exit codes: 0 stopped by a signal, or --once done; 2 bad configuration, or another 'incident serve'
uses the same incident folder; 3 with --once, a mailbox could not be read.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from bot.config import Config
from bot.errors import UserError
from handlers.cli.exits import Exit


class OneLine(logging.Formatter):
    """``2026-11-28T10:02:03Z INFO incident.mailbox: INBOX uid=12 drafted INC-...``: one event a line,
    a traceback's line ends written as ``\\n`` (a log line is never split, nor forged by a subject)."""

    converter = time.gmtime  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ")

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true",
                   help="read the mail waiting now, run each scheduled job once, and exit")


def run(args: argparse.Namespace, cfg: Config) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLine())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler], force=True)
    for noisy in ("apscheduler", "imapclient", "urllib3", "slack_bolt", "slack_sdk"):
        logging.getLogger(noisy).setLevel(logging.INFO if args.verbose else logging.WARNING)
    if not cfg.mailbox.host and not args.once:
        logging.getLogger("incident.serve").info("no mailbox.host: the mailbox is not read")
    from handlers.serve import Serve

    try:
        return Serve(cfg).run(once=args.once)
    except UserError:
        raise
    except KeyboardInterrupt:
        return Exit.OK
