"""Find the attacker in log files: every address found, ranked, with counts and times.

    incident scan FILE... [IP|STRING] [-r] [--json] [--all-addresses]

Reads the files (``-`` is standard input; gzip-compressed and UTF-16 files are decoded) and lists
the addresses found, the most likely attacker first: attacker-side mentions (the source of "A -> B",
SRC=, "from X", rhost=, the client of a proxy chain...) count before plain mentions. Own networks
and host names (config [scan]) are never listed; private, loopback, documentation... addresses are
marked not reportable and come after the public ones unless --all-addresses is given. Times are
shown in UTC.

Inputs of 8 MB and more (without a selector) are counted shape by shape in two processes, with the
same rules: only the top 10 candidates then get first/last seen and evidence lines. Counts are
exact for the 100,000 busiest addresses; beyond that (an attacker rotating IPv6 addresses) the least
active are summarised and the output says that counts became approximate. Standard input is kept in
a temporary file (removed on exit, also on SIGTERM) up to 256 MB, and read as a stream beyond.

The optional last argument works as in the old tool: an IP names the attacker (its lines are the
evidence), any other string keeps only the lines that contain it. Rule: the last positional
argument is that selector when there are at least two and it is not an existing file; use
-s/--select to say it explicitly (e.g. when a file has the selector's name).

Exit status: 0 when a candidate was found, 1 when the input holds no usable address, 2 for a
missing, unreadable or empty input or a bad argument.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.errors import UserError
from bot.models import Candidate, ScanResult
from bot.scan import scan_lines, scan_paths
from bot.scan.reading import MAX_LINE, needs_decoding
from bot.text import visible_line
from handlers.cli.exits import Exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = ("%(prog)s FILE... [IP|STRING] [-s IP|STRING] [-r] [--json] [--all-addresses] [-n N]")
    parser.add_argument("inputs", nargs="+", metavar="FILE... [IP|STRING]",
                        help="log files ('-' for standard input), then optionally an IP or a string")
    parser.add_argument("-s", "--select", metavar="IP|STRING",
                        help="the attacker's IP, or a string isolating the lines to consider")
    parser.add_argument("-r", "--keep-received", action="store_true", default=None,
                        help="do not ignore lines holding 'Received:' (mail headers)")
    parser.add_argument("--all-addresses", action="store_true", default=None,
                        help="rank private, loopback, documentation... addresses like public ones")
    parser.add_argument("--json", action="store_true", help="print one JSON document for scripts")
    parser.add_argument("-n", "--limit", type=int, default=20, metavar="N",
                        help="candidates shown in the table (default 20, 0: all)")


def split_inputs(inputs: list[str], select: str | None) -> tuple[list[str], str | None]:
    """The files and the selector, by the rule of the module docstring."""
    files = list(inputs)
    if select is None and len(files) >= 2 and files[-1] != "-" and (
            files[-1] == "" or not Path(files[-1]).exists()):
        select = files.pop()
    return files, select


def run(args: argparse.Namespace, cfg: Config) -> int:
    files, select = split_inputs(args.inputs, args.select)
    if select == "":
        raise UserError("the selector (IP or string) is empty")
    if "" in files:
        raise UserError("an empty file name was given")
    if files.count("-") > 1:
        raise UserError("standard input ('-') can be given once")
    kwargs: dict[str, Any] = {"select": select, "keep_received": args.keep_received,
                              "allow_non_global": args.all_addresses}
    if files == ["-"]:
        result = _scan_stdin(cfg, kwargs)
    elif "-" in files:
        raise UserError("standard input ('-') cannot be mixed with files")
    else:
        result = scan_paths(files, cfg.scan, **kwargs)
    if args.json:
        sys.stdout.write(json.dumps(to_json(result), indent=2) + "\n")
    else:
        sys.stdout.write(render(result, args.limit))
    if result.attacker is None:
        if not args.json:
            sys.stderr.write(_nothing(result, select is not None and args.select is None) + "\n")
        return Exit.NOTHING
    return Exit.OK


def _nothing(result: ScanResult, guessed: bool) -> str:
    """Why no candidate came out: a selector that matched no line is named (it may be a mistyped file)."""
    if result.select_string is not None and result.unmatched_selector is not None:
        why = f"incident: no line contains {visible_line(result.select_string)!r}"
        if guessed:
            why += " (taken as the selector: there is no file of that name)"
        return why
    why = "incident: no address found in the input"
    aside = result.set_aside()
    return why + (f" ({'; '.join(aside)})" if aside else "")


STDIN_SPOOL_MAX = 256 << 20     # bytes of standard input kept in a temporary file


def _scan_stdin(cfg: Config, kwargs: dict[str, Any]) -> ScanResult:
    """Standard input is copied to a temporary file first (up to STDIN_SPOOL_MAX bytes), so that a big
    one is counted in parallel; beyond that, the file and the rest of the input are read as one
    stream (memory stays bounded either way). The file is removed on exit, also on SIGTERM/SIGHUP."""
    if sys.stdin is None:       # started with standard input closed ("<&-")
        raise UserError("standard input is closed: give a file, or pipe the log in")
    with _removed_on_signal(), tempfile.NamedTemporaryFile(prefix="incident-scan-", suffix=".log") as tmp:
        source = sys.stdin.buffer
        try:
            left = STDIN_SPOOL_MAX
            while left > 0:
                block = source.read(min(1 << 20, left))
                if not block:
                    break
                tmp.write(block)
                left -= len(block)
            tmp.flush()
            more = source.read(1) if left <= 0 else b""
        except OSError as exc:
            raise UserError(f"cannot read standard input ({exc.strerror or exc})") from exc
        if not more:
            return scan_paths([tmp.name], cfg.scan, **kwargs)
        if needs_decoding(tmp.name):
            raise UserError(f"standard input of more than {STDIN_SPOOL_MAX >> 20} MB is read as plain text: "
                            "give a compressed or UTF-16 log as a FILE")

        def blocks() -> Iterator[bytes]:
            with open(tmp.name, "rb") as spooled:
                while block := spooled.read(1 << 20):
                    yield block
            yield more
            while block := source.read(1 << 20):
                yield block

        return scan_lines(_lines(blocks()), cfg.scan, **kwargs)


def _lines(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """The lines of a stream of byte blocks (a line may run over several blocks)."""
    rest = b""
    for block in blocks:
        parts = (rest + block).split(b"\n")
        rest = parts.pop()
        yield from parts
        while len(rest) > MAX_LINE:     # a line without end is cut, as files' lines are
            yield rest[:MAX_LINE]
            rest = rest[MAX_LINE:]
    if rest:
        yield rest


@contextmanager
def _removed_on_signal() -> Iterator[None]:
    """SIGTERM and SIGHUP end the command like Ctrl-C does, so that `with` blocks (the temporary
    file) are left and cleaned up; the handlers before are restored after."""
    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with suppress(ValueError):          # not the main thread: nothing to install
            previous[sig] = signal.signal(sig, leave)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t is not None else "-"


def render(result: ScanResult, limit: int) -> str:
    out: list[str] = []
    top = result.attacker
    used = f"{result.lines_used} of {result.lines_read} lines used"
    if result.lines_skipped_received:
        used += f", {result.lines_skipped_received} 'Received:' lines ignored (-r keeps them)"
    if result.select_string is not None:
        used += f", isolated by {visible_line(result.select_string)!r}"
    out.append(used)
    out += result.set_aside()
    if result.approximate:
        out.append(f"counts are approximate: more distinct addresses than are counted exactly; "
                   f"{result.summarised} of the least active were summarised (~ marks an estimate)")
    if top is None:
        return "\n".join(out) + "\n"
    if result.selected:
        why = "named on the command line" + ("" if top.count else ", but not found in the input")
    else:
        why = "appears to be the attacker"
        if not top.reportable:
            why += " (not reportable: not a public address)"
    out.append(f"{top.ip} {why}")
    out.append("")
    shown = result.candidates if limit <= 0 else result.candidates[:limit]
    rows: list[tuple[str, ...]] = [
        ("IP", "COUNT", "ATTACKER-SIDE", "ROLE", "REPORTABLE", "FIRST SEEN (UTC)", "LAST SEEN (UTC)")]
    rows += [_row(c) for c in shown]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    if len(shown) < len(result.candidates):
        out.append(f"... {len(result.candidates) - len(shown)} more (-n 0 shows all)")
    return "\n".join(out) + "\n"


def _row(c: Candidate) -> tuple[str, ...]:
    mark = "~" if c.approximate else ""
    return (c.ip, mark + str(c.count), mark + str(c.source_count), c.role.value,
            "yes" if c.reportable else "no", _when(c.evidence.first_seen), _when(c.evidence.last_seen))


def to_json(result: ScanResult) -> dict[str, Any]:
    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t is not None else None

    return {
        "attacker": result.attacker.ip if result.attacker else None,
        "selected": result.selected,
        "select_string": result.select_string,
        "lines_read": result.lines_read,
        "lines_used": result.lines_used,
        "lines_skipped_received": result.lines_skipped_received,
        "lines_ambiguous": result.lines_ambiguous,
        "lines_crowded": result.lines_crowded,
        "unmatched_selector": result.unmatched_selector,
        "approximate": result.approximate,
        "summarised": result.summarised,
        "candidates": [
            {"ip": c.ip, "count": c.count, "source_count": c.source_count,
             "destination_count": c.destination_count, "role": c.role.value, "reportable": c.reportable,
             "approximate": c.approximate,
             "first_seen": iso(c.evidence.first_seen), "last_seen": iso(c.evidence.last_seen),
             "evidence": list(c.evidence.lines)}
            for c in result.candidates
        ],
    }

