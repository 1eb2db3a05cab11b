"""The register file layout (docs/register-import.md): read, decode and check every row.

One row per person with every item of docs/domain.md §2, the 世帯番号, the 状態 and, in a
daily file (異動分), the change event: 変更区分, 異動日, 届出日. The first row names the
columns (any order; unknown columns are refused so that a misspelt one is not silently
dropped). UTF-8 (BOM or not) or CP932 as the register system writes it; comma or tab;
CRLF or LF; dates in 西暦 or 和暦 (``services.jp.parse_date``).

Nothing here touches the database: ``read_register`` returns checked rows or raises
BadInput listing every bad row by line and field. The checks that need the register
as it stands (does this 住民票コード exist?) are the importer's.

Names are kept as written: no NFKC on 氏・名・通称 (it would fold compatibility
ideographs), only surrounding spaces go. Codes, numbers and dates are NFKC-folded
(full-width digits are fine). 外字 (the private-use area, where CP932 exports put
characters they cannot encode) is refused, naming the field: export those rows in UTF-8.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from core.errors import BadInput
from core.freetext import problem
from services.csv_rows import cell_count_problem
from services.jp import is_kana, parse_date
from services.register.models import (
    CHANGE_KINDS,
    REMOVAL_REASONS,
    SEXES,
    STATUS_REMOVED,
    STATUS_RESIDENT,
    format_address,
)
from services.register.mynumber import is_valid_my_number

Progress = Callable[[str, int, int], None]

MAX_BYTES = 1024 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 30
PROGRESS_EVERY = 10_000

# Column → (resident column or special, kind). kind: name | kana | text | code | date | int.
ITEM_COLUMNS: dict[str, tuple[str, str, int]] = {
    "住民票コード": ("resident_code", "code", 11),
    "世帯番号": ("household_no", "code", 16),
    "続柄": ("relationship", "text", 16),
    "氏": ("family_name", "name", 64),
    "名": ("given_name", "name", 64),
    "氏カナ": ("family_kana", "kana", 64),
    "名カナ": ("given_kana", "kana", 64),
    "生年月日": ("birth_date", "date", 0),
    "性別": ("sex", "text", 2),
    "町名": ("town", "text", 40),
    "丁目": ("chome", "int", 99),
    "番地": ("banchi", "int", 99999),
    "号": ("go", "int", 99999),
    "方書": ("katagaki", "name", 120),
    "住民となった年月日": ("became_resident_on", "date", 0),
    "住所を定めた年月日": ("address_set_on", "date", 0),
    "異動前住所": ("previous_address", "name", 200),
    "本籍": ("honseki", "name", 200),
    "筆頭者": ("honseki_head", "name", 120),
    "状態": ("status", "text", 4),
    "消除日": ("removed_on", "date", 0),
    "消除事由": ("removal_reason", "text", 16),
    "転出先": ("moved_to", "name", 200),
    "個人番号": ("my_number", "code", 12),
    "国籍・地域": ("nationality", "name", 40),
    "在留資格": ("residence_status", "name", 40),
    "在留期間の満了日": ("stay_expires_on", "date", 0),
    "在留カード等の番号": ("residence_card_no", "code", 12),
    "通称": ("alias", "name", 120),
    "通称カナ": ("alias_kana", "kana", 120),
    "支援措置": ("dv_support", "text", 4),
}
EVENT_COLUMNS: dict[str, tuple[str, str, int]] = {
    "変更区分": ("kind", "text", 8),
    "異動日": ("occurred_on", "date", 0),
    "届出日": ("notified_on", "date", 0),
}
ALL_COLUMNS = {**EVENT_COLUMNS, **ITEM_COLUMNS}
REQUIRED = (
    "住民票コード", "世帯番号", "続柄", "氏", "名", "氏カナ", "名カナ", "生年月日", "性別",
    "町名", "丁目", "番地", "号",
)
REQUIRED_CHANGES = ("変更区分", "異動日")
# Kinds whose row removes the person, and the 消除事由 each gives.
REMOVING = {"転出": "転出", "死亡": "死亡", "消除": "職権消除"}
_TRUE = ("1", "有", "あり", "○", "TRUE", "true")
_FALSE = ("", "0", "無", "なし", "FALSE", "false")
_SEX_CODES = {"1": "男", "2": "女", "男": "男", "女": "女"}


@dataclass
class Row:
    """One checked row: resident columns as the register stores them, and the event."""

    line: int
    values: dict[str, Any]  # resident columns (no id, no household_id, no keys)
    household_no: str
    my_number: str
    kind: str  # "" in a full file without 変更区分
    occurred_on: date | None
    notified_on: date | None
    given: frozenset[str] = field(default_factory=frozenset)  # resident columns present

    @property
    def code(self) -> str:
        return str(self.values["resident_code"])

    def natural_key(self) -> str:
        """The change's identity across files: code, kind, dates and every item."""
        parts = [self.code, self.kind, str(self.occurred_on), str(self.notified_on),
                 self.household_no, self.my_number]
        parts += [f"{k}={self.values[k]!s}" for k in sorted(self.values)]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RegisterFile:
    rows: tuple[Row, ...]
    encoding: str
    delimiter: str
    sha256: str


