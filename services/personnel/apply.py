"""Rights changes take effect: revocations by mechanism, grants by an admin.

``apply_due`` is the mechanism: on or after the 発令日 it moves each due personnel-change
row into the staff registry, revokes the roles and disables the accounts the round says
to, and ends the person's open console sessions, so an open console of theirs closes at
its next session check (every few seconds). It runs from ``juki access apply-due`` (a
cron job or the systemd timer in deploy/), after every import, and before every sign-in
(``sign_in_checked``), so it happens even when nobody opens the console that day.

``apply_change`` is the admin's step for grants and enablings: never automatic, never
before the 発令日, never to the admin's own account. Every applied line then waits for
re-confirmation by someone else (``services.personnel.confirm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, delete, select, update

from auth.identity import Identity
from auth.models import User, UserRole
from auth.roles import Perm, role_label
from auth.signin import sign_in
from core.actor import Actor
from core.clock import now, today_in_japan
from core.db import Database, columns, table
from core.errors import BadInput, NotFound, Refused
from core.settings import Settings
from logs.audit import record
from services import gate
from services.gate import Who
from services.jp.wareki import format_wareki

# The constants both apply and compute name (a pair of import lists, not of logic).
from services.personnel.models import (
    ACTION_LABELS,
    ACTIVE,
    APPLIED,
    AUTOMATIC,
    DISABLE,
    ENABLE,
    GRANT,
    HIRE,
    LEAVE,
    MOVED_OUT,
    ON_LEAVE,
    PENDING,
    RETIRE,
    RETIRED,
    RETURN,
    REVOKE,
    TRANSFER_IN,
    TRANSFER_OUT,
    PersonnelChange,
    RightsChange,
    Staff,
)
from services.personnel.policy import load_policy
from services.personnel.rights import end_sessions

SYSTEM = Actor(login="system:apply-due")
# Core columns of the tables queried below the ORM (one line: names, not logic).
_PC, _RC, _S, _UR, _U = (columns(t) for t in (
    PersonnelChange, RightsChange, Staff, UserRole, User))


@dataclass(frozen=True)
class Applied:
    registry: int  # personnel-change rows taken into the staff registry
    rights: int  # revocations and disablings applied
    sessions: int  # console sessions ended


def _today(today: date | None) -> date:
    return today or today_in_japan()


def apply_due(db: Database, settings: Settings, actor: Actor = SYSTEM, *,
              today: date | None = None) -> Applied:
    """Apply everything due by ``today``; see the module docstring. Safe to run at once
    from many processes: each row moves only from its pending state (one winner)."""
    day = _today(today)
    with db.read() as s:
        conn = s.connection()
        due_rows = conn.execute(
            select(_PC.id).where(_PC.applied_at.is_(None), _PC.effective_on <= day).limit(1)
        ).first()
        due_rights = conn.execute(
            select(_RC.id).where(_RC.state == PENDING, _RC.action.in_(AUTOMATIC),
                                 _RC.effective_on <= day).limit(1)
        ).first()
    if due_rows is None and due_rights is None:
        return Applied(0, 0, 0)  # the common case, at every sign-in: one cheap read
    policy = load_policy(settings)
    with db.write() as s:
        conn = s.connection()
        registry = _registry(conn, s, actor, day, policy)
        rights, sessions = _revocations(conn, s, actor, day)
    return Applied(registry, rights, sessions)


def _registry(conn: Any, s: Any, actor: Actor, day: date, policy: Any) -> int:
    """Due personnel-change rows into the staff registry, in date and file order."""
    rows = conn.execute(
        select(table(PersonnelChange)).where(
            _PC.applied_at.is_(None), _PC.effective_on <= day)
        .order_by(_PC.effective_on, _PC.round_id, _PC.line_no)
    ).mappings().all()
    stamp = now()
    done = 0
    for r in rows:
        claimed = conn.execute(
            update(table(PersonnelChange)).where(
                _PC.id == r["id"], _PC.applied_at.is_(None)).values(applied_at=stamp)
        ).rowcount
        if not claimed:
            continue
        staff = conn.execute(select(table(Staff)).where(
            _S.staff_no == r["staff_no"])).mappings().first()
        values = _staff_after(r, staff, policy)
        if staff is None:
            conn.execute(table(Staff).insert().values(
                staff_no=r["staff_no"], name=r["name"], kana="", employment="正規",
                updated_at=stamp, **values))
        else:
            conn.execute(update(table(Staff)).where(
                _S.id == staff["id"]).values(updated_at=stamp, **values))
        done += 1
    if done:
        record(s, actor, "hr.registry", target="staff",
               details={"rows": done, "through": day.isoformat()})
    return done


def _staff_after(r: Any, staff: Any, policy: Any) -> dict[str, Any]:
    kind = r["kind"]
    dept = r["new_department"] or (staff["department"] if staff else "")
    post = r["new_post"] or (staff["post"] if staff else "")
    if kind in (HIRE, TRANSFER_IN):
        return {"department": dept, "post": post, "status": ACTIVE, "left_on": None}
    if kind == RETURN:
        return {"department": dept, "post": post, "status": ACTIVE}
    if kind == TRANSFER_OUT:
        if policy.roles_for(dept, post):
            return {"department": dept, "post": post, "status": ACTIVE}
        return {"department": dept, "post": post, "status": MOVED_OUT,
                "left_on": r["effective_on"]}
    if kind == RETIRE:
        return {"status": RETIRED, "left_on": r["effective_on"]}
    if kind == LEAVE:
        return {"status": ON_LEAVE}
    return {}


def _account_of(conn: Any, staff_no: str) -> tuple[int | None, str]:
    row = conn.execute(
        select(_S.user_id, _U.login).select_from(
            table(Staff).outerjoin(table(User), _U.id == _S.user_id))
        .where(_S.staff_no == staff_no)
    ).first()
    if row is None or row.user_id is None:
        return None, ""
    return int(row.user_id), str(row.login)


def _revocations(conn: Any, s: Any, actor: Actor, day: date) -> tuple[int, int]:
    lines = conn.execute(
        select(table(RightsChange)).where(
            _RC.state == PENDING, _RC.action.in_(AUTOMATIC), _RC.effective_on <= day)
        .order_by(_RC.effective_on, _RC.id)
    ).mappings().all()
    applied = sessions = 0
    stamp = now()
    touched: set[int] = set()
    for line in lines:
        user_id, login = _account_of(conn, line["staff_no"])
        note = "" if user_id is not None else "アカウントなし"
        claimed = conn.execute(
            update(table(RightsChange)).where(
                _RC.id == line["id"], _RC.state == PENDING)
            .values(state=APPLIED, applied_by=actor.login, applied_user=actor.user_id,
                    applied_at=stamp, note=note)
        ).rowcount
        if not claimed:
            continue
        applied += 1
        if user_id is not None:
            if line["action"] == REVOKE:
                conn.execute(delete(table(UserRole)).where(
                    _UR.user_id == user_id, _UR.role == line["role"]))
            else:
                conn.execute(update(table(User)).where(
                    _U.id == user_id).values(disabled=True))
            touched.add(user_id)
        record(
            s, actor, f"access.{line['action']}", target=login or f"staff:{line['staff_no']}",
            severity="warning" if line["action"] == DISABLE else "info",
            details={"line": line["id"], "round": line["round_id"], "staff_no": line["staff_no"],
                     "role": line["role"], "effective_on": line["effective_on"].isoformat(),
                     "note": note},
        )
    for user_id in sorted(touched):
        sessions += end_sessions(conn, user_id, "revoked")
    return applied, sessions


def apply_change(db: Database, who: Who, line_id: int, *, today: date | None = None,
                 settings: Settings | None = None) -> None:
    """An admin applies one grant or enabling; see the module docstring for the rules.

    A sensitive act: a signed-in admin's password must be recent (``auth.stepup``). Every
    no is recorded with its message as the reason, and raised as it was said."""
    day = _today(today)
    with gate.act(db, who, "access.grant", perm=Perm.ACCESS_ADMIN, what="権限の付与",
                  target=f"line:{line_id}", step_up=True, settings=settings) as a:
        try:
            _grant(a, line_id, day)
        except (BadInput, Refused, NotFound) as exc:
            raise gate.Refusal.of(exc) from None


def _grant(a: gate.Act, line_id: int, day: date) -> None:
    conn, actor = a.s.connection(), a.actor
    line = conn.execute(select(table(RightsChange)).where(
        _RC.id == line_id)).mappings().first()
    if line is None:
        raise NotFound(f"権限変更 #{line_id} はありません。")
    if line["action"] not in (GRANT, ENABLE):
        raise BadInput(f"権限変更 #{line_id}: 削除・利用停止は発令日に自動で適用されます。")
    if line["state"] != PENDING:
        raise BadInput(f"権限変更 #{line_id}: 既に適用されています。")
    if line["effective_on"] > day:
        when = format_wareki(line["effective_on"])
        raise BadInput(f"権限変更 #{line_id}: 発令日（{when}）より前には適用できません。")
    user_id, login = _account_of(conn, line["staff_no"])
    if user_id is None:
        raise BadInput(f"職員番号 {line['staff_no']}: アカウントが紐付いていません。"
                       "先にアカウントを作成して紐付けてください（juki staff link）。")
    if actor.user_id is not None and actor.user_id == user_id:
        raise Refused(
            "自分自身のアカウントへの権限付与はできません。別の管理者に依頼してください。"
        )
    claimed = conn.execute(
        update(table(RightsChange)).where(
            _RC.id == line_id, _RC.state == PENDING)
        .values(state=APPLIED, applied_by=actor.login, applied_user=actor.user_id,
                applied_at=now())
    ).rowcount
    if not claimed:
        raise BadInput(f"権限変更 #{line_id}: 既に適用されています。")
    if line["action"] == GRANT:
        held = conn.execute(select(_UR.id).where(
            and_(_UR.user_id == user_id, _UR.role == line["role"]))).first()
        if held is None:
            conn.execute(table(UserRole).insert().values(
                user_id=user_id, role=line["role"]))
    else:
        conn.execute(update(table(User)).where(
            _U.id == user_id).values(disabled=False, failed_count=0))
    a.record(action=f"access.{line['action']}", target=login, details={
        "line": line_id, "round": line["round_id"], "staff_no": line["staff_no"],
        "role": line["role"], "effective_on": line["effective_on"].isoformat(),
    })


def describe(action: str, role: str) -> str:
    """「付与 事務担当」 for a screen or report line."""
    label = ACTION_LABELS.get(action, action)
    return f"{label} {role_label(role)}" if role else label


def sign_in_checked(db: Database, settings: Settings, login: str, password: str,
                    client_addr: str = "", *, ssh_keys: Sequence[str] = ()) -> Identity:
    """Sign in after applying what is due, so a leaver's account is closed before the
    password is even checked (the mechanism does not wait for a cron job). ``ssh_keys``:
    the SSH keys of the connection, for the key binding (``auth.ssh_keys``)."""
    apply_due(db, settings, SYSTEM)
    return sign_in(db, settings, login, password, client_addr, ssh_keys=ssh_keys)
