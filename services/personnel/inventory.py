"""The periodic full review of access rights (棚卸し).

The assessment promises that nobody without a current need keeps rights, former staff
included. A change round (``services.personnel.rounds``) catches the changes someone
reported; the 棚卸し catches the rest: once in a while every account is listed with its
rights for a reviewer, who keeps or revokes each one.

* **Start** (``start_campaign``; an admin with ``Perm.ACCESS_ADMIN``, or the CLI's OS
  operator): snapshots EVERY account (``app_user``) with its roles and, through
  ``staff.user_id``, its staff record, and flags each line:
  - 長期未使用 (dormant): no sign-in for ``inventory_dormant_days`` days or more (an
    account never signed in counts from when it was made);
  - 契約期間終了: a 委託先 or 会計年度任用 whose ``contract_end`` is before today;
  - 研修: a staff member whose last security training is older than
    ``inventory_training_months`` months (the day exactly that many months ago still
    counts as current), or who has none recorded;
  - 職員ひも付きなし: an account no staff record points to.
  Each line gets an assigned reviewer: the first (by login) of the staff of the same
  所属 — the staff record's, or the account's when there is none — whose enabled account
  holds ``Perm.ACCESS_CONFIRM``, never the account itself; blank when there is none,
  and then any security officer reviews it. Only one campaign is open at a time.
* **Decide** (``decide``): keep or revoke, by any holder of ``Perm.ACCESS_CONFIRM``
  except the line's own account (refused and recorded; the database refuses it too).
  Revoking removes the account's roles and ends its open console sessions (end reason
  ``revoked``) in the same transaction as the audit event. Decisions are conditional
  updates: two reviewers at once give one decision and one clear refusal.
* **Close** (``close_campaign``; on or after the deadline): the lines still undecided are
  reported (marked, listed, counted in the record); their roles are revoked only when
  ``inventory_revoke_undecided`` is on. With ``inventory_suspend_untrained`` on, the
  roles of staff flagged for training — and still overdue on the closing day — are
  suspended (revoked) and recorded, whatever the line's decision.

Office days are Japan time (JST). Every act is recorded (``access.inventory.*``); every
refusal too.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from auth.access import NOT_ALLOWED, current_permissions, permissions_on
from auth.identity import Identity
from auth.models import ConsoleSession, User, UserRole
from auth.roles import Perm, permissions_of
from auth.stepup import require_recent_auth
from core.actor import Actor
from core.clock import JST, aware, now
from core.db import Database, columns, table
from core.errors import BadInput, NotFound, Refused
from core.freetext import field_text
from core.settings import Settings
from logs.audit import record, record_alone
from services.jp.wareki import format_wareki
from services.personnel.inventory_models import (
    CLOSE_LABELS,
    CLOSE_REVOKED,
    CLOSE_UNDECIDED,
    CLOSED,
    DECISION_LABELS,
    DECISIONS,
    FLAG_LABELS,
    KEEP,
    OPEN,
    REVOKE,
    STATE_LABELS,
    InventoryCampaign,
    InventoryLine,
)
from services.personnel.models import ACTIVE, Staff

Who = Identity | Actor

START = "access.inventory.start"
CLOSE = "access.inventory.close"
REVOKE_UNDECIDED = "access.inventory.revoke_undecided"
SUSPEND = "access.inventory.suspend"
CONTRACT_TYPES = ("委託先", "会計年度任用")
COMMENT_MAX = 500
ANY_OFFICER = "（セキュリティ管理者）"
OFFICER_ROLE = "security_officer"  # reviews the unassigned lines

_C = columns(InventoryCampaign)
_L = columns(InventoryLine)
_U = columns(User)
_UR = columns(UserRole)
_CS = columns(ConsoleSession)
_S = columns(Staff)
_CAMPAIGNS = table(InventoryCampaign)
_LINES = table(InventoryLine)


# --- what callers get back --------------------------------------------------------------


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


# --- dates and flags --------------------------------------------------------------------


def office_day(at: datetime | None = None) -> date:
    """The office day (Japan time) of ``at`` (default: now)."""
    return aware(at or now()).astimezone(JST).date()


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the month's last day if shorter)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def line_flags(
    *, at: datetime, created_at: datetime, last_signin_at: datetime | None,
    staff: Any | None, dormant_days: int, training_months: int,
) -> dict[str, bool]:
    """The four flags of an account at ``at`` (see the module docstring for each rule)."""
    day = office_day(at)
    last = aware(last_signin_at or created_at)
    flags = {
        "dormant": at - last >= timedelta(days=dormant_days),
        "contract": False,
        "training": False,
        "unlinked": staff is None,
    }
    if staff is not None:
        end = staff["contract_end"]
        flags["contract"] = staff["employment"] in CONTRACT_TYPES and end is not None \
            and end < day
        flags["training"] = training_overdue(staff["training_on"], day, training_months)
    return flags


def training_overdue(training_on: date | None, day: date, months: int) -> bool:
    """No training recorded, or the last one before the day ``months`` months ago."""
    return training_on is None or training_on < months_before(day, months)


# --- who may ----------------------------------------------------------------------------


def _actor(db: Database, who: Who, perms: Iterable[Perm], *, action: str, what: str,
           target: str) -> Actor:
    """The actor to record; a signed-in user needs one of ``perms`` now (refusal recorded).

    ``Actor`` is the OS operator of a CLI command, trusted like the other admin commands.
    """
    if isinstance(who, Actor):
        return who
    wanted = tuple(perms)
    if any(p in current_permissions(db, who) for p in wanted):
        return who.actor
    record_alone(db, who.actor, action, target=target, outcome="refused", severity="warning",
                 details={"reason": "permission", "permission": " | ".join(map(str, wanted))})
    raise Refused(NOT_ALLOWED.format(what=what))


def _refuse(db: Database, actor: Actor, action: str, target: str, exc: Exception,
            reason: str) -> None:
    record_alone(db, actor, action, target=target, outcome="refused", severity="warning",
                 details={"reason": reason, "message": str(exc)[:300]})


# --- rights removed ---------------------------------------------------------------------


def _strip_roles(conn: Any, user_id: int) -> tuple[str, ...]:
    """Delete every role of the account; the roles that were there (one statement, so two
    transactions at once never both claim the same role)."""
    gone = conn.execute(
        delete(table(UserRole)).where(_UR.user_id == user_id)
        .returning(_UR.role)
    ).scalars().all()
    return tuple(sorted(gone))


def _end_sessions(conn: Any, user_id: int) -> int:
    """End the account's open console sessions; its consoles close at their next check."""
    return int(conn.execute(
        update(table(ConsoleSession)).where(
            _CS.user_id == user_id, _CS.ended_at.is_(None))
        .values(ended_at=now(), end_reason="revoked")
    ).rowcount or 0)


