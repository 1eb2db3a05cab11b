"""The yearly self-inspection (自己点検): a checklist answered per department, signed off.

The assessment promises a self-inspection; this makes it a record. The items come from
a TOML file (setting ``inspection_items``; the built-in one follows the assessment's
section IV: 入手, 使用, 委託, 提供・移転, 接続, 保管・消去, 手作業, 研修).

* **Start** (``start_inspection``; the CLI's OS operator, or a holder of the access
  admin or review permission): one inspection per fiscal year (年度, April–March),
  the items copied in, the deadline from ``inspection_due`` (MM-DD within the year), one
  sheet per department: those named, else every department of an enabled account that
  holds the register lookup permission.
* **Answer** (``answer``): a holder of the review permission (確認者, 所属長) answers the
  items of their own department's sheet (the 所属 of their staff record, else of their
  account): 実施 / 一部実施 / 未実施 / 該当なし, with an evidence note (required except
  for 該当なし). An answer may be changed until the sheet is signed off.
* **Sign off** (``sign_off``): a holder of the review permission who answered none of
  the sheet's items, once every item is answered; the first sign-off stands (a
  conditional update). Self-sign-off is refused and recorded.
* **Waiting** (``waiting_lines``): the home screen's lines — unanswered items and an
  overdue sheet for those who must answer, sheets waiting for sign-off for reviewers.

Every act is an audit event (``inspection.*``) in its transaction; every refusal too.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from auth.access import NOT_ALLOWED, current_permissions, permissions_on
from auth.identity import Identity
from auth.models import User, UserRole
from auth.roles import Perm, permissions_of
from core.actor import Actor
from core.clock import now
from core.db import Database
from core.errors import BadInput, NotFound, Refused
from core.freetext import field_text
from core.settings import Settings
from logs.audit import record, record_alone
from services.assessment.models import (
    ANSWERS,
    Inspection,
    InspectionAnswer,
    InspectionSheet,
)
from services.jp.wareki import format_wareki
from services.personnel.inventory import office_day
from services.personnel.models import Staff

Who = Identity | Actor
BUILTIN_ITEMS = Path(__file__).resolve().parent / "inspection_items.toml"
NOTE_MAX = 1000
# Who answers for a department: its holders of the review permission (確認者, 所属長).
# Clerks answering too is one edit here and in the F6 workspace's ``needs``.
ANSWER_PERMS = (Perm.ACCESS_CONFIRM,)
VIEW_PERMS = (Perm.LOOKUP, Perm.ACCESS_CONFIRM, Perm.AUDIT_READ, Perm.ACCESS_ADMIN)
START_PERMS = (Perm.ACCESS_ADMIN, Perm.ACCESS_CONFIRM)
NO_NOTE = "該当なし"

_I: Any = Inspection.__table__.c  # type: ignore[attr-defined]
_SH: Any = InspectionSheet.__table__.c  # type: ignore[attr-defined]
_AN: Any = InspectionAnswer.__table__.c  # type: ignore[attr-defined]
_U: Any = User.__table__.c  # type: ignore[attr-defined]
_UR: Any = UserRole.__table__.c  # type: ignore[attr-defined]
_ST: Any = Staff.__table__.c  # type: ignore[attr-defined]


# --- the items --------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    code: str
    area: str
    question: str


def load_items(settings: Settings) -> list[Item]:
    """The checklist items of ``inspection_items`` (or the built-in file), checked whole."""
    path = Path(settings.inspection_items) if settings.inspection_items else BUILTIN_ITEMS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"点検項目ファイル (inspection_items): {path} がありません。") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"点検項目ファイル (inspection_items): {path} を読めません ({exc})。") \
            from None
    raw = data.get("item")
    if not isinstance(raw, list) or not raw:
        raise BadInput(f"点検項目ファイル {path}: [[item]] が1件もありません。")
    items: list[Item] = []
    seen: set[str] = set()
    for n, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict):
            raise BadInput(f"点検項目ファイル {path}: {n}件目の項目が表ではありません。")
        values = {k: str(entry.get(k, "")).strip() for k in ("code", "area", "question")}
        for key, label in (("code", "code (番号)"), ("area", "area (区分)"),
                           ("question", "question (点検項目)")):
            if not values[key]:
                raise BadInput(f"点検項目ファイル {path}: {n}件目の {label} がありません。")
        if len(values["code"]) > 16:
            raise BadInput(f"点検項目ファイル {path}: {n}件目の code は16文字以内です。")
        if values["code"] in seen:
            raise BadInput(f"点検項目ファイル {path}: {n}件目の code「{values['code']}」が重複"
                           "しています。")
        seen.add(values["code"])
        items.append(Item(**values))
    return items


# --- years and dates --------------------------------------------------------------------


_YEAR = re.compile(r"^(?:(?P<era>令和|R|r)(?P<ry>元|\d{1,2})|(?P<y>\d{4}))(?:年度?)?$")


def parse_year(text: str) -> int:
    """年度 as staff type it: 2026, 令和8, R8, 令和8年度 → 2026 (the year it starts in)."""
    s = (text or "").strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    m = _YEAR.match(s)
    if m is None:
        raise BadInput(f"年度:「{text}」を読み取れません（例: 2026、令和8、R8）。")
    if m.group("y"):
        year = int(m.group("y"))
    else:
        ry = 1 if m.group("ry") == "元" else int(m.group("ry"))
        if ry < 1:
            raise BadInput("年度: 令和0年度はありません。")
        year = 2018 + ry
    if not 2000 <= year <= 2100:
        raise BadInput(f"年度: {year} は範囲外です。")
    return year


def year_label(year: int) -> str:
    """令和8年度 (令和元年度 for 2019)."""
    if year >= 2019:
        ry = year - 2018
        return f"令和{'元' if ry == 1 else ry}年度"
    return f"{year}年度"


def fiscal_year(day: date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def due_date(settings: Settings, year: int) -> date:
    """The deadline of the fiscal year ``year`` from ``inspection_due`` (MM-DD)."""
    m = re.fullmatch(r"(\d{1,2})-(\d{1,2})", settings.inspection_due.strip())
    try:
        if m is None:
            raise ValueError
        month, day = int(m.group(1)), int(m.group(2))
        return date(year if month >= 4 else year + 1, month, day)
    except ValueError:
        raise BadInput(f"設定 inspection_due:「{settings.inspection_due}」は MM-DD"
                       "（例: 03-31）で指定してください。") from None


# --- what callers get back --------------------------------------------------------------


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


# --- who may ----------------------------------------------------------------------------


def _actor(db: Database, who: Who, perms: tuple[Perm, ...], action: str, what: str,
           target: str = "") -> Actor:
    if isinstance(who, Actor):
        return who
    if any(p in current_permissions(db, who) for p in perms):
        return who.actor
    record_alone(db, who.actor, action, target=target, outcome="refused", severity="warning",
                 details={"reason": "permission", "permission": " | ".join(map(str, perms))})
    raise Refused(NOT_ALLOWED.format(what=what))


def department_of(conn: Any, user_id: int) -> str:
    """The 所属 of an account: its staff record's, else the account's own."""
    staff = conn.execute(select(_ST.department).where(_ST.user_id == user_id)).scalar()
    if staff:
        return str(staff)
    return str(conn.execute(select(_U.department).where(_U.id == user_id)).scalar() or "")


def _refuse(db: Database, actor: Actor, action: str, target: str, exc: Exception,
            reason: str) -> None:
    record_alone(db, actor, action, target=target, outcome="refused", severity="warning",
                 details={"reason": reason, "message": str(exc)[:300]})


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
    """Start the fiscal year's inspection (see the module docstring); recorded.

    BadInput for a bad items file or deadline setting, or no department to ask; Refused
    when the year was started already (two starts at once: one wins).
    """
    action = "inspection.start"
    target = f"inspection:{year}"
    items = load_items(settings)
    due = due_date(settings, year)
    actor = _actor(db, who, START_PERMS, action, "自己点検の開始", target)
    problem: Exception | None = None
    try:
        with db.write() as s:
            conn = s.connection()
            if conn.execute(select(_I.id).where(_I.fiscal_year == year)).first():
                raise Refused(f"{year_label(year)}の自己点検は既に始まっています。")
            depts = sorted({field_text("所属", d, limit=120) for d in departments or []
                            if d.strip()}) or _default_departments(conn)
            if not depts:
                raise BadInput("所属: 点検する所属がありません"
                               "（--department で指定してください）。")
            row = Inspection(fiscal_year=year, due_on=due, started_by=actor.login,
                             started_at=now(), items=json.dumps(
                                 [i.__dict__ for i in items], ensure_ascii=False))
            s.add(row)
            s.flush()
            for dept in depts:
                s.add(InspectionSheet(inspection_id=row.id, department=dept))
            s.flush()
            record(s, actor, action, target=target, details={
                "fiscal_year": year, "due_on": due.isoformat(), "departments": depts,
                "items": [i.code for i in items],
            })
    except IntegrityError:
        problem = Refused(f"{year_label(year)}の自己点検は既に始まっています。")
    except (BadInput, Refused) as exc:
        problem = exc
    if problem is not None:
        _refuse(db, actor, action, target, problem,
                "bad_input" if isinstance(problem, BadInput) else "exists")
        raise problem
    return get_inspection(db, year)


# --- read -------------------------------------------------------------------------------


def _items(raw: str) -> tuple[Item, ...]:
    return tuple(Item(**d) for d in json.loads(raw))


def _summary(conn: Any, insp: Any) -> InspectionSummary:
    items = _items(insp["items"])
    counts = dict(conn.execute(
        select(_AN.sheet_id, func.count()).select_from(
            InspectionAnswer.__table__.join(  # type: ignore[attr-defined]
                InspectionSheet.__table__, _SH.id == _AN.sheet_id))  # type: ignore[attr-defined]
        .where(_SH.inspection_id == insp["id"]).group_by(_AN.sheet_id)).all())
    sheets = tuple(
        SheetSummary(id=r["id"], department=r["department"], answered=counts.get(r["id"], 0),
                     items=len(items), signed_by=r["signed_by"], signed_at=r["signed_at"])
        for r in conn.execute(select(InspectionSheet.__table__).where(  # type: ignore[attr-defined]
            _SH.inspection_id == insp["id"]).order_by(_SH.department)).mappings()
    )
    return InspectionSummary(id=insp["id"], fiscal_year=insp["fiscal_year"],
                             due_on=insp["due_on"], started_by=insp["started_by"],
                             started_at=insp["started_at"], items=items, sheets=sheets)


def get_inspection(db: Database, year: int) -> InspectionSummary:
    with db.read() as s:
        conn = s.connection()
        insp = conn.execute(select(Inspection.__table__).where(  # type: ignore[attr-defined]
            _I.fiscal_year == year)).mappings().first()
        if insp is None:
            raise NotFound(f"{year_label(year)}の自己点検はまだ始まっていません"
                           f"（juki inspect start {year}）。")
        return _summary(conn, insp)


def latest_inspection(db: Database) -> InspectionSummary | None:
    with db.read() as s:
        conn = s.connection()
        insp = conn.execute(select(Inspection.__table__).order_by(  # type: ignore[attr-defined]
            _I.fiscal_year.desc()).limit(1)).mappings().first()
        return None if insp is None else _summary(conn, insp)


def _sheet(conn: Any, sheet_id: int) -> Any:
    return conn.execute(
        select(InspectionSheet.__table__, _I.fiscal_year, _I.due_on, _I["items"])  # type: ignore[attr-defined]
        .select_from(InspectionSheet.__table__.join(  # type: ignore[attr-defined]
            Inspection.__table__, _I.id == _SH.inspection_id))  # type: ignore[attr-defined]
        .where(_SH.id == sheet_id)).mappings().first()


def _sheet_view(conn: Any, sh: Any) -> SheetView:
    answers = {a["item_code"]: a for a in conn.execute(
        select(InspectionAnswer.__table__).where(  # type: ignore[attr-defined]
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
    _actor(db, who, VIEW_PERMS, "inspection.view", "自己点検の閲覧", f"sheet:{sheet_id}")
    with db.read() as s:
        conn = s.connection()
        sh = _sheet(conn, sheet_id)
        if sh is None:
            raise NotFound(f"自己点検の点検表 #{sheet_id} はありません。")
        return _sheet_view(conn, sh)


def sheets_of(db: Database, who: Who, year: int) -> list[SheetView]:
    """Every department's sheet of the year (for the report and the screen)."""
    insp = get_inspection(db, year)
    _actor(db, who, VIEW_PERMS, "inspection.view", "自己点検の閲覧", f"inspection:{year}")
    with db.read() as s:
        conn = s.connection()
        return [_sheet_view(conn, _sheet(conn, sh.id)) for sh in insp.sheets]


