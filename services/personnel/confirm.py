"""Re-confirmation (再確認) of applied rights changes by a different person.

Each applied grant, revocation, disabling or enabling is marked confirmed, or disputed
with a comment, by a holder of the review permission (security officer or 所属長) who
neither applied it nor is its subject. The service refuses both (and the database
refuses them again, by triggers: migrations 0004 and 0013); the first verdict wins and
is final.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select, update

from auth.access import permissions_on
from auth.identity import Identity
from auth.roles import Perm
from core.clock import now, today_in_japan
from core.db import Database, columns, table
from core.errors import BadInput, NotFound, Refused
from core.freetext import field_text
from core.settings import Settings
from services import gate
from services.personnel import inventory
from services.personnel.models import (
    APPLIED,
    AUTOMATIC,
    CONFIRMED,
    DISPUTED,
    PENDING,
    RightsChange,
    Staff,
)

_RC = columns(RightsChange)
_S = columns(Staff)
COMMENT_MAX = 500


def confirm_change(db: Database, ident: Identity, line_id: int, verdict: str,
                   comment: str = "") -> None:
    """Mark one applied rights change confirmed or disputed (a dispute needs a comment).
    Every no past the permission is recorded with its message as the reason."""
    action = f"access.{'dispute' if verdict == DISPUTED else 'confirm'}"
    with gate.act(db, ident, action, perm=Perm.ACCESS_CONFIRM, what="権限変更の再確認",
                  target=f"line:{line_id}") as a:
        try:
            _judge(a, ident, line_id, verdict, comment)
        except (BadInput, Refused, NotFound) as exc:
            raise gate.Refusal.of(exc) from None


def _judge(a: gate.Act, ident: Identity, line_id: int, verdict: str, comment: str) -> None:
    if verdict not in (CONFIRMED, DISPUTED):
        raise BadInput("判定: 確認 (confirmed) か異議 (disputed) を選んでください。")
    comment = field_text("コメント", comment, limit=COMMENT_MAX)
    if verdict == DISPUTED and not comment:
        raise BadInput("コメント: 異議の理由を入力してください。")
    conn = a.s.connection()
    line = conn.execute(select(table(RightsChange)).where(
        _RC.id == line_id)).mappings().first()
    if line is None:
        raise NotFound(f"権限変更 #{line_id} はありません。")
    if line["state"] != APPLIED:
        raise BadInput(f"権限変更 #{line_id}: まだ適用されていないため確認できません。")
    if line["verdict"]:
        by = line["confirmed_by"]
        raise BadInput(f"権限変更 #{line_id}: 既に{by}さんが判定済みです。")
    if line["applied_by"] == ident.login or line["applied_user"] == ident.user_id:
        raise Refused("自分が適用した権限変更は確認できません。別の確認者に依頼してください。")
    subject = conn.execute(select(_S.user_id).where(
        _S.staff_no == line["staff_no"])).scalar()
    if subject is not None and subject == ident.user_id:
        raise Refused("自分自身の権限変更は確認できません。別の確認者に依頼してください。")
    won = conn.execute(
        update(table(RightsChange)).where(
            _RC.id == line_id, _RC.verdict == "")
        .values(verdict=verdict, confirmed_by=ident.login, confirmed_user=ident.user_id,
                confirmed_at=now(), comment=comment)
    ).rowcount
    if not won:
        raise BadInput(f"権限変更 #{line_id}: 既に判定済みです。")
    a.record(severity="warning" if verdict == DISPUTED else "info", details={
        "round": line["round_id"], "staff_no": line["staff_no"],
        "change": line["action"], "role": line["role"], "comment": comment,
    })


def waiting(db: Database, settings: Settings, ident: Identity,
            today: date | None = None) -> list[str]:
    """What this person must act on, for the home screen: overdue re-confirmations (for
    holders of the review permission), due grants not yet applied (for admins), and what
    an open 棚卸し asks of them (``services.personnel.inventory.waiting``)."""
    lines: list[str] = []
    current = now()
    day = today or today_in_japan()
    with db.read() as s:
        conn = s.connection()
        perms = permissions_on(conn, ident)
        if Perm.ACCESS_CONFIRM in perms:
            limit = current - timedelta(days=float(settings.access_confirm_days))
            overdue = conn.execute(select(func.count()).where(
                _RC.state == APPLIED, _RC.verdict == "", _RC.applied_at < limit,
                _RC.applied_by != ident.login)).scalar_one()
            open_ = conn.execute(select(func.count()).where(
                _RC.state == APPLIED, _RC.verdict == "", _RC.applied_by != ident.login)
            ).scalar_one()
            if overdue:
                lines.append(
                    f"期限（{settings.access_confirm_days:g}日）を過ぎた権限変更の再確認が"
                    f" {overdue:,} 件あります（確認待ち 計 {open_:,} 件）。"
                )
            elif open_:
                lines.append(f"権限変更の再確認待ちが {open_:,} 件あります。")
        if Perm.ACCESS_ADMIN in perms:
            due = conn.execute(select(func.count()).where(
                _RC.state == PENDING, _RC.action.not_in(AUTOMATIC),
                _RC.effective_on <= day)).scalar_one()
            if due:
                lines.append(f"発令日を過ぎた未適用の権限付与が {due:,} 件あります。")
    return lines + inventory.waiting(db, ident, today)
