"""What the linkage services give back: a proposal as a screen shows it, a line of the queue,
and the side-by-side rows (docs/domain.md, "My Number").

Every view is built inside the transaction of the act that returns it, from the rows that
act saw, and passes through ``services.restricted.withheld``: a resident under
DV等支援措置, to a reader without ``Perm.OPEN_RESTRICTED``, is the name only. The number
appears only masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlmodel import Session, select

from auth.models import User
from core.clock import aware, now
from core.errors import NotFound
from services.linkage.application import identity_list
from services.linkage.items import (
    ApplicationSide,
    ItemRow,
    RegisterSide,
    compare_sides,
    register_side,
)
from services.linkage.models import APPROVE, KIND_UNLINK, STATUS_LABELS, LinkProposal, LinkReview
from services.register.models import Resident
from services.register.mynumber import mask_my_number
from services.restricted import withheld


@dataclass(frozen=True)
class ReviewView:
    # Withheld (DV等支援措置): who, what and when stay; the comment may speak of the items.
    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({
        "reviewer_login", "reviewer_name", "verdict", "version", "at", "counts"})

    reviewer_login: str
    reviewer_name: str
    verdict: str  # approve / reject
    comment: str
    version: int  # the proposal version reviewed
    at: datetime
    counts: bool  # False when the proposal changed after this review (voided)


@dataclass(frozen=True)
class ProposalView:
    """One proposal as a screen shows it; the number only masked.

    For a restricted resident and a reader without the DV permission (``withheld``): the
    register side is the name only, and the application, number, reference, checks, note
    and review comments are blank; the proposal's own state stays.
    """

    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({
        "id", "kind", "status", "version", "required_approvals", "approvals", "source",
        "proposer_id", "proposer_login", "proposer_name", "created_at", "updated_at",
        "submitted_at", "decided_at", "link_id"})

    id: int
    kind: str  # link / unlink
    status: str  # draft / pending / approved / rejected / withdrawn
    version: int
    required_approvals: int
    approvals: int  # approving reviews of the current version
    number_masked: str  # **** **** 1234, or "" when a draft has no number yet
    source: str
    reference: str
    number_check: str
    identity_checks: tuple[str, ...]
    note: str
    application: ApplicationSide
    register: RegisterSide
    proposer_id: int
    proposer_login: str
    proposer_name: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    link_id: int | None
    reviews: tuple[ReviewView, ...] = ()
    withheld: bool = False

    @property
    def restricted(self) -> bool:
        """DV等支援措置 (the register side's)."""
        return self.register.restricted

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def age(self) -> timedelta:
        """Time since submission (since creation for a draft)."""
        return now() - (self.submitted_at or self.created_at)


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue or the drafts; a restricted resident, to a reader without
    the DV permission, without the number and the differences (``withheld``)."""

    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({
        "proposal_id", "kind", "status", "resident_id", "resident_name", "source",
        "proposer_login", "proposer_name", "submitted_at", "age", "version", "approvals",
        "required", "mine", "reviewed_by_me"})

    proposal_id: int
    kind: str
    status: str
    resident_id: int
    resident_name: str  # as written; show through core.inert
    number_masked: str
    source: str
    proposer_login: str
    proposer_name: str
    submitted_at: datetime | None
    age: timedelta
    version: int
    approvals: int
    required: int
    differences: tuple[str, ...]  # "氏名: 異体字", … (empty: all items the same)
    mine: bool  # the caller proposed it (they cannot review it)
    reviewed_by_me: bool  # the caller already reviewed this version
    restricted: bool = False  # DV等支援措置
    withheld: bool = False


def masked(number: str) -> str:
    return mask_my_number(number) if number else ""


def resident_of(s: Session, resident_id: int) -> Resident:
    r = s.get(Resident, resident_id)
    if r is None:
        raise NotFound(f"住民 #{resident_id} が見つかりません。")
    return r


def application_side(p: LinkProposal) -> ApplicationSide:
    return ApplicationSide(
        name=p.app_name, kana=p.app_kana, birth_date=p.app_birth, sex=p.app_sex,
        address=p.app_address,
    )


def item_rows(p: LinkProposal, resident: Resident) -> list[ItemRow]:
    """Application against register, item by item (none for an unlink proposal)."""
    if p.kind == KIND_UNLINK:
        return []
    return compare_sides(application_side(p), register_side(resident))


def difference_labels(rows: Iterable[ItemRow]) -> tuple[str, ...]:
    return tuple(f"{r.item}: {r.detail or r.kind}" for r in rows if r.differs)


def compare(view: ProposalView) -> list[ItemRow]:
    """The side-by-side rows: application against register, each difference named.

    Empty for an unlink proposal (nothing was applied for) and for a withheld view (a
    restricted resident, a reader without the DV permission). The reviewer must comment
    when any row ``differs``.
    """
    if view.kind == KIND_UNLINK or view.withheld:
        return []
    return compare_sides(view.application, view.register)


def proposal_view(s: Session, p: LinkProposal, *, may_see: bool) -> ProposalView:
    """The proposal as read in ``s`` (the act's own transaction), with its reviews, as a
    reader who ``may_see`` restricted residents or not sees it."""
    assert p.id is not None
    resident = resident_of(s, p.resident_id)
    proposer = s.get(User, p.proposer_id)
    reviews = s.exec(
        select(LinkReview, User).join(User, User.id == LinkReview.reviewer_id)  # type: ignore[arg-type]
        .where(LinkReview.proposal_id == p.id).order_by(LinkReview.id)  # type: ignore[arg-type]
    ).all()
    return withheld(ProposalView(
        id=p.id, kind=p.kind, status=p.status, version=p.version,
        required_approvals=p.required_approvals,
        approvals=sum(1 for r, _ in reviews if r.version == p.version
                      and r.verdict == APPROVE),
        number_masked=masked(p.number), source=p.source, reference=p.reference,
        number_check=p.number_check, identity_checks=identity_list(p), note=p.note,
        application=application_side(p), register=register_side(resident),
        proposer_id=p.proposer_id, proposer_login=p.proposer_login,
        proposer_name=proposer.name if proposer else "",
        created_at=aware(p.created_at), updated_at=aware(p.updated_at),
        submitted_at=aware(p.submitted_at) if p.submitted_at else None,
        decided_at=aware(p.decided_at) if p.decided_at else None,
        link_id=p.link_id,
        reviews=tuple(
            ReviewView(
                reviewer_login=r.reviewer_login, reviewer_name=u.name, verdict=r.verdict,
                comment=r.comment, version=r.version, at=aware(r.created_at),
                counts=r.version == p.version,
            )
            for r, u in reviews
        ),
    ), may_see=may_see)
