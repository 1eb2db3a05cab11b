"""The proposer's acts: propose (a link or an unlink), submit a draft, amend, withdraw
(docs/domain.md, "My Number").

A clerk holding ``Perm.LINK_PROPOSE`` proposes: resident, the number the applicant gave
(NFKC, check digit verified on entry), source, reference, identity checks and the items as
written on the application. ``submit=False`` keeps it as a draft (waiting for a 住基ネット
answer, say); ``submit`` later sends it to the queue. Duplicates are refused
(``services.linkage.rules``). An edit (``amend``) raises the version, so earlier reviews
no longer count.

Each act is one ``services.gate.act``: the permission read, the act, its event and the
view it returns in one transaction; a refusal recorded once. Audit actions:
linkage.propose, linkage.submit, linkage.amend, linkage.withdraw — the number only masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from auth.identity import Identity
from auth.roles import Perm
from core.clock import now
from core.db import Database, rowcount
from core.errors import BadInput, NotFound
from core.settings import Settings
from services import gate
from services.linkage.application import (
    APPLICATION_COLUMNS,
    NO_APPLICATION,
    NOTE_MAX,
    REFERENCE_MAX,
    Application,
    clean,
    identity_json,
    parse_my_number,
    parse_number_check,
    parse_source,
    set_application,
)
from services.linkage.models import (
    DRAFT,
    KIND_LINK,
    KIND_UNLINK,
    PENDING,
    WITHDRAWN,
    LinkProposal,
    LinkReview,
)
from services.linkage.rules import (
    ALREADY_DECIDED,
    LINK_NOT_ACTIVE,
    RESIDENT_REMOVED,
    complete_and_unique,
    details,
    duplicate,
    locked,
    own_open,
    pending_clash,
    refuse_restricted,
    submit_into,
)
from services.linkage.views import ProposalView, proposal_view, resident_of
from services.register.models import LINK_ACTIVE, STATUS_REMOVED, MyNumberLink

WHAT = "紐付けの申請"


def _act(db: Database, ident: Identity, action: str, target: str, *, what: str = WHAT,
         numbers: bool = True) -> AbstractContextManager[gate.Act]:
    """The gate for a proposer's act (the pending clash of two clerks at once refused)."""
    return gate.act(db, ident, action, perm=Perm.LINK_PROPOSE, what=what, target=target,
                    numbers=numbers, translate=pending_clash)


def _view(a: gate.Act, p: LinkProposal) -> ProposalView:
    return proposal_view(a.s, p, may_see=a.holds(Perm.OPEN_RESTRICTED))


def _file(a: gate.Act, settings: Settings, p: LinkProposal, *, submit: bool,
          severity: str = "info", **extra: Any) -> None:
    """Store a new proposal — submitted (complete? then no duplicate) or as a draft (no
    duplicate of a pending one either) — and record it (and its submission)."""
    s: Session = a.s
    if submit:
        submit_into(s, settings, p)
    else:
        clash = duplicate(s, p, pending_too=True)
        if clash:
            raise clash
    s.add(p)
    s.flush()
    a.record(severity=severity, details=details(p, submitted=submit, **extra))
    if submit:
        a.record(action="linkage.submit", details=details(p))


def propose(
    db: Database, settings: Settings, ident: Identity, resident_id: int, *,
    number: str = "", source: str = "", reference: str = "", number_check: str = "",
    identity_checks: Sequence[str] = (), application: Application = NO_APPLICATION,
    note: str = "", submit: bool = True,
) -> ProposalView:
    """Create a link proposal for ``resident_id``; submitted unless ``submit=False``.

    BadInput (recorded, nothing saved) for a bad number or field, or — when submitting —
    a missing one. Refused (recorded) without LINK_PROPOSE, for a 消除 resident, or a
    duplicate. A draft may lack the number and the application items; ``submit`` checks
    them.
    """
    with _act(db, ident, "linkage.propose", f"resident:{resident_id}") as a:
        p = LinkProposal(
            kind=KIND_LINK, resident_id=resident_id, proposer_id=ident.user_id,
            proposer_login=ident.login, created_at=now(), updated_at=now(),
        )
        if (number or "").strip() or submit:
            p.number = parse_my_number(number)
            p.last4 = p.number[-4:]
        p.source = parse_source(source)
        p.reference = clean(reference, "申請書等の番号", REFERENCE_MAX)
        p.number_check = parse_number_check(number_check)
        p.identity_checks = identity_json(identity_checks)
        p.note = clean(note, "備考", NOTE_MAX)
        set_application(p, application)
        resident = resident_of(a.s, resident_id)
        if resident.status == STATUS_REMOVED:
            a.refuse(RESIDENT_REMOVED, "resident_removed", severity="info")
        restricted = bool(resident.dv_support)
        _file(a, settings, p, submit=submit, source=p.source, restricted=restricted,
              severity="high" if restricted else "info")
        return _view(a, p)


