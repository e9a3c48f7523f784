"""The exit codes of every ``incident`` command, in one place (the README's table says the same).

An IntEnum, so a command returns ``Exit.NOTHING`` and the shell sees 1.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0          # done: found, sent, written, filed
    NOTHING = 1     # nothing found or nothing to do (no candidate, all suppressed, unmatched reply)
    USAGE = 2       # bad input or configuration; a one-line message says what
    FAILED = 3      # a network lookup or a send failed after retries
    INTERRUPTED = 130
    INTERNAL = 70   # a bug: the message says where the traceback was written
