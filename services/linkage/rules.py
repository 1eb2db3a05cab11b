"""The rules a linkage act checks inside its transaction, each a ``services.gate.Refusal``
the gate records once (docs/domain.md, "My Number"; docs/architecture.md, "The gate").

Which state allows which step (only the proposer changes an open proposal, at the version
they saw; a restricted resident's proposal is not changed nor approved by a reader who
sees it withheld), and which duplicates forbid a proposal: the number active on another
resident, the resident already linked, a pending proposal for the same resident or
number. The database holds the last rule too (partial unique indexes): ``pending_clash``
turns its refusal, when two clerks file at once, into the same kind of refusal.
"""

from __future__ import annotations

from typing import Any, NoReturn

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from auth.identity import Identity
from auth.roles import Perm
from core.clock import now
from core.errors import BadInput, NotFound
from core.settings import Settings
from services.gate import Act, Refusal
from services.linkage.application import incomplete
from services.linkage.models import (
    APPROVE,
    DRAFT,
    KIND_LINK,
    PENDING,
    STATUS_LABELS,
    LinkProposal,
    LinkReview,
)
from services.register.models import LINK_ACTIVE, MyNumberLink
from services.register.mynumber import mask_my_number

ALREADY_DECIDED = "この申請は既に処理されています ({state})。"
SELF_REVIEW = "自分が作成した申請は確認できません。申請者以外の確認者が確認してください。"
STALE = (
    "この申請は表示した後に変更されました (版 {seen} → {now})。"
    "開き直して、変更後の内容を確認してください。"
)
NOT_PROPOSER = "申請を変更・提出・取り下げできるのは申請者本人だけです。"
NOT_FOUND = "申請 #{id} が見つかりません。"
RESTRICTED_ACT = (
    "この申請の住民はDV等支援措置の対象です。{what}には支援措置担当の権限が必要です"
    "（氏名のほかの項目を確かめられないため）。（この操作は記録されました）"
)
PENDING_CLASH = (
    "同じ住民または同じ個人番号の確認待ちの申請が、同時に登録されました。一覧を確かめてください。"
)
RESIDENT_REMOVED = "消除された住民には個人番号を紐付けできません。"
LINK_NOT_ACTIVE = "この紐付けは既に解除されています。"


def details(p: LinkProposal, **extra: Any) -> dict[str, Any]:
    """The proposal as an event names it: id, kind, version, status, the number masked."""
    base: dict[str, Any] = {
        "proposal": p.id, "kind": p.kind, "version": p.version, "status": p.status,
    }
    if p.number:
        base["number"] = mask_my_number(p.number)
    base.update(extra)
    return base


def locked(a: Act, proposal_id: int) -> LinkProposal:
    """The proposal, locked for this transaction (FOR UPDATE on PostgreSQL; SQLite's
    write lock); the act's target becomes its resident."""
    p = a.s.exec(
        select(LinkProposal).where(LinkProposal.id == proposal_id).with_for_update()
    ).first()
    if p is None:
        raise NotFound(NOT_FOUND.format(id=proposal_id))
    a.target = f"resident:{p.resident_id}"
    return p


def already_decided(p: LinkProposal, state: str | None = None) -> Refusal:
    return Refusal(ALREADY_DECIDED.format(state=state or STATUS_LABELS.get(p.status, p.status)),
                   "already_decided", severity="info", **details(p))


def stale(p: LinkProposal, version: int) -> Refusal:
    return Refusal(STALE.format(seen=version, now=p.version), "stale_version",
                   severity="info", **details(p, seen=version))


def refuse_restricted(p: LinkProposal, what: str) -> NoReturn:
    """A restricted resident's proposal, shown withheld, cannot be approved or changed
    by that reader: they cannot see the items (recorded, high)."""
    raise Refusal(RESTRICTED_ACT.format(what=what), "restricted", severity="high",
                  **details(p, permission=str(Perm.OPEN_RESTRICTED), restricted=True))


