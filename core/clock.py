"""One clock for the whole program, in UTC, so tests and audit timestamps agree.

What people read and the dates rules run on are Japan's (JST, UTC+9 all year: Japan
keeps no daylight saving time), whatever time zone the server was set up in: a leaver's
rights end on the 発令日 in Japan, and a time on one screen matches the audit trail's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


def now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """The audit trail's fixed timestamp text: UTC, microseconds, 'Z'."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def japan(dt: datetime) -> datetime:
    """A stored time (UTC; naive from SQLite) in Japan time."""
    return aware(dt).astimezone(JST)


def today_in_japan() -> date:
    """Today's date in Japan: the day that effective dates and deadlines name."""
    return now().astimezone(JST).date()


def minute_text(dt: datetime) -> str:
    """``2026-11-26 23:58`` in Japan time, for a table cell or a line on a screen."""
    return japan(dt).strftime("%Y-%m-%d %H:%M")
