"""The 棚卸し as callers read it: campaigns, their lines, a reviewer's charge.

Reading needs ``READ_PERMS`` (the access admin or the review permission); a refusal is
recorded as ``access.inventory.list``. A line's reviewer is its assigned login, or any
security officer when it has none (``in_charge``); never the line's own account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, true

from auth.access import permissions_on
from auth.identity import Identity
from auth.models import UserRole
from auth.roles import Perm
from core.clock import aware
from core.db import Database, columns
from core.errors import NotFound
from services import gate
from services.gate import Who
from services.jp.office_days import office_day
from services.jp.wareki import format_wareki
from services.personnel.inventory.tables import CAMPAIGN_C as _C
from services.personnel.inventory.tables import CAMPAIGNS as _CAMPAIGNS
from services.personnel.inventory.tables import LINE_C as _L
from services.personnel.inventory.tables import LINES as _LINES
from services.personnel.inventory_models import (
    CLOSE_LABELS,
    DECISION_LABELS,
    FLAG_LABELS,
    KEEP,
    OPEN,
    REVOKE,
    STATE_LABELS,
)

LIST = "access.inventory.list"
READ_PERMS = (Perm.ACCESS_ADMIN, Perm.ACCESS_CONFIRM)
ANY_OFFICER = "（セキュリティ管理者）"
OFFICER_ROLE = "security_officer"  # reviews the unassigned lines

_UR = columns(UserRole)
_FLAGGED = or_(_L.flag_dormant, _L.flag_contract, _L.flag_training, _L.flag_unlinked)


@dataclass(frozen=True)
class CampaignSummary:
    id: int
    state: str
    deadline: date
    started_by: str
    started_at: datetime
    snapshot_on: date
    dormant_days: int
    training_months: int
    lines: int
    kept: int
    revoked: int
    undecided: int
    flagged: int
    closed_by: str
    closed_at: datetime | None

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)


@dataclass(frozen=True)
class LineView:
    """One account in a campaign, as snapshotted, with its decision and what closing did."""

    id: int
    campaign_id: int
    user_id: int
    login: str
    account_name: str
    disabled: bool
    roles: tuple[str, ...]
    last_signin_at: datetime | None
    staff_no: str
    staff_name: str
    department: str
    post: str
    employment: str
    contract_end: date | None
    staff_status: str
    training_on: date | None
    flags: tuple[str, ...]  # keys of FLAG_LABELS
    reviewer_login: str  # "" : any security officer
    decision: str  # "", keep, revoke
    decided_by: str
    decided_at: datetime | None
    comment: str
    removed_roles: tuple[str, ...]
    close_action: str  # "", undecided, revoked
    suspended: bool

    # Label properties like the linkage record's (a pair by shape): each its own labels.
    @property
    def flag_labels(self) -> tuple[str, ...]:
        return tuple(FLAG_LABELS[f] for f in self.flags)

    @property
    def decision_label(self) -> str:
        return DECISION_LABELS.get(self.decision, self.decision)

    @property
    def close_label(self) -> str:
        return CLOSE_LABELS.get(self.close_action, self.close_action)

    @property
    def reviewer_label(self) -> str:
        return self.reviewer_login or ANY_OFFICER


@dataclass(frozen=True)
class Closed:
    campaign_id: int
    undecided: tuple[LineView, ...]  # reported; revoked too when ``revoked_undecided``
    revoked_undecided: int  # accounts whose roles closing removed because undecided
    suspended: tuple[LineView, ...]  # accounts whose roles were suspended for training
    sessions: int  # console sessions ended by closing


def _summaries(conn: Any, where: Any) -> list[CampaignSummary]:
    flagged = _FLAGGED
    counts = (
        select(
            _L.campaign_id,
            func.sum(case((_L.decision == KEEP, 1), else_=0)).label("kept"),
            func.sum(case((_L.decision == REVOKE, 1), else_=0)).label("revoked"),
            func.sum(case((_L.decision == "", 1), else_=0)).label("undecided"),
            func.sum(case((flagged, 1), else_=0)).label("flagged"),
        ).group_by(_L.campaign_id).subquery()
    )
    rows = conn.execute(
        select(_CAMPAIGNS, counts.c.kept, counts.c.revoked, counts.c.undecided,
               counts.c.flagged)
        .select_from(_CAMPAIGNS.outerjoin(counts, counts.c.campaign_id == _C.id))
        .where(where).order_by(_C.id.desc())
    ).mappings().all()
    return [
        CampaignSummary(
            id=r["id"], state=r["state"], deadline=r["deadline"], started_by=r["started_by"],
            started_at=aware(r["started_at"]), snapshot_on=r["snapshot_on"],
            dormant_days=r["dormant_days"], training_months=r["training_months"],
            lines=r["lines"], kept=int(r["kept"] or 0), revoked=int(r["revoked"] or 0),
            undecided=int(r["undecided"] or 0), flagged=int(r["flagged"] or 0),
            closed_by=r["closed_by"],
            closed_at=aware(r["closed_at"]) if r["closed_at"] else None,
        )
        for r in rows
    ]


def list_campaigns(db: Database, who: Who) -> list[CampaignSummary]:
    """Every campaign, newest first; needs ACCESS_ADMIN or ACCESS_CONFIRM."""
    with gate.act(db, who, LIST, perm=READ_PERMS, what="棚卸しの閲覧", target="inventory",
                  write=False) as a:
        found = _summaries(a.s.connection(), true())
    return found


def get_campaign(db: Database, who: Who, campaign_id: int) -> CampaignSummary:
    with gate.act(db, who, LIST, perm=READ_PERMS, what="棚卸しの閲覧",
                  target=f"inventory:{campaign_id}", write=False) as a:
        found = _summaries(a.s.connection(), _C.id == campaign_id)
    if not found:
        raise NotFound(f"棚卸し #{campaign_id} はありません。")
    return found[0]


def line_view(m: Any) -> LineView:
    flags = tuple(f for f in FLAG_LABELS if m[f"flag_{f}"])
    return LineView(
        id=m["id"], campaign_id=m["campaign_id"], user_id=m["user_id"], login=m["login"],
        account_name=m["account_name"], disabled=bool(m["disabled"]),
        roles=split(m["roles"]),
        last_signin_at=aware(m["last_signin_at"]) if m["last_signin_at"] else None,
        staff_no=m["staff_no"], staff_name=m["staff_name"], department=m["department"],
        post=m["post"], employment=m["employment"], contract_end=m["contract_end"],
        staff_status=m["staff_status"], training_on=m["training_on"], flags=flags,
        reviewer_login=m["reviewer_login"], decision=m["decision"],
        decided_by=m["decided_by"],
        decided_at=aware(m["decided_at"]) if m["decided_at"] else None,
        comment=m["comment"], removed_roles=split(m["removed_roles"]),
        close_action=m["close_action"], suspended=bool(m["suspended"]),
    )


def _narrowed(q: Any, *, flagged: bool, undecided: bool) -> Any:
    """``q`` limited to the flagged lines and / or those without a decision."""
    if flagged:
        q = q.where(_FLAGGED)
    if undecided:
        q = q.where(_L.decision == "")
    return q


def campaign_lines(db: Database, who: Who, campaign_id: int, *, flagged: bool = False,
                   undecided: bool = False, reviewer: str | None = None) -> list[LineView]:
    """The lines of a campaign by login; ``flagged``: only lines with a flag;
    ``undecided``: only lines without a decision; ``reviewer``: only lines assigned to
    that login (``""``: the unassigned ones, for any security officer)."""
    get_campaign(db, who, campaign_id)
    q = select(_LINES).where(_L.campaign_id == campaign_id)
    q = _narrowed(q, flagged=flagged, undecided=undecided)
    if reviewer is not None:
        q = q.where(_L.reviewer_login == reviewer)
    with db.read() as s:
        return [line_view(m) for m in s.connection().execute(q.order_by(_L.login)).mappings()]


def get_line(db: Database, who: Who, line_id: int) -> LineView:
    with db.read() as s:
        m = s.connection().execute(select(_LINES).where(_L.id == line_id)).mappings().first()
    if m is None:
        raise NotFound(f"棚卸しの行 #{line_id} はありません。")
    get_campaign(db, who, m["campaign_id"])
    return line_view(m)


def in_charge(conn: Any, ident: Identity) -> Any:
    """The lines ``ident`` is to review: assigned to them, or unassigned when they are a
    security officer now; never their own account's line."""
    officer = conn.execute(select(_UR.role).where(
        _UR.user_id == ident.user_id, _UR.role == OFFICER_ROLE)).first() is not None
    mine = _L.reviewer_login == ident.login
    if officer:
        mine = or_(mine, _L.reviewer_login == "")
    return and_(mine, _L.user_id != ident.user_id)


