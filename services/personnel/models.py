"""Personnel tables: the staff registry (職員), change rounds (異動処理) and their lines.

A change round is one imported personnel-change file: its rows (``personnel_change``, as
read) and the rights changes computed from them (``rights_change``: per person, a role to
revoke or grant, or the account to disable or enable, on the effective date). A rights
change is applied — revocations and disablings by mechanism on the effective date,
grants and enablings by an admin — and then re-confirmed by a different person with the
review permission, who marks it confirmed or disputed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# 雇用区分
EMPLOYMENT_TYPES = ("正規", "会計年度任用", "委託先")
CONTRACT_TYPES = ("委託先", "会計年度任用")
"""Employment for a term: past its contract_end the account is flagged at the 棚卸し and
its SSH keys stop at the door (services/door.py)."""
# 状態
ACTIVE = "在職"
ON_LEAVE = "休職"
RETIRED = "退職"
MOVED_OUT = "転出"
STAFF_STATUSES = (ACTIVE, ON_LEAVE, RETIRED, MOVED_OUT)

# 異動区分
HIRE, TRANSFER_IN, TRANSFER_OUT, RETIRE, LEAVE, RETURN = (
    "採用", "転入", "転出", "退職", "休職", "復職",
)
CHANGE_KINDS = (HIRE, TRANSFER_IN, TRANSFER_OUT, RETIRE, LEAVE, RETURN)

# What a rights change does.
GRANT, REVOKE, DISABLE, ENABLE = "grant", "revoke", "disable", "enable"
ACTION_LABELS = {GRANT: "付与", REVOKE: "削除", DISABLE: "利用停止", ENABLE: "利用再開"}
# Applied by mechanism on the effective date; the others wait for an admin.
AUTOMATIC = (REVOKE, DISABLE)

PENDING, APPLIED, CANCELLED = "pending", "applied", "cancelled"
STATE_LABELS = {PENDING: "未適用", APPLIED: "適用済み", CANCELLED: "取消"}

CONFIRMED, DISPUTED = "confirmed", "disputed"
VERDICT_LABELS = {CONFIRMED: "確認済み", DISPUTED: "異議あり"}


class Staff(SQLModel, table=True):
    """One member of staff, as the personnel registry knows them."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    staff_no: str = Field(max_length=20, unique=True, index=True)
    name: str = Field(max_length=120)
    kana: str = Field(default="", max_length=120)
    department: str = Field(default="", max_length=120)
    post: str = Field(default="", max_length=60)
    employment: str = Field(default="正規", max_length=16)
    contract_end: date | None = Field(default=None, sa_type=Date)
    status: str = Field(default=ACTIVE, max_length=8)
    training_on: date | None = Field(default=None, sa_type=Date)
    left_on: date | None = Field(default=None, sa_type=Date)
    # 住民票コード of the staff member's own register record, when they live in the city:
    # an alert rule watches for staff opening their own record or their family's.
    resident_code: str = Field(default="", max_length=11,
                               sa_column_kwargs={"server_default": ""})
    user_id: int | None = Field(default=None, foreign_key="app_user.id", unique=True)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class ChangeRound(SQLModel, table=True):
    """One imported personnel-change file (異動処理)."""

    __tablename__ = "change_round"

    id: int | None = Field(default=None, primary_key=True)
    source_name: str = Field(max_length=200)
    sha256: str = Field(max_length=64, unique=True)
    encoding: str = Field(max_length=16)
    rows: int
    first_on: date = Field(sa_type=Date)
    last_on: date = Field(sa_type=Date)
    imported_by: str = Field(max_length=120)
    imported_at: datetime = Field(sa_type=DateTime(timezone=True))


# Declared like the self-inspection's tables (a duplicates pair by shape): its own columns.
class PersonnelChange(SQLModel, table=True):
    """One row of a personnel-change file, as read (after checking)."""

    __tablename__ = "personnel_change"
    __table_args__ = (UniqueConstraint("round_id", "line_no"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="change_round.id", index=True)
    line_no: int
    effective_on: date = Field(sa_type=Date)
    staff_no: str = Field(max_length=20, index=True)
    name: str = Field(max_length=120)
    kind: str = Field(max_length=8)
    old_department: str = Field(default="", max_length=120)
    new_department: str = Field(default="", max_length=120)
    old_post: str = Field(default="", max_length=60)
    new_post: str = Field(default="", max_length=60)
    # Set when the registry took the row in (on its effective date).
    applied_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class RightsChange(SQLModel, table=True):
    """One right to revoke or grant (or the account to disable or enable) for one person.

    ``applied_by`` / ``confirmed_by`` are logins (``os:…`` for a CLI run); the ``*_user``
    columns hold account ids where there is one, for the four-eyes checks.
    """

    __tablename__ = "rights_change"
    __table_args__ = (
        Index("ix_rights_change_due", "state", "effective_on"),
        Index("ix_rights_change_confirm", "verdict", "applied_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="change_round.id", index=True)
    change_id: int = Field(foreign_key="personnel_change.id", index=True)
    staff_no: str = Field(max_length=20, index=True)
    name: str = Field(max_length=120)
    effective_on: date = Field(sa_type=Date)
    action: str = Field(max_length=8)
    role: str = Field(default="", max_length=32)
    reason: str = Field(default="", max_length=200)
    state: str = Field(default=PENDING, max_length=12)
    applied_by: str = Field(default="", max_length=120)
    applied_user: int | None = Field(default=None)
    applied_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # Who confirmed and when, declared like the 棚卸し line's decision (a pair by shape).
    note: str = Field(default="", max_length=200)
    verdict: str = Field(default="", max_length=12)
    confirmed_by: str = Field(default="", max_length=120)
    confirmed_user: int | None = Field(default=None)
    confirmed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    comment: str = Field(default="", sa_type=Text)
