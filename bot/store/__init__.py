"""The incident store: one folder per incident on disk, and a sqlite index of all of them.

Layout (the old tool's, kept)::

    <report.incident_dir>/
        index.sqlite                      the index: states, addresses, recipients, Message-IDs,
                                          the drafts kept whole, the history of every change
        <domain>/<timestamp>/             one incident
            orig_email.txt                the report as written (recipients, subject, body)
            message.eml                   the message as handed to the SMTP server
            findings.json                 what was gathered, for each address
            xarf-<ip>.json                the machine-readable reports
            followup-<time>-<hash>.eml    replies filed with the incident (hash: of its bytes, so
                                          a run killed before the index row re-files the same file)
        unmatched/                        replies no incident claimed: kept, never dropped
        rejected/                         mail that could not be read, each with a .reason file

``<domain>`` comes from registry and DNS answers, i.e. from attackers: ``safe_segment`` makes it one
harmless path segment. Every file is written to a temporary name and renamed into place, and every
index change is one sqlite transaction, so a crash leaves the old state or the new one.

Incident ids are ``INC-YYYYMMDD-NNNN``: a per-day counter taken inside an IMMEDIATE transaction, so
concurrent processes never get the same number. The index is the truth for a draft (what a later
send reads); the files are its human-readable copy.
"""

import re

from bot.lifecycle import REPORTED
from bot.store.files import SEGMENT_MAX, atomic_write, safe_segment
from bot.store.followups import REJECTED, UNMATCHED
from bot.store.index import INDEX_NAME, ORIG_EMAIL
from bot.store.store import (
    FINDINGS_JSON,
    MESSAGE_EML,
    Guard,
    OpenDraftExists,
    StaleDraft,
    Store,
)

# The incident token in a subject: what replies are matched by when their headers are lost.
ID_PATTERN = re.compile(r"\bINC-(\d{8})-(\d{4,})\b", re.IGNORECASE)

__all__ = [
    "FINDINGS_JSON",
    "ID_PATTERN",
    "INDEX_NAME",
    "MESSAGE_EML",
    "ORIG_EMAIL",
    "REJECTED",
    "REPORTED",
    "SEGMENT_MAX",
    "UNMATCHED",
    "Guard",
    "OpenDraftExists",
    "StaleDraft",
    "Store",
    "atomic_write",
    "safe_segment",
]
