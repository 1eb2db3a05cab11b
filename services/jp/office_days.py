"""Office days: the date in Japan time, and the same day some calendar months earlier.

The deadlines and "the past year" of the register's rules are office days in Japan time
(JST, no daylight saving), whatever the server's zone; a month back from the 31st is the
month's last day when the month is shorter.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime

from core.clock import JST, aware, now


def office_day(at: datetime | None = None) -> date:
    """The office day (Japan time) of ``at`` (default: now)."""
    return aware(at or now()).astimezone(JST).date()


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the month's last day if shorter)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
