"""The reviewer's decision: approve or reject the version they saw, and the effect of the
final approval (docs/domain.md, "My Number"; docs/architecture.md, "The gate").

A reviewer holding ``Perm.LINK_REVIEW`` approves or rejects with the version they saw. A
comment is required on reject and whenever an item differs. The proposer can never decide
their own proposal: the service refuses (recorded), and the database refuses a review row
whose reviewer is the proposer (trigger). One rejection decides; ``required_approvals``
approvals of the current version decide (the setting ``linkage_approvals`` when
submitted, never less than 1). A reader who sees a restricted resident withheld cannot
approve (refused, recorded high): they cannot see the items.

The final approval creates the ``my_number_link`` row naming the proposal (or revokes it,
for an unlink proposal) in the same transaction as the decision and its audit event, and
stores the fingerprint of the resident's 4 items for the periodic check. The database
admits an active link only that way (or marked 初期移行), and a revocation only by an
approved unlink proposal (triggers, migration 0013).

Decisions lock the proposal row (FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE write lock)
and change its status with a conditional UPDATE, so two reviewers at once give one
decision and one refusal: 「この申請は既に処理されています」.

One press is one transaction (``services.gate.act``): the permission and, for an approval,
the step-up read, the decision, its one event, and the proposal as the screen shows it
next (``Decision.view``) — tests/services/test_linkage_round_trips.py counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from auth.identity import Identity
from auth.roles import Perm
from core.clock import now
from core.db import Database, rowcount
from core.errors import BadInput
from core.freetext import field_text
from core.settings import Settings
from services import gate
from services.linkage.application import LINK_SOURCE_OF
from services.linkage.items import fingerprint
from services.linkage.models import (
    APPROVE,
    APPROVED,
    DRAFT,
    KIND_LINK,
    KIND_UNLINK,
    PENDING,
    REJECT,
    REJECTED,
    LinkFingerprint,
    LinkProposal,
    LinkReview,
)
from services.linkage.rules import (
    LINK_NOT_ACTIVE,
    SELF_REVIEW,
    already_decided,
    approvals,
    details,
    duplicate,
    locked,
    pending_clash,
    refuse_restricted,
    stale,
)
from services.linkage.views import (
    ProposalView,
    difference_labels,
    item_rows,
    masked,
    proposal_view,
    resident_of,
)
from services.register.models import LINK_ACTIVE, LINK_REVOKED, MyNumberLink, Resident


@dataclass(frozen=True)
class Decision:
    """What one review did: recorded only, or decided the proposal; and the proposal as
    the reviewer sees it now."""

    proposal_id: int
    verdict: str  # approve / reject
    status: str  # the proposal's status after this review
    approvals: int
    required: int
    decided: bool
    link_id: int | None
    message: str  # a Japanese sentence for the reviewer
    view: ProposalView  # read in the decision's transaction, with this review in it


def approve(
    db: Database, ident: Identity, proposal_id: int, *, version: int, comment: str = "",
    settings: Settings | None = None,
) -> Decision:
    """Approve the version the reviewer saw. The last approval needed links (or unlinks).

    A sensitive act: the password must be recent (``auth.stepup``; ``settings`` tunes the
    window, 15 minutes without it)."""
    return _decide(db, ident, proposal_id, APPROVE, version, comment, settings)


def reject(
    db: Database, ident: Identity, proposal_id: int, *, version: int, comment: str
) -> Decision:
    """Reject with a reason (required). One rejection decides the proposal."""
    return _decide(db, ident, proposal_id, REJECT, version, comment, None)


def _open_for_review(a: gate.Act, p: LinkProposal, ident: Identity, version: int) -> None:
    """A pending proposal, at the version the reviewer saw, of someone else, that this
    reviewer has not reviewed yet."""
    if p.proposer_id == ident.user_id:
        a.refuse(SELF_REVIEW, "self_review", severity="high", **details(p))
    if p.status != PENDING:
        if p.status == DRAFT:
            a.refuse("この申請はまだ提出されていません (下書き)。", "not_submitted",
                     severity="info", **details(p))
        raise already_decided(p)
    if p.version != version:
        raise stale(p, version)
    mine = a.s.exec(select(LinkReview).where(
        LinkReview.proposal_id == p.id, LinkReview.version == p.version,
        LinkReview.reviewer_id == ident.user_id,
    )).first()
    if mine is not None:
        a.refuse("この版の申請は既に確認済みです。別の確認者の確認を待ってください。",
                 "already_reviewed", severity="info", **details(p))


def _decide(
    db: Database, ident: Identity, proposal_id: int, verdict: str, version: int,
    comment: str, settings: Settings | None,
) -> Decision:
    action = "linkage.approve" if verdict == APPROVE else "linkage.reject"
    with gate.act(db, ident, action, perm=Perm.LINK_REVIEW, what="紐付けの確認",
                  target=f"proposal:{proposal_id}", step_up=verdict == APPROVE,
                  settings=settings, numbers=True, translate=pending_clash) as a:
        text = field_text("コメント", comment, limit=2000)
        s = a.s
        p = locked(a, proposal_id)
        _open_for_review(a, p, ident, version)
        resident = resident_of(s, p.resident_id)
        may_see = a.holds(Perm.OPEN_RESTRICTED)
        if verdict == APPROVE and resident.dv_support and not may_see:
            refuse_restricted(p, "承認")
        differences = difference_labels(item_rows(p, resident))
        if verdict == REJECT and not text:
            raise BadInput("コメント: 却下の理由を入力してください。")
        if verdict == APPROVE and differences and not text:
            raise BadInput(
                "コメント: 申請書と住民記録で異なる項目があります ("
                + "、".join(differences) + ")。承認する理由を入力してください。"
            )
        current = now()
        s.add(LinkReview(
            proposal_id=proposal_id, reviewer_id=ident.user_id, reviewer_login=ident.login,
            verdict=verdict, comment=text, version=p.version, created_at=current,
        ))
        s.flush()
        count = approvals(s, p)
        decided = verdict == REJECT or count >= p.required_approvals
        link_id = p.link_id
        effect = None
        if decided:
            result = s.execute(
                update(LinkProposal)
                .where(col(LinkProposal.id) == p.id, col(LinkProposal.status) == PENDING,
                       col(LinkProposal.version) == p.version)
                .values(status=APPROVED if verdict == APPROVE else REJECTED,
                        decided_at=current, updated_at=current)
            )
            if rowcount(result) != 1:
                raise already_decided(p, "処理済み")
            if verdict == APPROVE:
                # After the decision: the database admits the link (or the revocation)
                # only as the consequence of an approved proposal (migration 0013).
                link_id, effect = _apply(s, ident, p, resident, current)
                if p.kind == KIND_LINK:
                    s.execute(update(LinkProposal).where(col(LinkProposal.id) == p.id)
                              .values(link_id=link_id))
            s.refresh(p)
        a.record(details=details(
            p, approvals=count, required=p.required_approvals, decided=decided,
            effect=effect, link=link_id, differences=list(differences),
            comment_given=bool(text),
        ))
        return Decision(
            proposal_id=proposal_id, verdict=verdict, status=p.status, approvals=count,
            required=p.required_approvals, decided=decided, link_id=link_id,
            message=_message(p.status, count, p.required_approvals, p.number),
            view=proposal_view(s, p, may_see=may_see),
        )


def _apply(
    s: Session, ident: Identity, p: LinkProposal, resident: Resident, at: datetime
) -> tuple[int | None, str]:
    """The effect of the final approval, inside the decision's transaction."""
    if p.kind == KIND_UNLINK:
        link = s.exec(
            select(MyNumberLink).where(MyNumberLink.id == p.link_id).with_for_update()
        ).first()
        if link is None or link.status != LINK_ACTIVE:
            raise gate.Refusal(LINK_NOT_ACTIVE, "link_not_active", severity="info",
                               **details(p))
        link.status = LINK_REVOKED
        link.revoked_at = at
        link.revoke_reason = p.note[:200]
        s.add(link)
        s.flush()
        return link.id, "unlinked"
    clash = duplicate(s, p, pending_too=False)
    if clash:
        raise clash
    link = MyNumberLink(
        resident_id=p.resident_id, number=p.number, last4=p.number[-4:], linked_at=at,
        source=LINK_SOURCE_OF.get(p.source, "申請"), status=LINK_ACTIVE, proposal_id=p.id,
    )
    s.add(link)
    s.flush()
    assert link.id is not None
    s.add(LinkFingerprint(
        link_id=link.id, origin="承認", proposal_id=p.id, taken_at=at,
        taken_by=ident.login, **fingerprint(resident),
    ))
    s.flush()
    return link.id, "linked"


def _message(status: str, count: int, required: int, number: str) -> str:
    if status == REJECTED:
        return "却下しました。"
    if status == APPROVED:
        return f"承認しました。個人番号 ({masked(number)}) の登録を反映しました。"
    return (f"承認を記録しました ({count}/{required})。"
            f"あと{required - count}人の確認が必要です。")
