"""The ``incident`` command line.

Each subcommand lives in its own module (handlers/cli/<name>.py) exposing ``add_arguments(parser)``
and ``run(args, config) -> int``; its module docstring is its help text. They are registered in
``COMMANDS`` below and nowhere else. Exit codes: handlers/cli/exits.py.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from bot import __version__
from bot import config as config_mod
from bot.errors import IncidentError, LookupFailed, SendError, StoreError, UserError
from bot.lifecycle import Conflict
from bot.text import visible_line
from handlers.cli.exits import Exit

# name -> module under handlers/. The order is the order shown in --help.
COMMANDS: dict[str, str] = {
    "scan": "handlers.cli.scan",
    "lookup": "handlers.cli.lookup",
    "report": "handlers.cli.report",
    "list": "handlers.cli.list",
    "show": "handlers.cli.show",
    "edit": "handlers.cli.edit",
    "send": "handlers.cli.send",
    "skip": "handlers.cli.skip",
    "reopen": "handlers.cli.reopen",
    "settle": "handlers.cli.settle",
    "followup": "handlers.cli.followup",
    "serve": "handlers.cli.serve",
    "stats": "handlers.cli.stats",
}

log = logging.getLogger("incident")


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our usage code and a one-line message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(Exit.USAGE)


def _load_commands() -> dict[str, ModuleType]:
    return {name: importlib.import_module(mod) for name, mod in COMMANDS.items()}


def build_parser(commands: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="incident",
        description="Find the attacker in a log, learn who runs its network, and report it to them.",
    )
    parser.add_argument("--version", action="version", version=f"incident-bot {__version__}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: ./incident.toml, "
                        "then ~/.config/incident-bot/config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in commands.items():
        doc = (module.__doc__ or "").strip()
        summary = doc.splitlines()[0] if doc else name
        p = sub.add_parser(name, help=summary, description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    commands = _load_commands()
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = config_mod.load(args.config)
        return int(commands[args.command].run(args, cfg))
    except Conflict as exc:  # the incident's state does not allow it: said as the core says it
        sys.stderr.write(f"incident: {visible_line(str(exc))}\n")
        return Exit.NOTHING
    except UserError as exc:
        sys.stderr.write(f"incident: error: {visible_line(str(exc))}\n")
        return Exit.USAGE
    except StoreError as exc:  # its text is written for a person: a folder or index we cannot use
        sys.stderr.write(f"incident: error: incident store: {visible_line(str(exc))}\n")
        return Exit.USAGE
    except (LookupFailed, SendError) as exc:
        sys.stderr.write(f"incident: error: {visible_line(str(exc))}\n")
        return Exit.FAILED
    except KeyboardInterrupt:
        sys.stderr.write("incident: interrupted\n")
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `incident scan ... | head`): not an error worth a traceback.
        sys.stderr.close()
        return Exit.OK
    except (IncidentError, Exception):
        where = _log_traceback()
        sys.stderr.write(f"incident: internal error; details in {where}\n")
        return Exit.INTERNAL


def _log_traceback() -> str:
    fd, name = tempfile.mkstemp(prefix="incident-error-", suffix=".log")
    with open(fd, "w", encoding="utf-8") as fh:
        fh.write(traceback.format_exc())
    log.debug("traceback written to %s", name)
    return str(Path(name))

