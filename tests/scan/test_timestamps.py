"""Line timestamps, shown in UTC: syslog (year inferred, zone from config), ISO 8601, CLF, epoch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.errors import ConfigError
from bot.scan.timestamps import Clock, zone

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def parse(line: str, tz: str = "UTC", now: datetime = NOW) -> datetime | None:
    return Clock(zone(tz), now).parse(line)


def test_syslog_year_is_the_one_not_in_the_future() -> None:
    assert parse("Jan  5 11:00:00 host sshd[1]: x") == datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    assert parse("Dec 31 23:59:59 host sshd[1]: x") == datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert parse("Feb 10 13:15:11 fw snort[1]: x") == datetime(2025, 2, 10, 13, 15, 11, tzinfo=UTC)


def test_syslog_zone_comes_from_config() -> None:
    # Paris is UTC+2 in summer, UTC+1 in winter.
    assert parse("Jul  1 12:00:00 h x", "Europe/Paris") == datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
    assert parse("Jan  2 12:00:00 h x", "Europe/Paris") == datetime(2026, 1, 2, 11, 0, tzinfo=UTC)


def test_feb_29_goes_to_the_last_leap_year() -> None:
    assert parse("Feb 29 10:00:00 h x", now=datetime(2025, 3, 1, tzinfo=UTC)) == \
        datetime(2024, 2, 29, 10, 0, tzinfo=UTC)


def test_syslog_year_around_new_year() -> None:
    # scanned just before midnight, a line from a host whose clock runs a few minutes ahead
    eve = datetime(2026, 12, 31, 23, 55, tzinfo=UTC)
    assert parse("Jan  1 00:10:00 h sshd[1]: x", now=eve) == datetime(2027, 1, 1, 0, 10, tzinfo=UTC)
    assert parse("Dec 31 23:50:00 h sshd[1]: x", now=eve) == datetime(2026, 12, 31, 23, 50, tzinfo=UTC)
    # scanned just after midnight UTC: last night's lines are last year's, the zone's year counts
    morning = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)
    assert parse("Dec 31 23:59:00 h x", now=morning) == datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert parse("Jan  1 00:30:00 h x", "Europe/Paris", now=morning) == \
        datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert parse("Dec 31 23:30:00 h x", "America/New_York", now=morning) == \
        datetime(2027, 1, 1, 4, 30, tzinfo=UTC)


def test_a_syslog_header_wins_over_a_date_in_the_message() -> None:
    assert parse("Jan  5 10:00:00 host app[1]: account of 2019-03-01 12:00:00 failed from 192.0.2.7") == \
        datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def test_a_date_in_a_requested_url_is_not_the_line_time() -> None:
    line = '45.146.165.37 - - [10/Oct/2025:13:55:36 +0000] "GET /?since=2019-01-01T00:00:00Z HTTP/1.1" 200'
    assert parse(line) == datetime(2025, 10, 10, 13, 55, 36, tzinfo=UTC)


def test_feb_29_more_than_a_year_after_the_leap_year() -> None:
    assert parse("Feb 29 10:00:00 h x", now=datetime(2026, 6, 1, tzinfo=UTC)) == \
        datetime(2024, 2, 29, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("line", "expected"), [
    ("2022-07-20T21:28:50.530Z,0E,2", datetime(2022, 7, 20, 21, 28, 50, 530000, tzinfo=UTC)),
    ("<134>1 2022-09-06T18:37:34+02:00 opnsense filterlog", datetime(2022, 9, 6, 16, 37, 34, tzinfo=UTC)),
    ("2021-11-12T16:59:46.613304+00:00 1.1.1.1 x", datetime(2021, 11, 12, 16, 59, 46, 613304, tzinfo=UTC)),
    ('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0"',
     datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)),
    ('{"level":"info","ts":1693840791.7564995,"msg":"x"}',
     datetime(2023, 9, 4, 15, 19, 51, 756499, tzinfo=UTC)),
    ("1693840791 accepted from 1.2.3.4", datetime(2023, 9, 4, 15, 19, 51, tzinfo=UTC)),
    ("2021/12/02 11:53:15 [error] 4065777#4065777: x", datetime(2021, 12, 2, 11, 53, 15, tzinfo=UTC)),
    ("03-Nov-2022 13:34:52.235 security: error: x", datetime(2022, 11, 3, 13, 34, 52, tzinfo=UTC)),
    # Cisco ASA / IOS with the year: "MMM DD YYYY HH:MM:SS"
    ("Feb 10 2025 13:15:11: %ASA-4-106023: Deny tcp src outside:45.146.165.37/4444",
     datetime(2025, 2, 10, 13, 15, 11, tzinfo=UTC)),
    ("<166>Dec 31 2024 23:59:59 fw1 : %ASA-6-302013: x", datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)),
    # Apache error log (ModSecurity alerts), ctime with a year: the zone is the config's
    ("[Wed Mar 13 10:11:12.123456 2024] [security2:error] [pid 1] [client 45.146.165.37:5555] x",
     datetime(2024, 3, 13, 10, 11, 12, 123456, tzinfo=UTC)),
    ("[Tue Oct 10 13:55:36 2000] [error] [client 1.2.3.4] x", datetime(2000, 10, 10, 13, 55, 36, tzinfo=UTC)),
])
def test_formats(line: str, expected: datetime) -> None:
    assert parse(line) == expected


def test_zone_less_iso_uses_config_zone() -> None:
    expected = datetime(2024, 7, 20, 10, 27, 52, 797000, tzinfo=UTC)
    assert parse("2024-07-20 12:27:52,797::WARNING", "Europe/Berlin") == expected


def test_no_timestamp() -> None:
    assert parse("Failed password for root from 1.2.3.4") is None


def test_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"scan\.timezone"):
        zone("Mars/Olympus_Mons")


@pytest.mark.parametrize(("line", "when"), [
    # a year written in the line is used as written, even behind a year-less syslog header
    ('Mar  3 10:00:00 web nginx: 1.2.3.4 - - [03/Mar/2025:10:00:00 +0000] "GET /"', (2025, 3, 3, 10)),
    ("Mar  3 10:00:00 host app: 2025-03-03T10:00:00Z x", (2025, 3, 3, 10)),
    ("Mar 03 10:00:00 2025 x", (2025, 3, 3, 10)),
    ("Feb  6 12:14:14 lb haproxy[1]: 1.2.3.4:33317 [06/Feb/2009:12:14:14.655] http-in", (2009, 2, 6, 12)),
    # ... but a date the client wrote later in the line does not move the line's own
    ("Mar  3 10:00:00 web app: 1.2.3.4 GET /?since=2019-01-01T00:00:00Z", (2026, 3, 3, 10)),
    ("Mar  3 10:00:00 host x", (2026, 3, 3, 10)),
])
def test_a_year_written_is_used_as_written(line: str, when: tuple[int, int, int, int]) -> None:
    got = Clock(UTC, datetime(2026, 6, 1, tzinfo=UTC)).parse(line)
    assert got is not None and (got.year, got.month, got.day, got.hour) == when


def test_mail_header_dates() -> None:
    clock = Clock(UTC, datetime(2026, 6, 1, tzinfo=UTC))
    assert clock.parse_rfc5322("Tue, 3 Mar 2026 10:11:12 +0100 (CET)") == datetime(2026, 3, 3, 9, 11, 12,
                                                                                   tzinfo=UTC)