def my_department(db: Database, ident: Identity) -> str:
    with db.read() as s:
        return department_of(s.connection(), ident.user_id)


# --- answer -----------------------------------------------------------------------------


def answer(db: Database, ident: Identity, sheet_id: int, item_code: str, value: str,
           note: str = "") -> SheetView:
    """Answer (or change the answer to) one item of one's own department's sheet; recorded."""
    action = "inspection.answer"
    target = f"sheet:{sheet_id}:{item_code}"
    problem: Exception | None = None
    reason = "bad_input"
    try:
        if value not in ANSWERS:
            raise BadInput(f"回答: {' / '.join(ANSWERS)} のいずれかを選んでください。")
        note = field_text("根拠・備考", note, limit=NOTE_MAX)
        if value != NO_NOTE and not note:
            raise BadInput("根拠・備考: 実施状況の根拠（記録・文書名など）を入力してください。")
        with db.write() as s:
            conn = s.connection()
            if not any(p in permissions_on(conn, ident) for p in ANSWER_PERMS):
                reason = "permission"
                raise Refused(NOT_ALLOWED.format(what="自己点検の回答"))
            sh = _sheet(conn, sheet_id)
            if sh is None:
                reason = "not_found"
                raise NotFound(f"自己点検の点検表 #{sheet_id} はありません。")
            if item_code not in {i.code for i in _items(sh["items"])}:
                raise BadInput(f"点検項目: 「{item_code}」はこの点検表にありません。")
            mine = department_of(conn, ident.user_id)
            if mine != sh["department"]:
                reason = "other_department"
                raise Refused(f"自分の所属（{mine or '未設定'}）以外の点検表"
                              f"（{sh['department']}）には回答できません。")
            if sh["signed_at"] is not None:
                reason = "signed"
                raise Refused(f"{sh['department']}の点検表は承認済みのため変更できません。")
            values = dict(answer=value, note=note, answered_by=ident.login,
                          answered_user=ident.user_id, answered_at=now())
            changed = conn.execute(update(InspectionAnswer.__table__).where(  # type: ignore[attr-defined]
                _AN.sheet_id == sheet_id, _AN.item_code == item_code).values(**values)).rowcount
            if not changed:
                conn.execute(InspectionAnswer.__table__.insert().values(  # type: ignore[attr-defined]
                    sheet_id=sheet_id, item_code=item_code, **values))
            # The sheet must still be unsigned when this commits (a sign-off in between
            # takes the row lock first on PostgreSQL; SQLite writers queue).
            still = conn.execute(update(InspectionSheet.__table__).where(  # type: ignore[attr-defined]
                _SH.id == sheet_id, _SH.signed_at.is_(None)).values(
                    signed_by=_SH.signed_by)).rowcount
            if not still:
                reason = "signed"
                raise Refused(f"{sh['department']}の点検表は承認済みのため変更できません。")
            record(s, ident.actor, action, target=target, details={
                "fiscal_year": sh["fiscal_year"], "department": sh["department"],
                "item": item_code, "answer": value, "note": note,
            })
    except IntegrityError:  # another answer to the same item at the same moment
        problem = Refused("同じ項目に同時に回答がありました。もう一度お試しください。")
        reason = "conflict"
    except (BadInput, Refused, NotFound) as exc:
        problem = exc
    if problem is not None:
        _refuse(db, ident.actor, action, target, problem, reason)
        raise problem
    return get_sheet(db, ident, sheet_id)


