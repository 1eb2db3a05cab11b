"""The self-inspection's acts: start the year, answer an item, sign a sheet off.

Each is one act of the gate (``services.gate``): the permission read inside its
transaction, the ``inspection.*`` event in it, every refusal recorded once with its
reason word and message (``Refusal.saying``). The rules are the package's (see
``services.assessment.inspection``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from auth.identity import Identity
from auth.models import User, UserRole
from auth.roles import Perm, permissions_of
from core.clock import now
from core.db import Database, columns, table
from core.errors import BadInput, NotFound
from core.freetext import field_text
from core.settings import Settings
from services import gate
from services.assessment.inspection.items import due_date, load_items, year_label
from services.assessment.inspection.tables import ANSWER_C as _AN
from services.assessment.inspection.tables import INSPECTION_C as _I
from services.assessment.inspection.tables import SHEET_C as _SH
from services.assessment.inspection.views import (
    ANSWER_PERMS,
    InspectionSummary,
    SheetView,
    _items,
    _sheet,
    _sheet_view,
    department_of,
    get_inspection,
    get_sheet,
)
from services.assessment.models import ANSWERS, Inspection, InspectionAnswer, InspectionSheet
from services.gate import Who

NOTE_MAX = 1000
START_PERMS = (Perm.ACCESS_ADMIN, Perm.ACCESS_CONFIRM)
NO_NOTE = "該当なし"

_U = columns(User)
_UR = columns(UserRole)

_no = gate.Refusal.saying


def _field(label: str, text: str) -> str:
    """The typed text, or the refusal naming the field (recorded as ``bad_input``)."""
    try:
        return field_text(label, text, limit=NOTE_MAX)
    except BadInput as exc:
        raise _no(exc.message, "bad_input", error=BadInput) from None


# --- start ------------------------------------------------------------------------------


def _default_departments(conn: Any) -> list[str]:
    roles: dict[int, set[str]] = {}
    for uid, role in conn.execute(select(_UR.user_id, _UR.role)):
        roles.setdefault(uid, set()).add(role)
    out: set[str] = set()
    for uid, disabled in conn.execute(select(_U.id, _U.disabled)):
        if not disabled and Perm.LOOKUP in permissions_of(roles.get(uid, set())):
            dept = department_of(conn, uid)
            if dept:
                out.add(dept)
    return sorted(out)


def start_inspection(db: Database, settings: Settings, who: Who, year: int, *,
                     departments: list[str] | None = None) -> InspectionSummary:
    """Start the fiscal year's inspection (see the package docstring); recorded.

    BadInput for a bad items file or deadline setting, or no department to ask; Refused
    when the year was started already (two starts at once: one wins).
    """
    items = load_items(settings)
    due = due_date(settings, year)
    started = f"{year_label(year)}の自己点検は既に始まっています。"

    def twice(exc: Exception) -> gate.Refusal | None:
        return _no(started, "exists") if isinstance(exc, IntegrityError) else None

    with gate.act(db, who, "inspection.start", perm=START_PERMS, what="自己点検の開始",
                  target=f"inspection:{year}", translate=twice) as a:
        conn = a.s.connection()
        if conn.execute(select(_I.id).where(_I.fiscal_year == year)).first():
            raise _no(started, "exists")
        try:
            depts = sorted({field_text("所属", d, limit=120) for d in departments or []
                            if d.strip()}) or _default_departments(conn)
        except BadInput as exc:
            raise _no(exc.message, "bad_input", error=BadInput) from None
        if not depts:
            raise _no("所属: 点検する所属がありません（--department で指定してください）。",
                      "bad_input", error=BadInput)
        row = Inspection(fiscal_year=year, due_on=due, started_by=a.actor.login,
                         started_at=now(), items=json.dumps(
                             [i.__dict__ for i in items], ensure_ascii=False))
        a.s.add(row)
        a.s.flush()
        for dept in depts:
            assert row.id is not None
            a.s.add(InspectionSheet(inspection_id=row.id, department=dept))
        a.s.flush()
        a.record(details={"fiscal_year": year, "due_on": due.isoformat(),
                          "departments": depts, "items": [i.code for i in items]})
    return get_inspection(db, year)


# --- answer -----------------------------------------------------------------------------


def answer(db: Database, ident: Identity, sheet_id: int, item_code: str, value: str,
           note: str = "") -> SheetView:
    """Answer (or change the answer to) one item of one's own department's sheet; recorded."""

    def at_once(exc: Exception) -> gate.Refusal | None:  # the same item, the same moment
        return _no("同じ項目に同時に回答がありました。もう一度お試しください。",
                   "conflict") if isinstance(exc, IntegrityError) else None

    with gate.act(db, ident, "inspection.answer", perm=ANSWER_PERMS, what="自己点検の回答",
                  target=f"sheet:{sheet_id}:{item_code}", translate=at_once) as a:
        if value not in ANSWERS:
            raise _no(f"回答: {' / '.join(ANSWERS)} のいずれかを選んでください。",
                      "bad_input", error=BadInput)
        note = _field("根拠・備考", note)
        if value != NO_NOTE and not note:
            raise _no("根拠・備考: 実施状況の根拠（記録・文書名など）を入力してください。",
                      "bad_input", error=BadInput)
        _answer(a, ident, sheet_id, item_code, value, note)
    return get_sheet(db, ident, sheet_id)


def _answer(a: gate.Act, ident: Identity, sheet_id: int, item_code: str, value: str,
            note: str) -> None:
    conn = a.s.connection()
    sh = _sheet(conn, sheet_id)
    if sh is None:
        raise _no(f"自己点検の点検表 #{sheet_id} はありません。", "not_found", error=NotFound)
    if item_code not in {i.code for i in _items(sh["items"])}:
        raise _no(f"点検項目: 「{item_code}」はこの点検表にありません。", "bad_input",
                  error=BadInput)
    mine = department_of(conn, ident.user_id)
    if mine != sh["department"]:
        raise _no(f"自分の所属（{mine or '未設定'}）以外の点検表（{sh['department']}）には"
                  "回答できません。", "other_department")
    signed = f"{sh['department']}の点検表は承認済みのため変更できません。"
    if sh["signed_at"] is not None:
        raise _no(signed, "signed")
    values = dict(answer=value, note=note, answered_by=ident.login,
                  answered_user=ident.user_id, answered_at=now())
    changed = conn.execute(update(table(InspectionAnswer)).where(
        _AN.sheet_id == sheet_id, _AN.item_code == item_code).values(**values)).rowcount
    if not changed:
        conn.execute(table(InspectionAnswer).insert().values(
            sheet_id=sheet_id, item_code=item_code, **values))
    # The sheet must still be unsigned when this commits (a sign-off in between takes the
    # row lock first on PostgreSQL; SQLite writers queue).
    still = conn.execute(update(table(InspectionSheet)).where(
        _SH.id == sheet_id, _SH.signed_at.is_(None)).values(
            signed_by=_SH.signed_by)).rowcount
    if not still:
        raise _no(signed, "signed")
    a.record(details={"fiscal_year": sh["fiscal_year"], "department": sh["department"],
                      "item": item_code, "answer": value, "note": note})


# --- sign off ---------------------------------------------------------------------------


def sign_off(db: Database, ident: Identity, sheet_id: int, comment: str = "") -> SheetView:
    """Sign off a fully answered sheet as a second person; recorded.

    Refused without the review permission, for a person who answered any of its items
    (self-sign-off), for a sheet with items unanswered, and when signed off already
    (two at once: the first stands).
    """
    with gate.act(db, ident, "inspection.sign_off", perm=Perm.ACCESS_CONFIRM,
                  what="自己点検の承認", target=f"sheet:{sheet_id}") as a:
        comment = _field("コメント", comment)
        conn = a.s.connection()
        sh = _sheet(conn, sheet_id)
        if sh is None:
            raise _no(f"自己点検の点検表 #{sheet_id} はありません。", "not_found",
                      error=NotFound)
        view = _sheet_view(conn, sh)
        if any(r.answered_user == ident.user_id for r in view.rows):
            raise _no("自分が回答した点検表は承認できません。"
                      "回答していない確認者に依頼してください。", "self_sign_off")
        if sh["signed_at"] is not None:
            raise _no(f"{sh['department']}の点検表は既に {sh['signed_by']} さんが承認済みです。",
                      "already_signed")
        if not view.complete:
            raise _no(f"未回答の項目が {len(view.rows) - view.answered} 件あります。"
                      "すべて回答されてから承認してください。", "incomplete")
        won = conn.execute(update(table(InspectionSheet)).where(
            _SH.id == sheet_id, _SH.signed_at.is_(None)).values(
                signed_by=ident.login, signed_user=ident.user_id, signed_at=now(),
                sign_comment=comment)).rowcount
        if not won:
            raise _no(f"{sh['department']}の点検表は既に承認済みです。", "already_signed")
        a.record(details={
            "fiscal_year": sh["fiscal_year"], "department": sh["department"],
            "answers": {r.item.code: r.answer for r in view.rows},
            "answered_by": sorted({r.answered_by for r in view.rows}),
            "comment": comment,
        })
    return get_sheet(db, ident, sheet_id)
