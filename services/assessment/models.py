"""Tables of the assessment's acts: recorded incidents, and the yearly self-inspection.

An inspection is one fiscal year's checklist (the items copied in when it starts, so a
later change of the items file leaves a started year as it was), with one sheet per
department (所属) and one answer per item and sheet. A sheet is signed off once, by a
holder of the review permission who answered none of its items; the first sign-off
stands (a conditional update on ``signed_at IS NULL``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

ANSWERS = ("実施", "一部実施", "未実施", "該当なし")


class Incident(SQLModel, table=True):
    """An incident recorded for the assessment; ``serious``: a 重大事故 (docs/domain.md §13)."""

    __tablename__ = "assessment_incident"

    id: int | None = Field(default=None, primary_key=True)
    occurred_on: date = Field(sa_type=Date, index=True)
    summary: str = Field(sa_type=Text)
    serious: bool = Field(default=False)
    recorded_by: str = Field(max_length=120)
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))


class Inspection(SQLModel, table=True):
    """One fiscal year's self-inspection (自己点検)."""

    __tablename__ = "inspection"

    id: int | None = Field(default=None, primary_key=True)
    fiscal_year: int = Field(unique=True)  # 年度 (西暦の開始年: 2026 = 令和8年度)
    due_on: date = Field(sa_type=Date)
    items: str = Field(sa_type=Text)  # JSON list of {code, area, question}, as started
    started_by: str = Field(max_length=120)
    started_at: datetime = Field(sa_type=DateTime(timezone=True))


# Declared like personnel's tables (a duplicates pair by shape): a table's own columns.
class InspectionSheet(SQLModel, table=True):
    """One department's checklist of one year, and its sign-off."""

    __tablename__ = "inspection_sheet"
    __table_args__ = (UniqueConstraint("inspection_id", "department"),)

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: int = Field(foreign_key="inspection.id", index=True)
    department: str = Field(max_length=120)
    signed_by: str = Field(default="", max_length=120)
    signed_user: int | None = Field(default=None)
    signed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    sign_comment: str = Field(default="", sa_type=Text)


class InspectionAnswer(SQLModel, table=True):
    """One item's answer on one sheet, with its evidence note and who gave it."""

    __tablename__ = "inspection_answer"
    __table_args__ = (
        UniqueConstraint("sheet_id", "item_code"),
        CheckConstraint("answer IN ('実施', '一部実施', '未実施', '該当なし')",
                        name="ck_inspection_answer_answer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sheet_id: int = Field(foreign_key="inspection_sheet.id", index=True)
    item_code: str = Field(max_length=16)
    answer: str = Field(max_length=8)
    note: str = Field(default="", sa_type=Text)
    answered_by: str = Field(max_length=120)
    answered_user: int | None = Field(default=None)
    answered_at: datetime = Field(sa_type=DateTime(timezone=True))