# --- sign off ---------------------------------------------------------------------------


def sign_off(db: Database, ident: Identity, sheet_id: int, comment: str = "") -> SheetView:
    """Sign off a fully answered sheet as a second person; recorded.

    Refused without the review permission, for a person who answered any of its items
    (self-sign-off), for a sheet with items unanswered, and when signed off already
    (two at once: the first stands).
    """
    action = "inspection.sign_off"
    target = f"sheet:{sheet_id}"
    problem: Exception | None = None
    reason = "bad_input"
    try:
        comment = field_text("コメント", comment, limit=NOTE_MAX)
        with db.write() as s:
            conn = s.connection()
            if Perm.ACCESS_CONFIRM not in permissions_on(conn, ident):
                reason = "permission"
                raise Refused(NOT_ALLOWED.format(what="自己点検の承認"))
            sh = _sheet(conn, sheet_id)
            if sh is None:
                reason = "not_found"
                raise NotFound(f"自己点検の点検表 #{sheet_id} はありません。")
            view = _sheet_view(conn, sh)
            if any(r.answered_user == ident.user_id for r in view.rows):
                reason = "self_sign_off"
                raise Refused("自分が回答した点検表は承認できません。"
                              "回答していない確認者に依頼してください。")
            if sh["signed_at"] is not None:
                reason = "already_signed"
                raise Refused(f"{sh['department']}の点検表は既に {sh['signed_by']} さんが"
                              "承認済みです。")
            if not view.complete:
                reason = "incomplete"
                raise Refused(f"未回答の項目が {len(view.rows) - view.answered} 件あります。"
                              "すべて回答されてから承認してください。")
            won = conn.execute(update(InspectionSheet.__table__).where(  # type: ignore[attr-defined]
                _SH.id == sheet_id, _SH.signed_at.is_(None)).values(
                    signed_by=ident.login, signed_user=ident.user_id, signed_at=now(),
                    sign_comment=comment)).rowcount
            if not won:
                reason = "already_signed"
                raise Refused(f"{sh['department']}の点検表は既に承認済みです。")
            record(s, ident.actor, action, target=target, details={
                "fiscal_year": sh["fiscal_year"], "department": sh["department"],
                "answers": {r.item.code: r.answer for r in view.rows},
                "answered_by": sorted({r.answered_by for r in view.rows}),
                "comment": comment,
            })
    except (BadInput, Refused, NotFound) as exc:
        problem = exc
    if problem is not None:
        _refuse(db, ident.actor, action, target, problem, reason)
        raise problem
    return get_sheet(db, ident, sheet_id)


