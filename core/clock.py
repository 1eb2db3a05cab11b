"""One clock for the whole program, in UTC, so tests and audit timestamps agree."""

from __future__ import annotations

from datetime import UTC, datetime


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
