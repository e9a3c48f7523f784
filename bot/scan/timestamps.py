"""When a log line was written, read from the line itself, as an aware UTC datetime.

Formats: classic syslog (``Feb 10 13:15:11``, no year and no zone: the year is the one that does not put
the time in the future, the zone comes from config ``scan.timezone``), Cisco's ``Feb 10 2025 13:15:11``
(zone from config), RFC 3339 / ISO 8601 (with or without zone), ``2021/12/02 11:53:15`` (nginx error
log), Apache/nginx Common Log Format (``[10/Oct/2000:13:55:36 -0700]``), the Apache error log's ``[Wed
Mar 13 10:11:12.123456 2024]`` (zone from config) and epoch seconds (``1693840791.75`` at the start or
as ``"ts":``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}

# Cisco ASA / IOS write the year after the day: "Feb 10 2025 13:15:11"
_SYSLOG_YEAR = re.compile(
    r"(?:<\d{1,3}>)?\[?([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{4})\s+(\d\d):(\d\d):(\d\d)(?!\d)")
_SYSLOG = re.compile(r"(?:<\d{1,3}>)?\[?([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d\d):(\d\d):(\d\d)(?!\d)")
# ... and with the year after the time: "Mar 03 10:00:00 2025"
_SYSLOG_TIME_YEAR = re.compile(
    r"(?:<\d{1,3}>)?\[?([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d\d):(\d\d):(\d\d)(?:\.\d+)?\s+(\d{4})(?![\d:])")
_ISO = re.compile(
    r"(\d{4})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s?(Z|UTC|[+-]\d\d:?\d\d)?")
# (HAProxy writes it with milliseconds and no zone: "[06/Feb/2009:12:14:14.655]")
_CLF = re.compile(r"\[(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:\s+([+-]\d{4}))?\]")
_EPOCH = re.compile(r"(?:^|\"(?:ts|time|timestamp)\"\s*:\s*)(1\d{9})(?:\.(\d{1,9}))?(?![\d])")
# ctime with a year, as the Apache error log writes it: "[Wed Mar 13 10:11:12.123456 2024]"
_CTIME = re.compile(
    r"\[?[A-Z][a-z]{2} ([A-Z][a-z]{2})\s+(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? (\d{4})\b")
_DMY = re.compile(r"(\d\d)-([A-Za-z]{3})-(\d{4})[ T:](\d\d):(\d\d):(\d\d)")

# RFC 5322 (mail headers): "Tue, 3 Mar 2025 10:11:12 +0100 (CET)"
_RFC5322 = re.compile(r"(?:[A-Z][a-z]{2},\s*)?(\d{1,2})\s+([A-Z][a-z]{2})\s+(\d{4})\s+"
                      r"(\d\d):(\d\d)(?::(\d\d))?\s*([+-]\d{4}|UT|UTC|GMT|Z)?")

_HEAD = 120   # timestamps are looked for near the start of a line only


def zone(name: str) -> tzinfo:
    """The zone for ``scan.timezone`` (an IANA name, or UTC)."""
    if name.upper() in ("UTC", "Z", ""):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"scan.timezone: unknown time zone {name!r}") from exc


class Clock:
    """Parses line timestamps for one scan; caches the work, since neighbouring lines repeat it."""

    def __init__(self, tz: tzinfo, now: datetime | None = None) -> None:
        self.tz = tz
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        self._cache: dict[str, datetime | None] = {}
        # Formats that start a line (a date written later in the message is not the line's), and
        # the loose ones looked for anywhere in the head, after the CLF/ISO pair.
        self._leading = ((_SYSLOG_TIME_YEAR, self._syslog_time_year), (_SYSLOG, self._syslog),
                         (_SYSLOG_YEAR, self._syslog_year), (_CTIME, self._ctime))
        self._loose = ((_EPOCH, self._epoch), (_DMY, self._dmy))

    def parse(self, line: str) -> datetime | None:
        head = line[:_HEAD]
        for pattern, fn in self._leading:
            m = pattern.match(head)
            if m is not None:
                value = self._cached(m.group(0), fn, m)
                if fn == self._syslog and value is not None:
                    # A year-less syslog header in front of a stamp that writes its year (an
                    # application's own, "nginx: 1.2.3.4 - - [03/Mar/2025:..."): the year is used
                    # as written, when the two agree on the day.
                    written = self._dated(head, m.end())
                    if written is not None and _same_day(written, value):
                        return written
                return value
        return self._dated(head, 0)

    def _dated(self, head: str, pos: int) -> datetime | None:
        """The first stamp that writes its year in ``head`` from ``pos`` on."""
        # The first stamp written is the line's: a date later on may be in text the client chose
        # ("GET /?since=2019-01-01T00:00:00Z" after the CLF date).
        iso = _ISO.search(head, pos)
        clf = _CLF.search(head, pos)
        if clf is not None and (iso is None or clf.start() < iso.start()):
            return self._cached(clf.group(0), self._day_month_year, clf)
        if iso is not None:
            return self._cached(iso.group(0), self._iso, iso)
        if pos:
            ctime = _CTIME.search(head, pos)
            if ctime is not None:
                return self._cached(ctime.group(0), self._ctime, ctime)
        for pattern, fn in self._loose:
            m = pattern.search(head, pos)
            if m is not None:
                return self._cached(m.group(0), fn, m)
        return None

    def parse_rfc5322(self, text: str) -> datetime | None:
        """The date of a mail header (what follows a Received line's ";")."""
        m = _RFC5322.search(text)
        return self._cached(m.group(0), self._day_month_year, m) if m is not None else None

    def _day_month_year(self, m: re.Match[str]) -> datetime | None:
        """A match of _RFC5322 or _CLF (the same groups: day, month name, year, hours, minutes,
        seconds, zone): a mail header's date, or a web server's ``[03/Mar/2025:10:11:12 +0100]``."""
        mon = _MONTHS.get(m.group(2).lower())
        if mon is None:
            return None
        z = m.group(7)
        if z is None:
            return self._local(int(m.group(3)), mon, int(m.group(1)), int(m.group(4)), int(m.group(5)),
                               int(m.group(6) or 0))
        tz: tzinfo = UTC
        if z[0] in "+-":
            sign = -1 if z[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(z[1:3]), minutes=int(z[3:5])))
        return datetime(int(m.group(3)), mon, int(m.group(1)), int(m.group(4)), int(m.group(5)),
                        int(m.group(6) or 0), tzinfo=tz).astimezone(UTC)

    def _cached(self, key: str, fn: object, m: re.Match[str]) -> datetime | None:
        try:
            return self._cache[key]
        except KeyError:
            pass
        if len(self._cache) > 4096:
            self._cache.clear()
        try:
            value = fn(m)  # type: ignore[operator]
        except (ValueError, OverflowError):
            value = None
        self._cache[key] = value
        return value

    def _local(self, y: int, mo: int, d: int, h: int, mi: int, s: int, us: int = 0) -> datetime:
        return datetime(y, mo, d, h, mi, s, us, tzinfo=self.tz).astimezone(UTC)

    def _syslog(self, m: re.Match[str]) -> datetime | None:
        mon = _MONTHS.get(m.group(1).lower())
        if mon is None:
            return None
        day, h, mi, s = (int(m.group(i)) for i in range(2, 6))
        year = self.now.astimezone(self.tz).year
        # The latest year that does not put the line in the future (a day of clock skew allowed, so
        # "Jan  1 00:10" read at 23:55 on New Year's Eve is next year's); Feb 29 goes to the last
        # leap year.
        for y in range(year + 1, year - 5, -1):
            try:
                t = self._local(y, mon, day, h, mi, s)
            except ValueError:      # Feb 29 in a year that has none
                continue
            if t <= self.now + timedelta(days=1):
                return t
        return None

    def _syslog_time_year(self, m: re.Match[str]) -> datetime | None:
        mon = _MONTHS.get(m.group(1).lower())
        if mon is None:
            return None
        return self._local(int(m.group(6)), mon, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                           int(m.group(5)))

    def _syslog_year(self, m: re.Match[str]) -> datetime | None:
        mon = _MONTHS.get(m.group(1).lower())
        if mon is None:
            return None
        return self._local(int(m.group(3)), mon, int(m.group(2)), int(m.group(4)), int(m.group(5)),
                           int(m.group(6)))

    def _ctime(self, m: re.Match[str]) -> datetime | None:
        mon = _MONTHS.get(m.group(1).lower())
        if mon is None:
            return None
        frac = m.group(6) or ""
        us = int((frac + "000000")[:6]) if frac else 0
        return self._local(int(m.group(7)), mon, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                           int(m.group(5)), us)

    def _iso(self, m: re.Match[str]) -> datetime:
        y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
        frac = m.group(7) or ""
        us = int((frac + "000000")[:6]) if frac else 0
        z = m.group(8)
        if z is None:
            return self._local(y, mo, d, h, mi, s, us)
        if z in ("Z", "UTC"):
            tz: tzinfo = UTC
        else:
            sign = -1 if z[0] == "-" else 1
            digits = z[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        return datetime(y, mo, d, h, mi, s, us, tzinfo=tz).astimezone(UTC)

    def _epoch(self, m: re.Match[str]) -> datetime:
        frac = m.group(2) or ""
        us = int((frac + "000000")[:6]) if frac else 0
        return datetime.fromtimestamp(int(m.group(1)), UTC) + timedelta(microseconds=us)

    def _dmy(self, m: re.Match[str]) -> datetime | None:
        mon = _MONTHS.get(m.group(2).lower())
        if mon is None:
            return None
        return self._local(int(m.group(3)), mon, int(m.group(1)), int(m.group(4)), int(m.group(5)),
                           int(m.group(6)))


def _same_day(written: datetime, inferred: datetime) -> bool:
    """``written`` falls within a day of ``inferred`` in some year (time zones may differ)."""
    for year in (inferred.year - 1, inferred.year, inferred.year + 1):
        try:
            moved = written.replace(year=year)
        except ValueError:          # Feb 29
            continue
        if abs(moved - inferred) <= timedelta(days=1, hours=1):
            return True
    return False