@dataclass(frozen=True)
class Problem:
    """A bad row: its line, the column, what is wrong (Japanese)."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.line}行目" if self.line else "ファイル"
        return f"{where} {self.column}: {self.message}" if self.column else \
            f"{where}: {self.message}"


class BadFile(BadInput):
    """The file was refused; ``problems`` name every bad row by line and column."""

    def __init__(self, problems: list[Problem], sha256: str = "") -> None:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        tail = f"（ほか {more:,} 件）" if more else ""
        super().__init__(
            "住民記録ファイルに誤りがあるため、何も取り込んでいません: "
            + "。".join(str(p) for p in shown) + "。" + tail
        )
        self.problems = problems
        self.sha256 = sha256


def decode(data: bytes) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (BOM or not) first, then CP932."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadFile([Problem(line, "", (
            f"文字コードが UTF-8 でも CP932 (Shift_JIS) でもありません"
            f"（ファイルの {exc.start + 1:,} バイト目）"
        ))]) from None


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _bad_chars(text: str) -> str:
    """What is wrong with the characters of a cell, or "" (the one rule, core.freetext)."""
    why = problem(text)
    if why.startswith("外字"):  # a CP932 export puts 外字 in the private-use area
        why += "。UTF-8 で出力してください"
    return why


@lru_cache(maxsize=65536)
def _date(value: str, column: str) -> date | str:
    """A date, or the Japanese message of why it is not one (cached: dates repeat)."""
    try:
        return parse_date(value, field=column)
    except BadInput as exc:
        return exc.message.rstrip("。")


@lru_cache(maxsize=65536)
def _kana_ok(value: str) -> bool:
    return is_kana(value)


class _RowReader:
    def __init__(self, line: int, cells: dict[str, str], problems: list[Problem]) -> None:
        self.line, self.cells, self.problems = line, cells, problems

    def bad(self, column: str, message: str) -> None:
        self.problems.append(Problem(self.line, column, message))

    def raw(self, column: str) -> str:
        return self.cells.get(column, "")

    def text(self, column: str, *, fold: bool = True, required: bool = False) -> str:
        raw = self.raw(column)
        if not raw:
            if required:
                self.bad(column, "入力がありません")
            return ""
        value = _fold(raw) if fold else raw.strip(" \u3000\t")
        limit = ALL_COLUMNS[column][2]
        if bad := _bad_chars(value):
            self.bad(column, bad)
            return ""
        if required and not value:
            self.bad(column, "入力がありません")
        elif len(value) > limit:
            self.bad(column, f"{limit}文字以内にしてください")
        return value

    def date(self, column: str, *, required: bool = False) -> date | None:
        value = self.raw(column).strip()
        if not value:
            if required:
                self.bad(column, "入力がありません")
            return None
        got = _date(value, column)
        if isinstance(got, str):
            self.problems.append(Problem(self.line, "", got))
            return None
        return got

    def number(self, column: str) -> int | None:
        value = _fold(self.raw(column))
        if not value:
            return None
        limit = ALL_COLUMNS[column][2]
        if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= limit:
            self.bad(column, f"1〜{limit} の数字で入力してください（{value[:10]}）")
            return None
        return int(value)


def _check_row(r: _RowReader, full: bool) -> Row | None:
    """One row's values, checked on their own (no database); None when any is bad."""
    before = len(r.problems)
    v: dict[str, Any] = {}
    code = r.text("住民票コード", required=True)
    if code and not (code.isascii() and code.isdigit() and len(code) == 11):
        r.bad("住民票コード", f"11桁の数字で入力してください（{code[:14]}）")
    v["resident_code"] = code
    hh = r.text("世帯番号", required=True)
    if hh and not (hh.isascii() and hh.replace("-", "").isalnum()):
        r.bad("世帯番号", "英数字 (とハイフン) で入力してください")
    v["relationship"] = r.text("続柄", required=True)
    v["family_name"] = r.text("氏", fold=False, required=True)
    v["given_name"] = r.text("名", fold=False)
    kana_columns = (("氏カナ", "family_kana"), ("名カナ", "given_kana"),
                    ("通称カナ", "alias_kana"))
    for col, key in kana_columns:
        kana = r.text(col)
        if kana and not _kana_ok(kana):
            r.bad(col, "カタカナで入力してください")
        v[key] = kana
    v["birth_date"] = r.date("生年月日", required=True)
    sex = r.text("性別", required=True)
    if sex and sex not in _SEX_CODES:
        r.bad("性別", f"{'・'.join(SEXES)} (または 1・2) で入力してください（{sex[:4]}）")
    v["sex"] = _SEX_CODES.get(sex, sex)
    v["town"] = r.text("町名", required=True)
    v["chome"], v["banchi"], v["go"] = r.number("丁目"), r.number("番地"), r.number("号")
    v["katagaki"] = r.text("方書", fold=False)
    v["became_resident_on"] = r.date("住民となった年月日", required=full)
    v["address_set_on"] = r.date("住所を定めた年月日", required=full)
    v["notified_on"] = r.date("届出日")
    for col, key in (("異動前住所", "previous_address"), ("本籍", "honseki"),
                     ("筆頭者", "honseki_head"), ("転出先", "moved_to"),
                     ("国籍・地域", "nationality"), ("在留資格", "residence_status"),
                     ("通称", "alias")):
        v[key] = r.text(col, fold=False)
    v["stay_expires_on"] = r.date("在留期間の満了日")
    card = r.text("在留カード等の番号").upper()
    if card and not (len(card) == 12 and card[:2].isalpha() and card[2:10].isdigit()
                     and card[10:].isalpha() and card.isascii()):
        r.bad("在留カード等の番号", "英字2・数字8・英字2 の12文字で入力してください")
    v["residence_card_no"] = card
    v["is_foreign"] = bool(v["nationality"])
    dv = r.text("支援措置")
    if dv not in _TRUE + _FALSE:
        r.bad("支援措置", "1 (あり) か 0・空欄 (なし) で入力してください")
    v["dv_support"] = dv in _TRUE
    status = r.text("状態") or STATUS_RESIDENT
    if status not in (STATUS_RESIDENT, STATUS_REMOVED):
        r.bad("状態", f"{STATUS_RESIDENT}・{STATUS_REMOVED} のいずれかです（{status[:6]}）")
    v["status"] = status
    v["removed_on"] = r.date("消除日")
    reason = r.text("消除事由")
    if reason and reason not in REMOVAL_REASONS:
        r.bad("消除事由", f"{'・'.join(REMOVAL_REASONS)} のいずれかです（{reason[:8]}）")
    v["removal_reason"] = reason
    number = r.text("個人番号")
    if number and not (number.isascii() and number.isdigit() and len(number) == 12):
        r.bad("個人番号", "12桁の数字で入力してください")
    elif number and not is_valid_my_number(number):
        r.bad("個人番号", "検査用数字が合いません")
    kind = r.text("変更区分", required=not full)
    if kind and kind not in CHANGE_KINDS:
        r.bad("変更区分", f"「{kind[:10]}」は使えません（{'・'.join(CHANGE_KINDS)} のいずれか）")
    occurred = r.date("異動日", required=not full or bool(kind))
    if full and status == STATUS_REMOVED:
        if v["removed_on"] is None:
            r.bad("消除日", "状態が消除の行には消除日が必要です")
        if not reason:
            r.bad("消除事由", "状態が消除の行には消除事由が必要です")
    if v["chome"] is not None and v["banchi"] is None:
        r.bad("番地", "丁目のある住所には番地が必要です")
    if len(r.problems) > before:
        return None
    v["address"] = format_address(v["town"], v["chome"], v["banchi"], v["go"], v["katagaki"])
    if len(v["address"]) > 200:
        r.bad("方書", "住所 (町名から方書まで) が200文字を超えています")
        return None
    given = {ITEM_COLUMNS[c][0] for c in r.cells if c in ITEM_COLUMNS}
    if "届出日" in r.cells:
        given.add("notified_on")
    if "国籍・地域" in r.cells:
        given.add("is_foreign")
    return Row(r.line, v, hh, number, kind, occurred, v["notified_on"], frozenset(given))