def propose_unlink(
    db: Database,
    settings: Settings,
    ident: Identity,
    link_id: int,
    *,
    reason: str,
    reference: str = "",
    submit: bool = True,
) -> ProposalView:
    """Propose revoking an active link; it needs a second person like any link."""
    with _act(db, ident, "linkage.propose", f"link:{link_id}", what="紐付け解除の申請") as a:
        note = clean(reason, "解除の理由", NOTE_MAX)
        if submit and not note:
            raise BadInput("解除の理由: 入力してください。")
        ref = clean(reference, "申請書等の番号", REFERENCE_MAX)
        link = a.s.get(MyNumberLink, link_id)
        if link is None:
            raise NotFound(f"紐付け #{link_id} が見つかりません。")
        a.target = f"resident:{link.resident_id}"
        if link.status != LINK_ACTIVE:
            a.refuse(LINK_NOT_ACTIVE, "link_not_active", severity="info", link=link_id)
        current = now()
        p = LinkProposal(
            kind=KIND_UNLINK, resident_id=link.resident_id, number=link.number,
            last4=link.last4, link_id=link.id, source="", note=note, reference=ref,
            proposer_id=ident.user_id, proposer_login=ident.login,
            created_at=current, updated_at=current,
        )
        _file(a, settings, p, submit=submit, link=link_id)
        return _view(a, p)


def submit(
    db: Database, settings: Settings, ident: Identity, proposal_id: int, *, version: int
) -> ProposalView:
    """Send a draft to the review queue (draft → pending); only its proposer may."""
    with _act(db, ident, "linkage.submit", f"proposal:{proposal_id}") as a:
        p = locked(a, proposal_id)
        own_open(p, ident, version)
        if p.status != DRAFT:
            a.refuse("この申請は既に提出されています。", "already_submitted", severity="info",
                     **details(p))
        if p.kind == KIND_LINK and resident_of(a.s, p.resident_id).status == STATUS_REMOVED:
            a.refuse(RESIDENT_REMOVED, "resident_removed", severity="info", **details(p))
        submit_into(a.s, settings, p)
        a.s.add(p)
        a.s.flush()
        a.record(details=details(p))
        return _view(a, p)


def _changes(
    number: str | None, source: str | None, reference: str | None, number_check: str | None,
    identity_checks: Sequence[str] | None, application: Application | None, note: str | None,
) -> dict[str, Any]:
    """The columns an amendment sets, read from what was given (None: left as is)."""
    new: dict[str, Any] = {}
    if number is not None:
        parsed = parse_my_number(number) if number.strip() else ""
        new.update(number=parsed, last4=parsed[-4:])
    if source is not None:
        new["source"] = parse_source(source)
    if reference is not None:
        new["reference"] = clean(reference, "申請書等の番号", REFERENCE_MAX)
    if number_check is not None:
        new["number_check"] = parse_number_check(number_check)
    if identity_checks is not None:
        new["identity_checks"] = identity_json(identity_checks)
    if note is not None:
        new["note"] = clean(note, "備考", NOTE_MAX)
    if application is not None:
        probe = LinkProposal(resident_id=0, proposer_id=0, proposer_login="",
                             created_at=now(), updated_at=now())
        set_application(probe, application)
        for col in APPLICATION_COLUMNS:
            new[col] = getattr(probe, col)
    return new


def amend(
    db: Database, settings: Settings, ident: Identity, proposal_id: int, *, version: int,
    number: str | None = None, source: str | None = None, reference: str | None = None,
    number_check: str | None = None, identity_checks: Sequence[str] | None = None,
    application: Application | None = None, note: str | None = None,
) -> ProposalView:
    """Change a draft or pending proposal (its proposer only); None leaves a field as is.

    Any real change raises the version: reviews of the old version no longer count, and
    a reviewer holding the old version is refused until they open it again.
    """
    with _act(db, ident, "linkage.amend", f"proposal:{proposal_id}") as a:
        new = _changes(number, source, reference, number_check, identity_checks,
                       application, note)
        p = locked(a, proposal_id)
        own_open(p, ident, version)
        if not a.holds(Perm.OPEN_RESTRICTED) and resident_of(a.s, p.resident_id).dv_support:
            refuse_restricted(p, "変更")  # the form showed blanks: saving would erase
        if p.kind == KIND_UNLINK and "number" in new:
            raise BadInput("個人番号: 解除の申請では番号を変えられません。")
        changed = sorted(k for k, v in new.items() if getattr(p, k) != v and k != "last4")
        if changed:
            for k, v in new.items():
                setattr(p, k, v)
            voided = a.s.exec(select(func.count()).select_from(LinkReview).where(
                LinkReview.proposal_id == p.id, LinkReview.version == p.version,
            )).one()
            p.version += 1
            p.updated_at = now()
            if p.status == PENDING:
                complete_and_unique(a.s, p)
            a.s.add(p)
            a.s.flush()
            a.record(details=details(p, fields=changed, voided_reviews=voided))
        return _view(a, p)


def withdraw(
    db: Database, ident: Identity, proposal_id: int, *, version: int, reason: str = ""
) -> ProposalView:
    """The proposer takes back a draft or pending proposal (→ withdrawn); kept for the record."""
    with _act(db, ident, "linkage.withdraw", f"proposal:{proposal_id}", numbers=False) as a:
        why = clean(reason, "取下げの理由", NOTE_MAX)
        p = locked(a, proposal_id)
        own_open(p, ident, version)
        current = now()
        result = a.s.execute(
            update(LinkProposal)
            .where(col(LinkProposal.id) == proposal_id, col(LinkProposal.version) == version,
                   col(LinkProposal.status).in_((DRAFT, PENDING)))
            .values(status=WITHDRAWN, decided_at=current, updated_at=current)
        )
        if rowcount(result) != 1:
            a.refuse(ALREADY_DECIDED.format(state="処理済み"), "already_decided")
        a.s.refresh(p)
        a.record(details=details(p, reason_given=bool(why)))
        return _view(a, p)
