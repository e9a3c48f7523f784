"""The attacker scanner: text in, ranked attacker candidates with evidence out. Pure (no I/O but
reading the files it is given).

    scan_lines(lines, cfg, *, select=None, keep_received=None, allow_non_global=None) -> ScanResult
    scan_paths(paths, cfg, *, select=None, keep_received=None, allow_non_global=None) -> ScanResult
    collect_evidence(paths, cfg, ips, *, keep_received=None, now=None) -> dict[str, Evidence]

collect_evidence gives evidence (lines, count, first/last seen) for named addresses in one more read:
on big inputs scan_paths gives it to its top candidates only.

Modules: addresses (finding and normalising IPs), fields (the parts of a line the client chose),
cues and roles (source vs destination on a line), timestamps (when a line was written, in UTC),
received (mail Received chains), sessions (program[pid] sessions), shapes (line shapes), engine
(the per-line work, cached by line shape), batch (many lines of a shape at once), tally (bounded
counting), ranking (ordering), scanner (the entry points), reading and chunks (input), bulk (big
files in parallel), collect (evidence for named addresses).
"""

from bot.scan.addresses import Found, find, normalise
from bot.scan.collect import collect_evidence
from bot.scan.reading import read_lines
from bot.scan.scanner import scan_lines, scan_paths

__all__ = ["Found", "collect_evidence", "find", "normalise", "read_lines", "scan_lines", "scan_paths"]
