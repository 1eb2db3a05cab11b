"""Tables of the periodic full review (棚卸し): a campaign and one line per account.

A campaign snapshots every account at its start: the account, its roles, and (through
``staff.user_id``) the staff record, with the flags computed then. Each line gets one
decision, keep or revoke, by a holder of the review permission who is not the line's own
account; the first decision is final. The database keeps two of the rules as well as
the service: a line is never decided by its own account (a CHECK), and only one
campaign is open at a time (a partial unique index on the open state).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

OPEN, CLOSED = "open", "closed"
STATE_LABELS = {OPEN: "実施中", CLOSED: "締め済み"}

KEEP, REVOKE = "keep", "revoke"
DECISIONS = (KEEP, REVOKE)
DECISION_LABELS = {KEEP: "継続", REVOKE: "削除", "": "未判定"}

# What closing did to a line.
CLOSE_UNDECIDED = "undecided"  # reported only
CLOSE_REVOKED = "revoked"  # undecided and revoked (inventory_revoke_undecided)
CLOSE_LABELS = {CLOSE_UNDECIDED: "未判定", CLOSE_REVOKED: "未判定のため削除", "": ""}

# The flags of a line, in display order.
FLAG_LABELS = {
    "dormant": "長期未使用",
    "contract": "契約期間終了",
    "training": "研修未受講・期限切れ",
    "unlinked": "職員ひも付きなし",
}


class InventoryCampaign(SQLModel, table=True):
    """One 棚卸し: who started it, its deadline, the thresholds it used, its closing."""

    __tablename__ = "inventory_campaign"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'closed')", name="ck_inventory_campaign_state"),
        # One open campaign at a time: two starts at once give one campaign.
        Index("ux_inventory_campaign_open", "state", unique=True,
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    state: str = Field(default=OPEN, max_length=8)
    deadline: date = Field(sa_type=Date)
    started_by: str = Field(max_length=120)
    started_user: int | None = Field(default=None)
    started_at: datetime = Field(sa_type=DateTime(timezone=True))
    snapshot_on: date = Field(sa_type=Date)  # the office day (Japan time) of the snapshot
    dormant_days: int
    training_months: int
    lines: int = Field(default=0)
    closed_by: str = Field(default="", max_length=120)
    closed_user: int | None = Field(default=None)
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoke_undecided: bool = Field(default=False)  # the settings in force at closing
    suspend_untrained: bool = Field(default=False)


class InventoryLine(SQLModel, table=True):
    """One account as the campaign found it, its flags, its reviewer and its decision.

    ``reviewer_*`` is the assigned reviewer (the first, by login, of the staff of the same
    所属 whose account holds the review permission), blank when there is none: then any
    security officer reviews. Any holder of the permission may decide, except the account
    itself. ``decided_by`` is a login; ``decided_user`` the account id, for the CHECK.
    """

    __tablename__ = "inventory_line"
    __table_args__ = (
        UniqueConstraint("campaign_id", "user_id"),
        CheckConstraint("decision IN ('', 'keep', 'revoke')", name="ck_inventory_line_decision"),
        CheckConstraint("decided_user IS NULL OR decided_user <> user_id",
                        name="ck_inventory_line_not_self"),
        Index("ix_inventory_line_open", "campaign_id", "decision"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="inventory_campaign.id")
    # The account, as it was at the snapshot.
    user_id: int = Field(foreign_key="app_user.id", index=True)
    login: str = Field(max_length=64)
    account_name: str = Field(max_length=120)
    account_department: str = Field(default="", max_length=120)
    disabled: bool = Field(default=False)
    roles: str = Field(default="", max_length=400)  # sorted, comma-separated
    account_created_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_signin_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # The staff record linked to the account (blank when there is none).
    staff_no: str = Field(default="", max_length=20)
    staff_name: str = Field(default="", max_length=120)
    department: str = Field(default="", max_length=120)
    post: str = Field(default="", max_length=60)
    employment: str = Field(default="", max_length=16)
    contract_end: date | None = Field(default=None, sa_type=Date)
    staff_status: str = Field(default="", max_length=8)
    training_on: date | None = Field(default=None, sa_type=Date)
    # The flags, computed at the snapshot.
    flag_dormant: bool = Field(default=False)
    flag_contract: bool = Field(default=False)
    flag_training: bool = Field(default=False)
    flag_unlinked: bool = Field(default=False)
    # The assigned reviewer; blank: any security officer.
    reviewer_user: int | None = Field(default=None)
    # Who decided and when, declared like the rights change's confirmation (a pair by shape).
    reviewer_login: str = Field(default="", max_length=64)
    # The decision.
    decision: str = Field(default="", max_length=8)
    decided_by: str = Field(default="", max_length=120)
    decided_user: int | None = Field(default=None)
    decided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    comment: str = Field(default="", sa_type=Text)
    # What revoking (by decision, at closing, or by suspension) actually removed.
    removed_roles: str = Field(default="", max_length=400)
    # What closing did: '', undecided, revoked; and whether the rights were suspended
    # for overdue training.
    close_action: str = Field(default="", max_length=12)
    suspended: bool = Field(default=False)
