"""The personnel-change file (異動ファイル): read, decode and check every row before use.

Columns (a header row, in any order): 発令日, 職員番号, 氏名, 異動区分, 旧所属, 新所属,
旧職, 新職, and optionally 氏名カナ (checked against the registry when a row gives it).
UTF-8 (with or without BOM) or CP932, as personnel systems and Excel write it. Nothing
is applied from a file with any bad row: ``read_changes`` returns every problem, each
naming its line and field.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import date

from core.errors import BadInput
from core.freetext import problem
from services.csv_rows import cell_count_problem
from services.jp.kana import is_kana
from services.jp.wareki import parse_date
from services.personnel.models import (
    CHANGE_KINDS,
    HIRE,
    LEAVE,
    RETIRE,
    RETURN,
    TRANSFER_IN,
    TRANSFER_OUT,
)

COLUMNS = ("発令日", "職員番号", "氏名", "異動区分", "旧所属", "新所属", "旧職", "新職")
OPTIONAL = ("氏名カナ",)
MAX_BYTES = 20 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 20
# 新所属 / 新職 a row of each kind must carry (the others may be blank).
_NEEDS_NEW = {
    HIRE: ("新所属", "新職"), TRANSFER_IN: ("新所属", "新職"), TRANSFER_OUT: ("新所属",),
    RETIRE: (), LEAVE: (), RETURN: (),
}


@dataclass(frozen=True)
class ChangeRow:
    line_no: int
    effective_on: date
    staff_no: str
    name: str
    kind: str
    old_department: str
    new_department: str
    old_post: str
    new_post: str
    kana: str = ""  # 氏名カナ, when the file has the column and the row fills it


@dataclass(frozen=True)
class ChangeFile:
    rows: tuple[ChangeRow, ...]
    encoding: str


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was in: UTF-8 (BOM or not) first, then CP932.

    The register import's ``layout.decode`` tries the same two; it differs in what it
    says: a problem of the file with its line number, where this says one sentence."""
    if len(data) > MAX_BYTES:
        raise BadInput(f"異動ファイル: {MAX_BYTES // (1024 * 1024)} MB を超えています。")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"異動ファイル: 文字コードが UTF-8 でも CP932 (Shift_JIS) でもありません"
            f"（{exc.start + 1} バイト目）。"
        ) from None


def _cell(value: str | None) -> str:
    text = unicodedata.normalize("NFKC", value or "").strip()
    return text


def read_changes(data: bytes) -> ChangeFile:
    """Every row checked; BadInput listing each bad row's line and field when any is bad."""
    text, encoding = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise BadInput("異動ファイル: 空です。見出し行が必要です。") from None
    except csv.Error as exc:
        raise BadInput(f"異動ファイル: 1行目: CSV として読めません ({exc})。") from None
    names = [_cell(h) for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise BadInput(
            f"異動ファイル: 1行目（見出し）: 列 {'・'.join(missing)} がありません。"
            f"必要な列: {'・'.join(COLUMNS)}。"
        )
    at = {c: names.index(c) for c in COLUMNS + OPTIONAL if c in names}
    rows: list[ChangeRow] = []
    problems: list[str] = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if bad_length := cell_count_problem(record, header):
                problems.append(f"{line}行目: {bad_length}")
                continue
            row, errs = _row(line, record, at)
            problems.extend(errs)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        problems.append(f"{reader.line_num}行目: CSV として読めません ({exc})")
    if not rows and not problems:
        problems.append("データ行がありません")
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        tail = f"（ほか {more} 件）" if more else ""
        raise BadInput(
            "異動ファイルに誤りがあるため、何も取り込んでいません: "
            + "。".join(shown) + "。" + tail
        )
    return ChangeFile(rows=tuple(rows), encoding=encoding)


def _row(line: int, record: list[str], at: dict[str, int]) -> tuple[ChangeRow | None, list[str]]:
    where = f"{line}行目"
    values = {c: _cell(record[i]) for c, i in at.items()}
    errs: list[str] = []
    for column, value in values.items():
        if why := problem(value):
            errs.append(f"{where} {column}: {why}")
        elif len(value) > 120:
            errs.append(f"{where} {column}: 120文字以内にしてください")
    effective: date | None = None
    if not values["発令日"]:
        errs.append(f"{where} 発令日: 入力がありません")
    else:
        try:
            effective = parse_date(values["発令日"], field="発令日")
        except BadInput as exc:
            errs.append(f"{where} {exc.message.rstrip('。')}")
    staff_no = values["職員番号"]
    if not staff_no:
        errs.append(f"{where} 職員番号: 入力がありません")
    elif not (staff_no.isascii() and staff_no.isalnum() and len(staff_no) <= 20):
        errs.append(f"{where} 職員番号: 英数字20文字以内で入力してください（{staff_no[:20]}）")
    if not values["氏名"]:
        errs.append(f"{where} 氏名: 入力がありません")
    kana = values.get("氏名カナ", "")
    if kana and not problem(kana) and not is_kana(kana):
        errs.append(f"{where} 氏名カナ: カタカナで入力してください（{kana[:20]}）")
    kind = values["異動区分"]
    if kind not in CHANGE_KINDS:
        errs.append(
            f"{where} 異動区分: 「{kind[:20]}」は使えません（{'・'.join(CHANGE_KINDS)} のいずれか）"
        )
    else:
        for column in _NEEDS_NEW[kind]:
            if not values[column]:
                errs.append(f"{where} {column}: {kind}には{column}が必要です")
    if errs or effective is None:
        return None, errs
    return ChangeRow(
        line_no=line, effective_on=effective, staff_no=staff_no, name=values["氏名"],
        kind=kind, old_department=values["旧所属"], new_department=values["新所属"],
        old_post=values["旧職"], new_post=values["新職"], kana=kana,
    ), []
