"""The attacker scanner: text in, ranked attacker candidates with evidence out. Pure (no I/O but
reading the files it is given).

    scan_lines(lines, cfg, *, select=None, keep_received=None, allow_non_global=None) -> ScanResult
    scan_paths(paths, cfg, *, select=None, keep_received=None, allow_non_global=None) -> ScanResult

Modules: addresses (finding and normalising IPs), roles (source vs destination on a line),
timestamps (when a line was written, in UTC), ranking (counting and ordering), scanner (streaming).
"""

from bot.scan.addresses import Found, find, normalise
from bot.scan.scanner import read_lines, scan_lines, scan_paths

__all__ = ["Found", "find", "normalise", "read_lines", "scan_lines", "scan_paths"]
