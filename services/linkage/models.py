"""Linkage tables: the proposal (申請), its reviews (確認) and each link's 4-item fingerprint.

A link is made only through a proposal that someone other than the proposer confirmed
(docs/domain.md §8.3). The chain kept for the record is ``my_number_link`` ↔ proposal
(``my_number_link.proposal_id`` and ``link_proposal.link_id``) ← reviews
(``link_review.proposal_id``).

Rules the database keeps by itself (triggers in the migration, on SQLite and PostgreSQL):
a review by the proposal's proposer is refused; reviews are never changed or deleted; a
proposal's proposer never changes; a proposal becomes approved only with enough approving
reviews of its current version, and rejected only with a rejecting one; a link's number,
resident, date, source and proposal are never edited, and a revoked link stays revoked.
An active link names an approved link proposal for its resident and number with its
required approvals from distinct reviewers other than the proposer (or is 初期移行),
and is revoked only by such an approved unlink proposal (migration 0013).
At most one pending proposal per resident and per number (partial unique indexes).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from core.sealed import SealedNumber

DRAFT = "draft"
PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
STATUS_LABELS = {
    DRAFT: "下書き", PENDING: "確認待ち", APPROVED: "承認済み", REJECTED: "却下",
    WITHDRAWN: "取下げ",
}

KIND_LINK = "link"
KIND_UNLINK = "unlink"
KIND_LABELS = {KIND_LINK: "紐付け", KIND_UNLINK: "紐付け解除"}

APPROVE = "approve"
REJECT = "reject"
VERDICT_LABELS = {APPROVE: "承認", REJECT: "却下"}

_PENDING_ONLY = text("status = 'pending'")
_PENDING_NUMBER = text("status = 'pending' AND number <> ''")


class LinkProposal(SQLModel, table=True):
    """One request to link (or unlink) a My Number, from draft to decision.

    ``version`` goes up on every change after creation; a review counts only for the
    version it saw, so an edit after a review voids it. ``required_approvals`` is the
    setting's value when the proposal was submitted.
    """

    # Partial unique indexes written like my_number_link's (a pair by shape): each its own rule.
    __tablename__ = "link_proposal"
    __table_args__ = (
        Index(
            "uq_link_proposal_pending_resident", "resident_id", unique=True,
            sqlite_where=_PENDING_ONLY, postgresql_where=_PENDING_ONLY,
        ),
        Index(
            "uq_link_proposal_pending_number", "number", unique=True,
            sqlite_where=_PENDING_NUMBER, postgresql_where=_PENDING_NUMBER,
        ),
        Index("ix_link_proposal_status_submitted", "status", "submitted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=KIND_LINK, max_length=8)  # link / unlink
    resident_id: int = Field(foreign_key="resident.id", index=True)
    # 12 digits once entered, sealed at rest (core.sealed); "" in a draft
    number: str = Field(default="", sa_type=SealedNumber)
    last4: str = Field(default="", max_length=4)
    # link: the link this proposal created (set on approval); unlink: the link to revoke.
    link_id: int | None = Field(default=None, foreign_key="my_number_link.id", index=True)
    source: str = Field(default="", max_length=16)  # 申請書 / 窓口 / 住基ネット照会
    reference: str = Field(default="", max_length=120)  # 申請書番号・受付番号 etc.
    number_check: str = Field(default="", max_length=40)  # 番号確認の書類
    identity_checks: str = Field(default="[]", sa_type=Text)  # 身元確認の書類 (JSON list)
    # The application side, as written on the application (for the side-by-side view).
    app_name: str = Field(default="", max_length=130)
    app_kana: str = Field(default="", max_length=130)
    app_birth: date | None = Field(default=None, sa_type=Date)
    app_sex: str = Field(default="", max_length=2)
    app_address: str = Field(default="", max_length=240)
    note: str = Field(default="", max_length=400)  # 備考; for an unlink, the reason
    status: str = Field(default=DRAFT, max_length=10, index=True)
    version: int = Field(default=1)
    required_approvals: int = Field(default=1)
    proposer_id: int = Field(foreign_key="app_user.id", index=True)
    proposer_login: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))
    submitted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    decided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class LinkReview(SQLModel, table=True):
    """One reviewer's verdict on one version of a proposal; never changed afterwards."""

    __tablename__ = "link_review"
    __table_args__ = (UniqueConstraint("proposal_id", "reviewer_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="link_proposal.id", index=True)
    reviewer_id: int = Field(foreign_key="app_user.id", index=True)
    reviewer_login: str = Field(max_length=64)
    verdict: str = Field(max_length=8)  # approve / reject
    comment: str = Field(default="", sa_type=Text)
    version: int  # the proposal version the reviewer saw
    created_at: datetime = Field(sa_type=DateTime(timezone=True))


class LinkFingerprint(SQLModel, table=True):
    """The resident's 4 items (氏名・生年月日・性別・住所) when the link was confirmed.

    One short SHA-256 per item, so the periodic check can name which item changed
    without keeping a second copy of the values. ``origin``: 承認 (at approval),
    基準記録 (a link that had none, e.g. 初期移行, fingerprinted by the first check),
    再確認 (a reviewer confirmed the link again after a change).
    """

    __tablename__ = "link_fingerprint"

    link_id: int = Field(primary_key=True, foreign_key="my_number_link.id")
    name_fp: str = Field(max_length=16)
    birth_fp: str = Field(max_length=16)
    sex_fp: str = Field(max_length=16)
    address_fp: str = Field(max_length=16)
    origin: str = Field(max_length=8)
    proposal_id: int | None = Field(default=None, foreign_key="link_proposal.id")
    taken_at: datetime = Field(sa_type=DateTime(timezone=True))
    taken_by: str = Field(default="", max_length=120)
