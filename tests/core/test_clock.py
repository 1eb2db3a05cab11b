"""Dates that rules run on are Japan's, whatever zone the server is set to."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

import core.clock


def test_japan_dates_turn_at_midnight_in_japan_not_at_midnight_utc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 発令日 of 4月1日 begins at 3月31日 15:00 UTC: the rules' "today" must say so."""
    monkeypatch.setattr(core.clock, "now", lambda: datetime(2026, 3, 31, 15, 0, tzinfo=UTC))
    assert core.clock.today_in_japan() == date(2026, 4, 1)
    monkeypatch.setattr(core.clock, "now",
                        lambda: datetime(2026, 3, 31, 14, 59, 59, tzinfo=UTC))
    assert core.clock.today_in_japan() == date(2026, 3, 31)


def test_a_stored_time_reads_in_japan_time() -> None:
    naive_from_sqlite = datetime(2026, 11, 26, 14, 58)
    assert core.clock.minute_text(naive_from_sqlite) == "2026-11-26 23:58"
