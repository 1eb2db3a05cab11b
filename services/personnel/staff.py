"""The staff registry (職員): load it from the personnel system's list, link accounts.

The list is a CSV (UTF-8 or CP932) with the columns 職員番号, 氏名, 氏名カナ, 所属, 職,
雇用区分, 契約終了日, 状態, 研修受講日 and optionally ログイン名 (links the account) and
住民票コード (the person's own register record, watched by an alert rule). It
is checked whole first; rows are added or updated by 職員番号 in one transaction.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update

from auth.models import User
from auth.roles import Perm
from core.clock import now
from core.db import Database, columns, table
from core.errors import BadInput, NotFound
from core.freetext import problem
from services import gate
from services.csv_rows import cell_count_problem
from services.gate import Who
from services.jp.wareki import parse_date
from services.personnel.changefile import decode
from services.personnel.models import EMPLOYMENT_TYPES, STAFF_STATUSES, Staff

COLUMNS = ("職員番号", "氏名", "氏名カナ", "所属", "職", "雇用区分", "契約終了日", "状態",
           "研修受講日")
OPTIONAL = ("ログイン名", "住民票コード")
_S = columns(Staff)
_U = columns(User)


def _cell(value: str | None) -> str:
    return unicodedata.normalize("NFKC", value or "").strip()


def _date(value: str, field: str, where: str, errs: list[str]) -> date | None:
    if not value:
        return None
    try:
        return parse_date(value, field=field)
    except BadInput as exc:
        errs.append(f"{where} {exc.message.rstrip('。')}")
        return None


def _rows(data: bytes) -> list[dict[str, Any]]:
    text, _encoding = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [_cell(h) for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BadInput(f"職員ファイル: 1行目（見出し）: 列 {'・'.join(missing)} がありません。")
    at = {c: header.index(c) for c in COLUMNS + OPTIONAL if c in header}
    out: list[dict[str, Any]] = []
    errs: list[str] = []
    seen: set[str] = set()
    for record_ in reader:
        if not any(c.strip() for c in record_):
            continue
        where = f"{reader.line_num}行目"
        if bad_length := cell_count_problem(record_, header):
            errs.append(f"{where}: {bad_length}")
            continue
        v = {c: _cell(record_[i]) for c, i in at.items()}
        errs += [f"{where} {c}: {problem(x)}" for c, x in v.items() if problem(x)]
        errs += [f"{where} {c}: 120文字以内にしてください" for c, x in v.items() if len(x) > 120]
        no = v["職員番号"]
        if not (no and no.isascii() and no.isalnum() and len(no) <= 20):
            errs.append(f"{where} 職員番号: 英数字20文字以内で入力してください")
        elif no in seen:
            errs.append(f"{where} 職員番号: {no} が重複しています")
        seen.add(no)
        if not v["氏名"]:
            errs.append(f"{where} 氏名: 入力がありません")
        employment = v["雇用区分"] or "正規"
        if employment not in EMPLOYMENT_TYPES:
            errs.append(f"{where} 雇用区分: {'・'.join(EMPLOYMENT_TYPES)} のいずれかです")
        code = v.get("住民票コード", "")
        if code and not (code.isascii() and code.isdigit() and len(code) == 11):
            errs.append(f"{where} 住民票コード: 11桁の数字で入力してください")
        status = v["状態"] or "在職"
        if status not in STAFF_STATUSES:
            errs.append(f"{where} 状態: {'・'.join(STAFF_STATUSES)} のいずれかです")
        out.append({
            "staff_no": no, "name": v["氏名"], "kana": v["氏名カナ"], "department": v["所属"],
            "post": v["職"], "employment": employment, "status": status,
            "contract_end": _date(v["契約終了日"], "契約終了日", where, errs),
            "training_on": _date(v["研修受講日"], "研修受講日", where, errs),
            "login": v.get("ログイン名", ""), "resident_code": code, "where": where,
        })
    if errs:
        raise BadInput("職員ファイルに誤りがあるため、何も取り込んでいません: "
                       + "。".join(errs[:20]) + "。"
                       + (f"（ほか {len(errs) - 20} 件）" if len(errs) > 20 else ""))
    if not out:
        raise BadInput("職員ファイル: データ行がありません。")
    return out


@dataclass(frozen=True)
class StaffLoaded:
    added: int
    updated: int
    linked: int


def import_staff(db: Database, who: Who, *, name: str, data: bytes) -> StaffLoaded:
    """Add or update the registry from a staff list; see the module docstring."""
    with gate.act(db, who, "hr.staff", perm=Perm.ACCESS_ADMIN, what="職員台帳の取込",
                  target=name) as a:
        a.target = name[:200]  # a refusal past the permission names the file as stored
        try:
            loaded = _load(a, _rows(data))
        except BadInput as exc:
            raise gate.Refusal.of(exc, exc.message[:500]) from None
    return loaded


def _load(a: gate.Act, rows: list[dict[str, Any]]) -> StaffLoaded:
    conn = a.s.connection()
    users: dict[str, int] = {r[0]: r[1] for r in conn.execute(select(_U.login, _U.id))}
    unknown = [f"{r['where']} ログイン名: {r['login']} のアカウントはありません"
               for r in rows if r["login"] and r["login"] not in users]
    if unknown:
        raise BadInput("職員ファイルに誤りがあるため、何も取り込んでいません: "
                       + "。".join(unknown[:20]) + "。")
    existing: dict[str, int] = {r[0]: r[1] for r in conn.execute(select(_S.staff_no, _S.id))}
    stamp = now()
    added = updated = linked = 0
    new_rows = []
    for r in rows:
        values = {k: r[k] for k in ("name", "kana", "department", "post", "employment",
                                    "status", "contract_end", "training_on",
                                    "resident_code")}
        if r["login"]:
            values["user_id"] = users[r["login"]]
            linked += 1
        if r["staff_no"] in existing:
            conn.execute(update(table(Staff)).where(
                _S.id == existing[r["staff_no"]]).values(updated_at=stamp, **values))
            updated += 1
        else:
            new_rows.append({"staff_no": r["staff_no"], "updated_at": stamp,
                             "left_on": None, "user_id": None, **values})
            added += 1
    if new_rows:
        conn.execute(insert(table(Staff)), new_rows)
    a.record(details={"added": added, "updated": updated, "linked": linked})
    return StaffLoaded(added, updated, linked)


def link_account(db: Database, who: Who, staff_no: str, login: str) -> None:
    """Tie a staff member to their console account (one account per person)."""
    with gate.act(db, who, "hr.link", perm=Perm.ACCESS_ADMIN, what="アカウントの紐付け",
                  target=staff_no) as a:
        try:
            _link(a, staff_no, login)
        except (BadInput, NotFound) as exc:
            # recorded as it always was: the message whole, as a notice (severity info)
            raise gate.Refusal.of(exc, exc.message, severity="info") from None


def _link(a: gate.Act, staff_no: str, login: str) -> None:
    conn = a.s.connection()
    user_id = conn.execute(select(_U.id).where(_U.login == login)).scalar()
    if user_id is None:
        raise NotFound(f"ログイン名 {login} のアカウントはありません。")
    other = conn.execute(select(_S.staff_no).where(
        _S.user_id == user_id, _S.staff_no != staff_no)).scalar()
    if other is not None:
        raise BadInput(f"ログイン名 {login} は職員番号 {other} に紐付いています。")
    done = conn.execute(update(table(Staff)).where(
        _S.staff_no == staff_no).values(user_id=user_id, updated_at=now())).rowcount
    if not done:
        raise NotFound(f"職員番号 {staff_no} は職員台帳にありません。")
    a.record(details={"login": login})