def read_register(data: bytes, *, full: bool, progress: Progress | None = None) -> RegisterFile:
    """Every row checked on its own; BadFile naming each bad row when any is bad."""
    sha = hashlib.sha256(data).hexdigest()
    if len(data) > MAX_BYTES:
        raise BadFile([Problem(0, "", f"{MAX_BYTES // 1024 ** 2:,} MB を超えています")], sha)
    try:
        text, encoding = decode(data)
    except BadFile as exc:
        exc.sha256 = sha
        raise
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    problems: list[Problem] = []
    try:
        header = [_fold(h) for h in next(reader)]
    except StopIteration:
        raise BadFile([Problem(1, "", "空です。見出し行が必要です")], sha) from None
    unknown = [h for h in header if h and h not in ALL_COLUMNS]
    missing = [c for c in REQUIRED + (() if full else REQUIRED_CHANGES) if c not in header]
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if unknown:
        problems.append(Problem(1, "見出し", f"知らない列です: {'・'.join(unknown[:10])}"))
    if missing:
        problems.append(Problem(1, "見出し", f"列 {'・'.join(missing)} がありません"))
    if twice:
        problems.append(Problem(1, "見出し", f"列 {'・'.join(twice)} が2回あります"))
    if problems:
        raise BadFile(problems, sha)
    at = {h: i for i, h in enumerate(header) if h}
    rows: list[Row] = []
    seen_codes: dict[str, int] = {}
    seen_numbers: dict[str, int] = {}
    count = 0
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            count += 1
            line = reader.line_num
            if bad_length := cell_count_problem(record, header):
                problems.append(Problem(line, "", bad_length))
                continue
            cells = {h: record[i] for h, i in at.items()}
            row = _check_row(_RowReader(line, cells, problems), full)
            if row is not None:
                if full:
                    if (prev := seen_codes.get(row.code)) is not None:
                        problems.append(Problem(line, "住民票コード",
                                                f"{prev}行目と同じ住民票コードです"))
                    seen_codes[row.code] = line
                if row.my_number:
                    prev = seen_numbers.get(row.my_number)
                    if prev is not None and (full or rows[prev].code != row.code):
                        problems.append(Problem(line, "個人番号", (
                            f"{rows[prev].line}行目と同じ個人番号です")))
                    seen_numbers.setdefault(row.my_number, len(rows))
                rows.append(row)
            if progress and count % PROGRESS_EVERY == 0:
                progress("検査", count, 0)
    except csv.Error as exc:
        problems.append(Problem(reader.line_num, "", f"CSV として読めません ({exc})"))
    if not count and not problems:
        problems.append(Problem(0, "", "データ行がありません"))
    if problems:
        raise BadFile(problems, sha)
    return RegisterFile(tuple(rows), encoding, delimiter, sha)
