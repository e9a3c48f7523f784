"""What the mailbox intake returns for one mail, and the folders a processed message goes to."""

from __future__ import annotations

from dataclasses import dataclass

DONE = "done"               # a draft made or fed, a reply filed, an approval done, our own notice
NO_REPORT = "no-report"     # an alert with nothing reportable (own networks only, no address)
UNMATCHED = "unmatched"     # a reply no incident claims (also kept in the store's unmatched/)
QUARANTINE = "quarantine"   # unreadable, oversized, or failing every time: kept with the reason
LEAVES = (DONE, NO_REPORT, UNMATCHED, QUARANTINE)


@dataclass(frozen=True)
class Source:
    folder: str
    uid: int
    replies_only: bool = False      # a reply folder: never read as an alert


@dataclass(frozen=True)
class Handled:
    outcome: str                    # drafted, merged, suppressed, filed, unmatched, no-report, rejected...
    leaf: str                       # the folder it goes to: one of LEAVES
    detail: str
    incidents: tuple[str, ...] = ()
    message_id: str = ""