def _chunks(ids: list[int], size: int = 900) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _strip_many(conn: Any, user_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """``_strip_roles`` for many accounts at once (closing): account id → roles removed."""
    out: dict[int, list[str]] = {}
    for chunk in _chunks(user_ids):
        for user_id, role in conn.execute(
            delete(table(UserRole)).where(_UR.user_id.in_(chunk))
            .returning(_UR.user_id, _UR.role)
        ):
            out.setdefault(user_id, []).append(role)
    return {u: tuple(sorted(r)) for u, r in out.items()}


def _end_many(conn: Any, user_ids: list[int]) -> dict[int, int]:
    """``_end_sessions`` for many accounts at once: account id → sessions ended."""
    out: dict[int, int] = {}
    stamp = now()
    for chunk in _chunks(user_ids):
        for (user_id,) in conn.execute(
            update(table(ConsoleSession)).where(
                _CS.user_id.in_(chunk), _CS.ended_at.is_(None))
            .values(ended_at=stamp, end_reason="revoked").returning(_CS.user_id)
        ):
            out[user_id] = out.get(user_id, 0) + 1
    return out


def _joined(roles: Iterable[str]) -> str:
    return ",".join(sorted(set(roles)))


def _split(text: str) -> tuple[str, ...]:
    return tuple(r for r in (text or "").split(",") if r)


# --- start ------------------------------------------------------------------------------


def _check_thresholds(settings: Settings) -> tuple[int, int]:
    days, months = int(settings.inventory_dormant_days), int(settings.inventory_training_months)
    if days < 1:
        raise BadInput("設定 inventory_dormant_days: 1 以上の日数にしてください。")
    if months < 1:
        raise BadInput("設定 inventory_training_months: 1 以上の月数にしてください。")
    return days, months


def _open_campaign(conn: Any) -> Any:
    return conn.execute(select(_C.id, _C.deadline).where(_C.state == OPEN)).first()


STILL_OPEN = "棚卸し #{id}（期限 {deadline}）が実施中です。締めてから新しい棚卸しを始めてください。"


def _busy(row: Any) -> Refused:
    return Refused(STILL_OPEN.format(id=row.id, deadline=format_wareki(row.deadline)))


def _reviewers(users: list[Any], roles: dict[int, set[str]],
               staff_of: dict[int, Any]) -> dict[str, list[tuple[str, int]]]:
    """所属 → [(login, user id)] of enabled, serving staff holding ACCESS_CONFIRM, by login."""
    out: dict[str, list[tuple[str, int]]] = {}
    for u in users:
        st = staff_of.get(u.id)
        if u.disabled or st is None or st["status"] != ACTIVE or not st["department"]:
            continue
        if Perm.ACCESS_CONFIRM in permissions_of(tuple(roles.get(u.id, ()))):
            out.setdefault(st["department"], []).append((u.login, u.id))
    for people in out.values():
        people.sort()
    return out


def _snapshot(conn: Any, at: datetime, dormant_days: int,
              training_months: int) -> list[dict[str, Any]]:
    """One line (column values, without the campaign) per account, by login."""
    users = conn.execute(
        select(_U.id, _U.login, _U.name, _U.department, _U.disabled, _U.created_at,
               _U.last_signin_at).order_by(_U.login)
    ).all()
    roles: dict[int, set[str]] = {}
    for user_id, role in conn.execute(select(_UR.user_id, _UR.role)):
        roles.setdefault(user_id, set()).add(role)
    staff_of = {
        st["user_id"]: st for st in conn.execute(
            select(table(Staff)).where(_S.user_id.is_not(None))
        ).mappings()
    }
    reviewers = _reviewers(users, roles, staff_of)
    lines = []
    for u in users:
        st = staff_of.get(u.id)
        flags = line_flags(at=at, created_at=u.created_at, last_signin_at=u.last_signin_at,
                           staff=st, dormant_days=dormant_days,
                           training_months=training_months)
        dept = st["department"] if st is not None else u.department
        reviewer = next(((login, uid) for login, uid in reviewers.get(dept, [])
                         if uid != u.id), ("", None))
        lines.append({
            "user_id": u.id, "login": u.login, "account_name": u.name,
            "account_department": u.department, "disabled": bool(u.disabled),
            "roles": _joined(roles.get(u.id, ())), "account_created_at": aware(u.created_at),
            "last_signin_at": aware(u.last_signin_at) if u.last_signin_at else None,
            "staff_no": st["staff_no"] if st is not None else "",
            "staff_name": st["name"] if st is not None else "",
            "department": st["department"] if st is not None else "",
            "post": st["post"] if st is not None else "",
            "employment": st["employment"] if st is not None else "",
            "contract_end": st["contract_end"] if st is not None else None,
            "staff_status": st["status"] if st is not None else "",
            "training_on": st["training_on"] if st is not None else None,
            "flag_dormant": flags["dormant"], "flag_contract": flags["contract"],
            "flag_training": flags["training"], "flag_unlinked": flags["unlinked"],
            "reviewer_login": reviewer[0], "reviewer_user": reviewer[1],
            "decision": "", "decided_by": "", "decided_user": None, "decided_at": None,
            "comment": "", "removed_roles": "", "close_action": "", "suspended": False,
        })
    return lines


def start_campaign(db: Database, settings: Settings, who: Who, *, deadline: date,
                   at: datetime | None = None) -> CampaignSummary:
    """Start a 棚卸し: snapshot every account, flag it, assign its reviewer; recorded.

    ``at`` is the snapshot time (default: now), for tests. BadInput for a deadline before
    the snapshot's office day; Refused while another campaign is open.
    """
    actor = _actor(db, who, (Perm.ACCESS_ADMIN,), action=START, what="棚卸しの開始",
                   target="inventory")
    at = aware(at or now())
    day = office_day(at)
    problem: Exception | None = None
    reason = ""
    campaign_id = 0
    try:
        days, months = _check_thresholds(settings)
        if deadline < day:
            raise BadInput(f"期限: {format_wareki(deadline)} は過ぎています。"
                           f"今日（{format_wareki(day)}）以降の日付を指定してください。")
        with db.write() as s:
            conn = s.connection()
            busy = _open_campaign(conn)
            if busy is not None:
                reason = "open_campaign"
                raise _busy(busy)
            campaign_id = int(conn.execute(_CAMPAIGNS.insert().values(
                state=OPEN, deadline=deadline, started_by=actor.login,
                started_user=actor.user_id, started_at=at, snapshot_on=day,
                dormant_days=days, training_months=months, lines=0, closed_by="",
                revoke_undecided=False, suspend_untrained=False,
            ).returning(_C.id)).scalar_one())
            lines = _snapshot(conn, at, days, months)
            if lines:
                conn.execute(_LINES.insert(), [{**ln, "campaign_id": campaign_id}
                                               for ln in lines])
            conn.execute(update(_CAMPAIGNS).where(_C.id == campaign_id)
                         .values(lines=len(lines)))
            counts = {f: sum(1 for ln in lines if ln[f"flag_{f}"]) for f in FLAG_LABELS}
            record(s, actor, START, target=f"inventory:{campaign_id}", details={
                "campaign": campaign_id, "deadline": deadline.isoformat(),
                "snapshot_on": day.isoformat(), "lines": len(lines),
                "flagged": sum(1 for ln in lines if any(ln[f"flag_{f}"] for f in FLAG_LABELS)),
                **{f"flag_{f}": n for f, n in counts.items()},
                "dormant_days": days, "training_months": months,
                "unassigned": sum(1 for ln in lines if not ln["reviewer_login"]),
            })
    except IntegrityError:  # another start won the one open slot just now
        with db.read() as s:
            busy = _open_campaign(s.connection())
        problem, reason = (_busy(busy) if busy is not None else Refused(
            "棚卸しを開始できませんでした。もう一度実行してください。")), "open_campaign"
    except (BadInput, Refused) as exc:
        problem, reason = exc, reason or "bad_input"
    if problem is not None:
        _refuse(db, actor, START, "inventory", problem, reason)
        raise problem
    return get_campaign(db, actor, campaign_id)


# --- read -------------------------------------------------------------------------------

_READ_PERMS = (Perm.ACCESS_ADMIN, Perm.ACCESS_CONFIRM)


def _summaries(conn: Any, where: Any) -> list[CampaignSummary]:
    flagged = or_(_L.flag_dormant, _L.flag_contract, _L.flag_training, _L.flag_unlinked)
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
    _actor(db, who, _READ_PERMS, action="access.inventory.list", what="棚卸しの閲覧",
           target="inventory")
    with db.read() as s:
        return _summaries(s.connection(), true())


def get_campaign(db: Database, who: Who, campaign_id: int) -> CampaignSummary:
    _actor(db, who, _READ_PERMS, action="access.inventory.list", what="棚卸しの閲覧",
           target=f"inventory:{campaign_id}")
    with db.read() as s:
        found = _summaries(s.connection(), _C.id == campaign_id)
    if not found:
        raise NotFound(f"棚卸し #{campaign_id} はありません。")
    return found[0]


def _view(m: Any) -> LineView:
    flags = tuple(f for f in FLAG_LABELS if m[f"flag_{f}"])
    return LineView(
        id=m["id"], campaign_id=m["campaign_id"], user_id=m["user_id"], login=m["login"],
        account_name=m["account_name"], disabled=bool(m["disabled"]),
        roles=_split(m["roles"]),
        last_signin_at=aware(m["last_signin_at"]) if m["last_signin_at"] else None,
        staff_no=m["staff_no"], staff_name=m["staff_name"], department=m["department"],
        post=m["post"], employment=m["employment"], contract_end=m["contract_end"],
        staff_status=m["staff_status"], training_on=m["training_on"], flags=flags,
        reviewer_login=m["reviewer_login"], decision=m["decision"],
        decided_by=m["decided_by"],
        decided_at=aware(m["decided_at"]) if m["decided_at"] else None,
        comment=m["comment"], removed_roles=_split(m["removed_roles"]),
        close_action=m["close_action"], suspended=bool(m["suspended"]),
    )


def campaign_lines(db: Database, who: Who, campaign_id: int, *, flagged: bool = False,
                   undecided: bool = False, reviewer: str | None = None) -> list[LineView]:
    """The lines of a campaign by login; ``flagged``: only lines with a flag;
    ``undecided``: only lines without a decision; ``reviewer``: only lines assigned to
    that login (``""``: the unassigned ones, for any security officer)."""
    get_campaign(db, who, campaign_id)
    q = select(_LINES).where(_L.campaign_id == campaign_id)
    if flagged:
        q = q.where(or_(_L.flag_dormant, _L.flag_contract, _L.flag_training, _L.flag_unlinked))
    if undecided:
        q = q.where(_L.decision == "")
    if reviewer is not None:
        q = q.where(_L.reviewer_login == reviewer)
    with db.read() as s:
        return [_view(m) for m in s.connection().execute(q.order_by(_L.login)).mappings()]


def get_line(db: Database, who: Who, line_id: int) -> LineView:
    with db.read() as s:
        m = s.connection().execute(select(_LINES).where(_L.id == line_id)).mappings().first()
    if m is None:
        raise NotFound(f"棚卸しの行 #{line_id} はありません。")
    get_campaign(db, who, m["campaign_id"])
    return _view(m)


def _in_charge(conn: Any, ident: Identity) -> Any:
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
        q = select(_LINES).where(_L.campaign_id == campaign_id, _in_charge(conn, ident))
        if flagged:
            q = q.where(or_(_L.flag_dormant, _L.flag_contract, _L.flag_training,
                            _L.flag_unlinked))
        if undecided:
            q = q.where(_L.decision == "")
        return [_view(m) for m in conn.execute(q.order_by(_L.login)).mappings()]


def waiting(db: Database, ident: Identity, today: date | None = None) -> list[str]:
    """What the open campaign asks of this person, for the home screen: the undecided
    lines in their charge (review permission), and a campaign past its deadline still to
    close (admins). Nothing when no campaign is open or nothing is asked."""
    perms = current_permissions(db, ident)
    if Perm.ACCESS_CONFIRM not in perms and Perm.ACCESS_ADMIN not in perms:
        return []
    day = today or office_day()
    out: list[str] = []
    with db.read() as s:
        conn = s.connection()
        camp = _open_campaign(conn)
        if camp is None:
            return []
        deadline = format_wareki(camp.deadline)
        if Perm.ACCESS_CONFIRM in perms:
            mine = conn.execute(select(func.count()).where(
                _L.campaign_id == camp.id, _L.decision == "", _L.close_action == "",
                _in_charge(conn, ident))).scalar_one()
            if mine:
                late = "を過ぎています" if day > camp.deadline else ""
                out.append(f"棚卸しの未判定が {mine:,} 件あります（期限 {deadline}{late}）。")
        if Perm.ACCESS_ADMIN in perms and day >= camp.deadline:
            left = conn.execute(select(func.count()).where(
                _L.campaign_id == camp.id, _L.decision == "")).scalar_one()
            out.append(f"棚卸し #{camp.id} は期限（{deadline}）を迎えました。締めてください"
                       f"（未判定 {left:,} 件）。")
    return out


# --- decide -----------------------------------------------------------------------------


def decide(db: Database, ident: Identity, line_id: int, decision: str,
           comment: str = "", settings: Settings | None = None) -> LineView:
    """Keep or revoke one account's rights (see the module docstring); recorded.

    Refused without ACCESS_CONFIRM, for the reviewer's own account, on a closed campaign,
    and when the line was decided already (also when another reviewer decided it at the
    same moment: the first decision stands).
    """
    action = f"access.inventory.{decision if decision in DECISIONS else 'decide'}"
    target = f"inventory_line:{line_id}"
    if decision == REVOKE:  # a sensitive act: the password must be recent (auth.stepup)
        require_recent_auth(db, ident, settings, action=action, target=target)
    problem: Exception | None = None
    reason = "bad_input"
    try:
        if decision not in DECISIONS:
            raise BadInput("判定: 継続 (keep) か削除 (revoke) を選んでください。")
        comment = field_text("コメント", comment, limit=COMMENT_MAX)
        with db.write() as s:
            conn = s.connection()
            if Perm.ACCESS_CONFIRM not in permissions_on(conn, ident):
                reason = "permission"
                raise Refused(NOT_ALLOWED.format(what="棚卸しの判定"))
            line = conn.execute(
                select(_LINES, _C.state.label("campaign_state"))
                .select_from(_LINES.join(_CAMPAIGNS, _C.id == _L.campaign_id))
                .where(_L.id == line_id)
            ).mappings().first()
            if line is None:
                reason = "not_found"
                raise NotFound(f"棚卸しの行 #{line_id} はありません。")
            if line["user_id"] == ident.user_id:
                reason = "self_review"
                raise Refused(
                    "自分自身のアカウントは判定できません。別の確認者に依頼してください。"
                )
            if line["campaign_state"] != OPEN or line["close_action"]:
                reason = "closed"
                raise Refused(f"棚卸し #{line['campaign_id']} は締め済みのため判定できません。")
            if line["decision"]:
                reason = "already_decided"
                raise Refused(_already(line))
            won = conn.execute(
                update(_LINES).where(_L.id == line_id, _L.decision == "",
                                     _L.close_action == "")
                .values(decision=decision, decided_by=ident.login, decided_user=ident.user_id,
                        decided_at=now(), comment=comment)
            ).rowcount
            if not won:  # another reviewer (or the closing) got there first
                again = conn.execute(select(_LINES).where(_L.id == line_id)).mappings().one()
                reason = "already_decided" if again["decision"] else "closed"
                raise Refused(_already(again) if again["decision"] else
                              f"棚卸し #{line['campaign_id']} は締め済みのため判定できません。")
            removed: tuple[str, ...] = ()
            sessions = 0
            if decision == REVOKE:
                removed = _strip_roles(conn, line["user_id"])
                sessions = _end_sessions(conn, line["user_id"])
                conn.execute(update(_LINES).where(_L.id == line_id)
                             .values(removed_roles=_joined(removed)))
            record(s, ident.actor, action, target=line["login"],
                   severity="warning" if decision == REVOKE else "info", details={
                       "campaign": line["campaign_id"], "line": line_id,
                       "user_id": line["user_id"], "roles": list(_split(line["roles"])),
                       "removed_roles": list(removed), "sessions_ended": sessions,
                       "flags": [f for f in FLAG_LABELS if line[f"flag_{f}"]],
                       "comment": comment,
                   })
    except (BadInput, Refused, NotFound) as exc:
        problem = exc
    if problem is not None:
        _refuse(db, ident.actor, action, target, problem, reason)
        raise problem
    with db.read() as s:
        return _view(s.connection().execute(
            select(_LINES).where(_L.id == line_id)).mappings().one())


def _already(line: Any) -> str:
    label = DECISION_LABELS.get(line["decision"], line["decision"])
    return (f"棚卸しの行 #{line['id']}（{line['login']}）は既に {line['decided_by']} さんが"
            f"「{label}」と判定済みです。")


# --- close ------------------------------------------------------------------------------


def close_campaign(db: Database, settings: Settings, who: Who, campaign_id: int, *,
                   today: date | None = None) -> Closed:
    """Close a campaign on or after its deadline (see the module docstring); recorded.

    Refused before the deadline and when the campaign is closed already (two closings at
    once: one closes, the other is refused).
    """
    target = f"inventory:{campaign_id}"
    actor = _actor(db, who, (Perm.ACCESS_ADMIN,), action=CLOSE, what="棚卸しの締め",
                   target=target)
    day = today or office_day()
    revoke_undecided = bool(settings.inventory_revoke_undecided)
    suspend = bool(settings.inventory_suspend_untrained)
    problem: Exception | None = None
    reason = ""
    try:
        with db.write() as s:
            conn = s.connection()
            camp = conn.execute(select(_CAMPAIGNS).where(_C.id == campaign_id)).mappings().first()
            if camp is None:
                reason = "not_found"
                raise NotFound(f"棚卸し #{campaign_id} はありません。")
            if camp["state"] != OPEN:
                reason = "closed"
                raise Refused(f"棚卸し #{campaign_id} は既に締め済みです。")
            if day < camp["deadline"]:
                reason = "before_deadline"
                raise Refused(f"棚卸し #{campaign_id} は期限（{format_wareki(camp['deadline'])}）"
                              "の前には締められません。")
            won = conn.execute(
                update(_CAMPAIGNS).where(_C.id == campaign_id, _C.state == OPEN)
                .values(state=CLOSED, closed_by=actor.login, closed_user=actor.user_id,
                        closed_at=now(), revoke_undecided=revoke_undecided,
                        suspend_untrained=suspend)
            ).rowcount
            if not won:
                reason = "closed"
                raise Refused(f"棚卸し #{campaign_id} は既に締め済みです。")
            conn.execute(
                update(_LINES).where(_L.campaign_id == campaign_id, _L.decision == "",
                                     _L.close_action == "")
                .values(close_action=CLOSE_REVOKED if revoke_undecided else CLOSE_UNDECIDED)
            )
            sessions = 0
            revoked = 0
            if revoke_undecided:
                undecided_rows = conn.execute(
                    select(_LINES).where(_L.campaign_id == campaign_id, _L.close_action != "")
                    .order_by(_L.login)
                ).mappings().all()
                users = [line["user_id"] for line in undecided_rows]
                removed_of = _strip_many(conn, users)
                ended_of = _end_many(conn, users)
                sessions += sum(ended_of.values())
                revoked = sum(1 for u in users if removed_of.get(u))
                changed = [{"line_id": line["id"], "removed": _joined(removed_of[line["user_id"]])}
                           for line in undecided_rows if removed_of.get(line["user_id"])]
                if changed:
                    conn.execute(update(_LINES).where(_L.id == bindparam("line_id"))
                                 .values(removed_roles=bindparam("removed")), changed)
                for line in undecided_rows:
                    removed = removed_of.get(line["user_id"], ())
                    record(s, actor, REVOKE_UNDECIDED, target=line["login"], severity="warning",
                           details={"campaign": campaign_id, "line": line["id"],
                                    "user_id": line["user_id"], "removed_roles": list(removed),
                                    "sessions_ended": ended_of.get(line["user_id"], 0)})
            suspended_ids: list[int] = []
            if suspend:
                suspended_ids, ended = _suspend_untrained(s, conn, actor, camp, day)
                sessions += ended
            undecided = tuple(_view(m) for m in conn.execute(
                select(_LINES).where(_L.campaign_id == campaign_id, _L.close_action != "")
                .order_by(_L.login)).mappings())
            suspended = tuple(_view(m) for m in conn.execute(
                select(_LINES).where(_L.id.in_(suspended_ids)).order_by(_L.login)
            ).mappings()) if suspended_ids else ()
            decided = conn.execute(
                select(_L.decision, func.count()).where(_L.campaign_id == campaign_id)
                .group_by(_L.decision)).all()
            tally = {row[0]: int(row[1]) for row in decided}
            record(s, actor, CLOSE, target=target,
                   severity="warning" if undecided or suspended else "info", details={
                       "campaign": campaign_id, "deadline": camp["deadline"].isoformat(),
                       "closed_on": day.isoformat(), "lines": camp["lines"],
                       "kept": tally.get(KEEP, 0), "revoked": tally.get(REVOKE, 0),
                       "undecided": len(undecided),
                       "undecided_logins": [v.login for v in undecided[:200]],
                       "revoke_undecided": revoke_undecided, "revoked_undecided": revoked,
                       "suspend_untrained": suspend, "suspended": len(suspended),
                       "sessions_ended": sessions,
                   })
    except (Refused, NotFound) as exc:
        problem = exc
    if problem is not None:
        _refuse(db, actor, CLOSE, target, problem, reason)
        raise problem
    return Closed(campaign_id, undecided, revoked, suspended, sessions)


def _suspend_untrained(s: Any, conn: Any, actor: Actor, camp: Any,
                       day: date) -> tuple[list[int], int]:
    """Suspend the roles of the lines flagged for training that are still overdue today
    (training taken during the campaign counts); the line ids suspended, sessions ended."""
    rows = conn.execute(
        select(_L.id, _L.login, _L.user_id, _L.removed_roles, _S.training_on)
        .select_from(_LINES.outerjoin(
            table(Staff), _S.user_id == _L.user_id))
        .where(_L.campaign_id == camp["id"], _L.flag_training)
        .order_by(_L.login)
    ).all()
    done: list[int] = []
    sessions = 0
    for r in rows:
        if not training_overdue(r.training_on, day, camp["training_months"]):
            continue
        removed = _strip_roles(conn, r.user_id)
        if not removed:
            continue
        ended = _end_sessions(conn, r.user_id)
        sessions += ended
        conn.execute(update(_LINES).where(_L.id == r.id).values(
            suspended=True, removed_roles=_joined((*_split(r.removed_roles), *removed))))
        record(s, actor, SUSPEND, target=r.login, severity="warning", details={
            "campaign": camp["id"], "line": r.id, "user_id": r.user_id,
            "training_on": r.training_on.isoformat() if r.training_on else None,
            "training_months": camp["training_months"], "removed_roles": list(removed),
            "sessions_ended": ended,
        })
        done.append(r.id)
    return done, sessions