def own_open(p: LinkProposal, ident: Identity, version: int) -> None:
    """Only the proposer changes a draft or pending proposal, at the version they saw."""
    if p.proposer_id != ident.user_id:
        raise Refusal(NOT_PROPOSER, "not_proposer", **details(p))
    if p.status not in (DRAFT, PENDING):
        raise already_decided(p)
    if p.version != version:
        raise stale(p, version)


def duplicate(s: Session, p: LinkProposal, *, pending_too: bool) -> Refusal | None:
    """The first duplicate that forbids this proposal, or None."""
    if p.kind == KIND_LINK and p.number:
        on_number = s.exec(select(MyNumberLink).where(
            MyNumberLink.number == p.number, MyNumberLink.status == LINK_ACTIVE,
        )).first()
        if on_number is not None and on_number.resident_id != p.resident_id:
            return Refusal(
                f"この個人番号 ({mask_my_number(p.number)}) は既に別の住民に紐付けられています。"
                "番号を申請者に確かめてください。",
                "number_linked_elsewhere",
                number=mask_my_number(p.number), link=on_number.id,
            )
    if p.kind == KIND_LINK:
        own = s.exec(select(MyNumberLink).where(
            MyNumberLink.resident_id == p.resident_id, MyNumberLink.status == LINK_ACTIVE,
        )).first()
        if own is not None:
            return Refusal(
                f"この住民には既に個人番号 ({mask_my_number(own.last4)}) が紐付けられています。"
                "変えるには、先に紐付け解除の申請をしてください。",
                "resident_already_linked", severity="info", link=own.id,
            )
    if not pending_too:
        return None
    others = select(LinkProposal).where(
        LinkProposal.status == PENDING, LinkProposal.id != (p.id or -1),
    )
    same_resident = s.exec(others.where(LinkProposal.resident_id == p.resident_id)).first()
    if same_resident is not None:
        return Refusal(
            f"この住民には確認待ちの申請 (#{same_resident.id}) があります。"
            "その申請の確認が終わるまで、新しい申請はできません。",
            "pending_for_resident", severity="info", pending=same_resident.id,
        )
    if p.number:
        same_number = s.exec(others.where(LinkProposal.number == p.number)).first()
        if same_number is not None:
            return Refusal(
                f"この個人番号 ({mask_my_number(p.number)}) には確認待ちの申請 "
                f"(#{same_number.id}) があります。",
                "pending_for_number", pending=same_number.id,
            )
    return None


def pending_clash(exc: Exception) -> Refusal | None:
    """The gate's ``translate``: the database's refusal of a second pending proposal for a
    resident or a number (PostgreSQL names the index, SQLite the columns)."""
    if not isinstance(exc, IntegrityError):
        return None
    text = str(exc.orig)
    if not any(k in text for k in (
        "uq_link_proposal_pending", "link_proposal.resident_id", "link_proposal.number",
    )):
        return None
    return Refusal(PENDING_CLASH, "pending_conflict")


def approvals(s: Session, p: LinkProposal) -> int:
    """Approving reviews of the proposal's current version."""
    return s.exec(select(func.count()).select_from(LinkReview).where(
        LinkReview.proposal_id == p.id, LinkReview.version == p.version,
        LinkReview.verdict == APPROVE,
    )).one()


def complete_and_unique(s: Session, p: LinkProposal) -> None:
    """What a proposal in the queue must be: complete (BadInput naming what is missing)
    and no duplicate of a link or another pending proposal (a refusal)."""
    problem = incomplete(p)
    if problem:
        raise BadInput(problem)
    clash = duplicate(s, p, pending_too=True)
    if clash:
        raise clash


def submit_into(s: Session, settings: Settings, p: LinkProposal) -> None:
    """Send ``p`` to the queue: complete and unique, then pending, needing the setting's
    confirmations besides the proposer (never fewer than one)."""
    complete_and_unique(s, p)
    current = now()
    p.status = PENDING
    p.submitted_at = current
    p.updated_at = current
    p.required_approvals = max(1, int(settings.linkage_approvals))