def reviewer_lines(db: Database, ident: Identity, campaign_id: int, *, flagged: bool = False,
                   undecided: bool = False) -> list[LineView]:
    """``campaign_lines`` limited to the lines in this reviewer's charge (自分の担当): those
    assigned to them, and the unassigned ones for a security officer; never their own."""
    get_campaign(db, ident, campaign_id)
    with db.read() as s:
        conn = s.connection()
        q = _narrowed(select(_LINES).where(_L.campaign_id == campaign_id,
                                           in_charge(conn, ident)),
                      flagged=flagged, undecided=undecided)
        return [line_view(m) for m in conn.execute(q.order_by(_L.login)).mappings()]


def joined(roles: Iterable[str]) -> str:
    """Roles as a line stores them: sorted, comma-separated."""
    return ",".join(sorted(set(roles)))


def split(text: str) -> tuple[str, ...]:
    return tuple(r for r in (text or "").split(",") if r)


def open_campaign(conn: Any) -> Any:
    """The open campaign's id and deadline, or None."""
    return conn.execute(select(_C.id, _C.deadline).where(_C.state == OPEN)).first()


def waiting(db: Database, ident: Identity, today: date | None = None) -> list[str]:
    """What the open campaign asks of this person, for the home screen: the undecided
    lines in their charge (review permission), and a campaign past its deadline still to
    close (admins). Nothing when no campaign is open or nothing is asked."""
    day = today or office_day()
    out: list[str] = []
    with db.read() as s:
        conn = s.connection()
        perms = permissions_on(conn, ident)
        if Perm.ACCESS_CONFIRM not in perms and Perm.ACCESS_ADMIN not in perms:
            return []
        camp = open_campaign(conn)
        if camp is None:
            return []
        deadline = format_wareki(camp.deadline)
        if Perm.ACCESS_CONFIRM in perms:
            mine = conn.execute(select(func.count()).where(
                _L.campaign_id == camp.id, _L.decision == "", _L.close_action == "",
                in_charge(conn, ident))).scalar_one()
            if mine:
                late = "を過ぎています" if day > camp.deadline else ""
                out.append(f"棚卸しの未判定が {mine:,} 件あります（期限 {deadline}{late}）。")
        if Perm.ACCESS_ADMIN in perms and day >= camp.deadline:
            left = conn.execute(select(func.count()).where(
                _L.campaign_id == camp.id, _L.decision == "")).scalar_one()
            out.append(f"棚卸し #{camp.id} は期限（{deadline}）を迎えました。締めてください"
                       f"（未判定 {left:,} 件）。")
    return out
