"""The self-inspection as callers read it: the year's summary, a department's sheet.

Reading a sheet needs one of ``VIEW_PERMS`` (a refusal is recorded as
``inspection.view``); the summary of a year is not personal and needs none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from auth.identity import Identity
from auth.models import User
from auth.roles import Perm
from core.db import Database, columns, table
from core.errors import NotFound
from services import gate
from services.assessment.inspection.items import Item, year_label
from services.assessment.inspection.tables import ANSWER_C as _AN
from services.assessment.inspection.tables import INSPECTION_C as _I
from services.assessment.inspection.tables import SHEET_C as _SH
from services.assessment.inspection.tables import sheets_query
from services.assessment.models import Inspection, InspectionAnswer, InspectionSheet
from services.gate import Who
from services.personnel.models import Staff  # a 所属 is the staff record's first

VIEW = "inspection.view"
# Who answers for a department: its holders of the review permission (確認者, 所属長).
# Clerks answering too is one edit here and in the F6 workspace's ``needs``.
ANSWER_PERMS = (Perm.ACCESS_CONFIRM,)
VIEW_PERMS = (Perm.LOOKUP, Perm.ACCESS_CONFIRM, Perm.AUDIT_READ, Perm.ACCESS_ADMIN)

_U = columns(User)
_ST = columns(Staff)


@dataclass(frozen=True)
class SheetSummary:
    id: int
    department: str
    answered: int
    items: int
    signed_by: str
    signed_at: datetime | None

    @property
    def state_label(self) -> str:
        if self.signed_at is not None:
            return "承認済み"
        return "承認待ち" if self.answered >= self.items else "回答中"


@dataclass(frozen=True)
class InspectionSummary:
    id: int
    fiscal_year: int
    due_on: date
    started_by: str
    started_at: datetime
    items: tuple[Item, ...]
    sheets: tuple[SheetSummary, ...]

    # A label property, alike in shape to 住基ネット's masked number (declarations).
    @property
    def label(self) -> str:
        return year_label(self.fiscal_year)


@dataclass(frozen=True)
class AnswerRow:
    item: Item
    answer: str  # "" when not yet answered
    note: str
    answered_by: str
    answered_user: int | None
    answered_at: datetime | None


@dataclass(frozen=True)
class SheetView:
    id: int
    fiscal_year: int
    due_on: date
    department: str
    rows: tuple[AnswerRow, ...]
    signed_by: str
    signed_user: int | None
    signed_at: datetime | None
    sign_comment: str

    @property
    def answered(self) -> int:
        return sum(1 for r in self.rows if r.answer)

    @property
    def complete(self) -> bool:
        return self.answered == len(self.rows)

    @property
    def state_label(self) -> str:
        if self.signed_at is not None:
            return "承認済み"
        return "承認待ち" if self.complete else "回答中"


def department_of(conn: Any, user_id: int) -> str:
    """The 所属 of an account: its staff record's, else the account's own."""
    staff = conn.execute(select(_ST.department).where(_ST.user_id == user_id)).scalar()
    if staff:
        return str(staff)
    return str(conn.execute(select(_U.department).where(_U.id == user_id)).scalar() or "")


def _items(raw: str) -> tuple[Item, ...]:
    return tuple(Item(**d) for d in json.loads(raw))


def _summary(conn: Any, insp: Any) -> InspectionSummary:
    items = _items(insp["items"])
    counts = dict(conn.execute(
        select(_AN.sheet_id, func.count()).select_from(
            table(InspectionAnswer).join(
                table(InspectionSheet), _SH.id == _AN.sheet_id))
        .where(_SH.inspection_id == insp["id"]).group_by(_AN.sheet_id)).all())
    sheets = tuple(
        SheetSummary(id=r["id"], department=r["department"], answered=counts.get(r["id"], 0),
                     items=len(items), signed_by=r["signed_by"], signed_at=r["signed_at"])
        for r in conn.execute(select(table(InspectionSheet)).where(
            _SH.inspection_id == insp["id"]).order_by(_SH.department)).mappings()
    )
    return InspectionSummary(id=insp["id"], fiscal_year=insp["fiscal_year"],
                             due_on=insp["due_on"], started_by=insp["started_by"],
                             started_at=insp["started_at"], items=items, sheets=sheets)


def get_inspection(db: Database, year: int) -> InspectionSummary:
    with db.read() as s:
        conn = s.connection()
        insp = conn.execute(select(table(Inspection)).where(
            _I.fiscal_year == year)).mappings().first()
        if insp is None:
            raise NotFound(f"{year_label(year)}の自己点検はまだ始まっていません"
                           f"（juki inspect start {year}）。")
        return _summary(conn, insp)


def latest_inspection(db: Database) -> InspectionSummary | None:
    with db.read() as s:
        conn = s.connection()
        insp = conn.execute(select(table(Inspection)).order_by(
            _I.fiscal_year.desc()).limit(1)).mappings().first()
        return None if insp is None else _summary(conn, insp)


def _sheet(conn: Any, sheet_id: int) -> Any:
    return conn.execute(sheets_query().where(_SH.id == sheet_id)).mappings().first()


def _sheet_view(conn: Any, sh: Any) -> SheetView:
    answers = {a["item_code"]: a for a in conn.execute(
        select(table(InspectionAnswer)).where(
            _AN.sheet_id == sh["id"])).mappings()}
    rows = []
    for item in _items(sh["items"]):
        a = answers.get(item.code)
        rows.append(AnswerRow(
            item=item, answer=a["answer"] if a else "", note=a["note"] if a else "",
            answered_by=a["answered_by"] if a else "",
            answered_user=a["answered_user"] if a else None,
            answered_at=a["answered_at"] if a else None))
    return SheetView(id=sh["id"], fiscal_year=sh["fiscal_year"], due_on=sh["due_on"],
                     department=sh["department"], rows=tuple(rows), signed_by=sh["signed_by"],
                     signed_user=sh["signed_user"], signed_at=sh["signed_at"],
                     sign_comment=sh["sign_comment"])


def get_sheet(db: Database, who: Who, sheet_id: int) -> SheetView:
    with gate.act(db, who, VIEW, perm=VIEW_PERMS, what="自己点検の閲覧",
                  target=f"sheet:{sheet_id}", write=False) as a:
        conn = a.s.connection()
        sh = _sheet(conn, sheet_id)
        if sh is None:
            raise NotFound(f"自己点検の点検表 #{sheet_id} はありません。")
        view = _sheet_view(conn, sh)
    return view


def sheets_of(db: Database, who: Who, year: int) -> list[SheetView]:
    """Every department's sheet of the year (for the report and the screen)."""
    insp = get_inspection(db, year)
    with gate.act(db, who, VIEW, perm=VIEW_PERMS, what="自己点検の閲覧",
                  target=f"inspection:{year}", write=False) as a:
        conn = a.s.connection()
        sheets = [_sheet_view(conn, _sheet(conn, sh.id)) for sh in insp.sheets]
    return sheets


def my_department(db: Database, ident: Identity) -> str:
    with db.read() as s:
        return department_of(s.connection(), ident.user_id)