# --- the home screen --------------------------------------------------------------------


def waiting_lines(db: Database, settings: Settings, ident: Identity,
                  today: date | None = None) -> list[str]:
    """What the self-inspection asks of this person now, for the home screen.

    To those who must answer (review permission, their department has an unsigned
    sheet): the unanswered items, and the sheet overdue once the deadline has
    passed without a sign-off. To reviewers: the complete sheets they may sign off.
    """
    perms = current_permissions(db, ident)
    if not any(p in perms for p in ANSWER_PERMS):
        return []
    day = today or office_day()
    out: list[str] = []
    with db.read() as s:
        conn = s.connection()
        mine = department_of(conn, ident.user_id)
        open_sheets = conn.execute(
            select(InspectionSheet.__table__, _I.fiscal_year, _I.due_on, _I["items"])  # type: ignore[attr-defined]
            .select_from(InspectionSheet.__table__.join(  # type: ignore[attr-defined]
                Inspection.__table__, _I.id == _SH.inspection_id))  # type: ignore[attr-defined]
            .where(_SH.signed_at.is_(None)).order_by(_I.fiscal_year, _SH.department)
        ).mappings().all()
        ready = 0
        for sh in open_sheets:
            view = _sheet_view(conn, sh)
            label = f"自己点検（{year_label(sh['fiscal_year'])}・{sh['department']}）"
            due = format_wareki(sh["due_on"])
            if sh["department"] == mine:
                left = len(view.rows) - view.answered
                if day > sh["due_on"]:
                    out.append(f"{label}が期限（{due}）を過ぎても承認されていません"
                               f"（未回答 {left} 項目）。")
                elif left:
                    out.append(f"{label}の未回答が {left} 項目あります（期限 {due}）。")
            if (Perm.ACCESS_CONFIRM in perms and view.complete
                    and all(r.answered_user != ident.user_id for r in view.rows)):
                ready += 1
        if ready:
            out.append(f"自己点検の承認待ちの点検表が {ready} 件あります（F6）。")
    return out


__all__ = [
    "ANSWERS",
    "Item",
    "answer",
    "due_date",
    "fiscal_year",
    "get_inspection",
    "get_sheet",
    "latest_inspection",
    "load_items",
    "my_department",
    "parse_year",
    "sheets_of",
    "sign_off",
    "start_inspection",
    "waiting_lines",
    "year_label",
]
