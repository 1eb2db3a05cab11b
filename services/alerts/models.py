"""The alert scanner's cursor: the last audit event it has judged, one row."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class AlertCursor(SQLModel, table=True):
    """Scanners in many processes take turns on this row (row lock), so every event is
    judged once and the cursor only moves forward."""

    __tablename__ = "alert_cursor"

    id: int = Field(primary_key=True)
    seq: int = Field(default=0)
