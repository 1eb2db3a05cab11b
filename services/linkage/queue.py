"""Reading the linkage workflow: the review queue, the clerk's drafts, one proposal, and the
history of a link (docs/domain.md, "My Number").

Each read needs ``Perm.LINK_REVIEW`` or ``Perm.LINK_PROPOSE`` (a refusal recorded by
``services.gate``) and, but for the drafts, is recorded (linkage.open, linkage.queue,
linkage.history) in the transaction that read it. A restricted resident is shown to a
reader without ``Perm.OPEN_RESTRICTED`` as the name only (``services.restricted``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlmodel import select

from auth.identity import Identity
from auth.models import User
from auth.roles import Perm
from core.clock import aware, now
from core.db import Database
from core.errors import NotFound
from services import gate
from services.linkage.models import APPROVE, DRAFT, PENDING, LinkProposal, LinkReview
from services.linkage.rules import NOT_FOUND
from services.linkage.views import (
    ProposalView,
    QueueRow,
    difference_labels,
    item_rows,
    masked,
    proposal_view,
)
from services.register.models import MyNumberLink, Resident
from services.restricted import withheld


@contextmanager
def _reading(db: Database, ident: Identity, action: str, target: str, *,
             write: bool = True) -> Iterator[gate.Act]:
    """The gate for a read of the workflow: LINK_REVIEW or LINK_PROPOSE, else refused
    (recorded as the missing review permission). ``write``: the read records its event."""
    with gate.act(db, ident, action, perm=None, what="紐付けの申請の閲覧", target=target,
                  write=write) as a:
        if not (a.holds(Perm.LINK_REVIEW) or a.holds(Perm.LINK_PROPOSE)):
            raise gate.lacking(Perm.LINK_REVIEW, "紐付けの申請の閲覧")
        yield a


def _view(a: gate.Act, proposal_id: int) -> ProposalView:
    p = a.s.get(LinkProposal, proposal_id)
    if p is None:
        raise NotFound(NOT_FOUND.format(id=proposal_id))
    return proposal_view(a.s, p, may_see=a.holds(Perm.OPEN_RESTRICTED))


def open_proposal(db: Database, ident: Identity, proposal_id: int) -> ProposalView:
    """A proposal with the register side beside it (LINK_REVIEW or LINK_PROPOSE); recorded."""
    with _reading(db, ident, "linkage.open", f"proposal:{proposal_id}") as a:
        view = _view(a, proposal_id)
        restricted = view.register.restricted
        a.record(target=f"resident:{view.register.resident_id}",
                 severity="high" if restricted else "info",
                 details={"proposal": view.id, "kind": view.kind, "version": view.version,
                          "status": view.status, "restricted": restricted})
        return view


def _queue(
    a: gate.Act, ident: Identity, statuses: tuple[str, ...], *, source: str | None,
    kind: str | None, proposer: str | None, resident_id: int | None,
    min_age: timedelta | None, only_mine: bool, limit: int,
) -> list[QueueRow]:
    current = now()
    may_see = a.holds(Perm.OPEN_RESTRICTED)
    s = a.s
    stmt = (
        select(LinkProposal, Resident, User)
        .join(Resident, Resident.id == LinkProposal.resident_id)  # type: ignore[arg-type]
        .join(User, User.id == LinkProposal.proposer_id)  # type: ignore[arg-type]
        .where(LinkProposal.status.in_(statuses))  # type: ignore[attr-defined]
    )
    if source:
        stmt = stmt.where(LinkProposal.source == source)
    if kind:
        stmt = stmt.where(LinkProposal.kind == kind)
    if proposer:
        stmt = stmt.where(LinkProposal.proposer_login == proposer)
    if resident_id is not None:
        stmt = stmt.where(LinkProposal.resident_id == resident_id)
    if min_age is not None:
        stmt = stmt.where(LinkProposal.submitted_at <= current - min_age)  # type: ignore[operator]
    if only_mine:
        stmt = stmt.where(LinkProposal.proposer_id == ident.user_id)
    order = LinkProposal.submitted_at if statuses == (PENDING,) else LinkProposal.created_at
    stmt = stmt.order_by(order, LinkProposal.id).limit(max(1, limit))  # type: ignore[arg-type]
    found = s.exec(stmt).all()
    ids = [p.id for p, _, _ in found]
    reviews = s.exec(select(LinkReview).where(
        LinkReview.proposal_id.in_(ids)  # type: ignore[attr-defined]
    )).all() if ids else []
    rows: list[QueueRow] = []
    for p, resident, user in found:
        own = [r for r in reviews if r.proposal_id == p.id and r.version == p.version]
        since = aware(p.submitted_at or p.created_at)
        rows.append(withheld(QueueRow(
            proposal_id=p.id or 0, kind=p.kind, status=p.status, resident_id=p.resident_id,
            resident_name=f"{resident.family_name}\u3000{resident.given_name}",
            number_masked=masked(p.number), source=p.source,
            proposer_login=p.proposer_login, proposer_name=user.name,
            submitted_at=aware(p.submitted_at) if p.submitted_at else None,
            age=current - since, version=p.version,
            approvals=sum(1 for r in own if r.verdict == APPROVE),
            required=p.required_approvals,
            differences=difference_labels(item_rows(p, resident)),
            mine=p.proposer_id == ident.user_id,
            reviewed_by_me=any(r.reviewer_id == ident.user_id for r in own),
            restricted=bool(resident.dv_support),
        ), may_see=may_see))
    return rows


def pending(
    db: Database, ident: Identity, *, source: str | None = None, kind: str | None = None,
    proposer: str | None = None, resident_id: int | None = None,
    min_age: timedelta | None = None, limit: int = 200,
) -> list[QueueRow]:
    """The review queue: pending proposals, oldest submission first, with their age.

    Filters: ``source`` (申請書 / 窓口 / 住基ネット照会), ``kind`` (link / unlink),
    ``proposer`` (login), ``resident_id``, ``min_age`` (waiting at least this long).
    Needs LINK_REVIEW or LINK_PROPOSE; each view of the queue is recorded.
    """
    with _reading(db, ident, "linkage.queue", "queue") as a:
        rows = _queue(a, ident, (PENDING,), source=source, kind=kind, proposer=proposer,
                      resident_id=resident_id, min_age=min_age, only_mine=False, limit=limit)
        a.record(details={
            "count": len(rows),
            "filters": {k: v for k, v in (("source", source), ("kind", kind),
                                          ("proposer", proposer), ("resident", resident_id),
                                          ("min_age_s", min_age.total_seconds() if min_age
                                           else None)) if v is not None},
        })
        return rows


def drafts(db: Database, ident: Identity, *, limit: int = 200) -> list[QueueRow]:
    """The caller's own drafts, oldest first (to finish and submit later)."""
    with _reading(db, ident, "linkage.queue", "drafts", write=False) as a:
        return _queue(a, ident, (DRAFT,), source=None, kind=None, proposer=None,
                      resident_id=None, min_age=None, only_mine=True, limit=limit)


def link_history(db: Database, ident: Identity, link_id: int) -> list[ProposalView]:
    """Who proposed and who confirmed a link: the proposal that made it and any unlink
    proposals about it, oldest first, each with its reviews (link ← proposal ← reviews).

    Links from before this workflow (初期移行) have none. Needs LINK_REVIEW or
    LINK_PROPOSE; recorded.
    """
    with _reading(db, ident, "linkage.history", f"link:{link_id}") as a:
        link = a.s.get(MyNumberLink, link_id)
        if link is None:
            raise NotFound(f"紐付け #{link_id} が見つかりません。")
        ids = [pid for pid in a.s.exec(
            select(LinkProposal.id).where(LinkProposal.link_id == link_id)
            .order_by(LinkProposal.id)  # type: ignore[arg-type]
        ).all() if pid is not None]
        a.record(target=f"resident:{link.resident_id}",
                 details={"link": link_id, "proposals": ids})
        return [_view(a, pid) for pid in ids]
