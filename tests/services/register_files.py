"""Register files as the register system would export them, for the import tests and bench.

``person(...)`` is one row (column → text) with plausible defaults; ``encode`` writes rows
in a chosen encoding, delimiter, BOM and line ending; ``full_from_seed`` turns the
synthetic demo register (``services.register.seed.build_register``) into a full-load file
of any size, and ``daily_changes`` a day's changes of every kind against it.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from services.jp import format_wareki, format_wareki_short
from services.register.mynumber import my_number_check_digit
from services.register.seed import build_register

COLUMNS = (
    "変更区分", "異動日", "届出日", "住民票コード", "世帯番号", "続柄", "氏", "名", "氏カナ",
    "名カナ", "生年月日", "性別", "町名", "丁目", "番地", "号", "方書", "住民となった年月日",
    "住所を定めた年月日", "異動前住所", "本籍", "筆頭者", "状態", "消除日", "消除事由", "転出先",
    "個人番号", "国籍・地域", "在留資格", "在留期間の満了日", "在留カード等の番号", "通称",
    "通称カナ", "支援措置",
)


def my_number(base: int) -> str:
    b = f"{base:011d}"
    return b + str(my_number_check_digit(b))


def person(code: str, **items: Any) -> dict[str, str]:
    """One row; ``items`` by column name override the defaults."""
    row = dict.fromkeys(COLUMNS, "")
    row.update({
        "住民票コード": code, "世帯番号": "H" + code[-6:], "続柄": "世帯主", "氏": "山田",
        "名": "太郎", "氏カナ": "ヤマダ", "名カナ": "タロウ", "生年月日": "1980-04-01",
        "性別": "男", "町名": "若葉町", "丁目": "2", "番地": "3", "号": "5",
        "住民となった年月日": "2001-04-01", "住所を定めた年月日": "2001-04-01", "状態": "住民",
    })
    row.update({k: "" if v is None else str(v) for k, v in items.items()})
    return row


def encode(rows: list[dict[str, str]], *, encoding: str = "utf-8", delimiter: str = ",",
           bom: bool = False, newline: str = "\r\n",
           columns: tuple[str, ...] = COLUMNS) -> bytes:
    def cell(v: str) -> str:
        if any(c in v for c in (delimiter, '"', "\n", "\r")):
            return '"' + v.replace('"', '""') + '"'
        return v

    lines = [delimiter.join(columns)]
    lines += [delimiter.join(cell(r.get(c, "")) for c in columns) for r in rows]
    data = (newline.join(lines) + newline).encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def _d(d: date | None, wareki: bool) -> str:
    if d is None:
        return ""
    return format_wareki_short(d) if wareki else d.isoformat()


def full_from_seed(residents: int, seed: int = 1) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """A full-load file's rows for a synthetic register; every 7th row's dates in 和暦.

    Also returns the seed's rows (by resident code) for building daily changes.
    """
    reg = build_register(residents, seed)
    hh = {h["id"]: h for h in reg.households}
    numbers = {ln["resident_id"]: ln["number"] for ln in reg.links}
    out: list[dict[str, str]] = []
    for i, r in enumerate(reg.residents):
        w = i % 7 == 0
        out.append({
            "変更区分": "", "異動日": "", "届出日": _d(r["notified_on"], w),
            "住民票コード": r["resident_code"], "世帯番号": hh[r["household_id"]]["household_no"],
            "続柄": r["relationship"], "氏": r["family_name"], "名": r["given_name"],
            "氏カナ": r["family_kana"], "名カナ": r["given_kana"],
            "生年月日": _d(r["birth_date"], w), "性別": r["sex"], "町名": r["town"],
            "丁目": str(r["chome"] or ""), "番地": "" if r["banchi"] is None else str(r["banchi"]),
            "号": "" if r["go"] is None else str(r["go"]), "方書": r["katagaki"],
            "住民となった年月日": _d(r["became_resident_on"], w),
            "住所を定めた年月日": _d(r["address_set_on"], w),
            "異動前住所": r["previous_address"], "本籍": r["honseki"],
            "筆頭者": r["honseki_head"], "状態": r["status"], "消除日": _d(r["removed_on"], w),
            "消除事由": r["removal_reason"], "転出先": r["moved_to"],
            "個人番号": numbers.get(r["id"], ""), "国籍・地域": r["nationality"],
            "在留資格": r["residence_status"], "在留期間の満了日": _d(r["stay_expires_on"], w),
            "在留カード等の番号": r["residence_card_no"], "通称": r["alias"],
            "通称カナ": r["alias_kana"], "支援措置": "1" if r["dv_support"] else "",
        })
    return out, {"households": len(reg.households), "links": len(reg.links)}


def daily_changes(full: list[dict[str, str]], n: int, *, seed: int = 7,
                  day: date = date(2026, 4, 1)) -> list[dict[str, str]]:
    """``n`` changes of every kind against residents of ``full`` (each person once)."""
    rng = random.Random(seed)
    active = [r for r in full if r["状態"] == "住民" and r["続柄"] != "世帯主"]
    picked = rng.sample(active, min(len(active), n))
    kinds = ("転居", "転出", "世帯変更", "死亡", "職権修正", "消除", "出生", "転入")
    told = format_wareki(day)
    out: list[dict[str, str]] = []
    for i, base in enumerate(picked):
        kind = kinds[i % len(kinds)]
        row = dict(base)
        row.update({"変更区分": kind, "異動日": day.isoformat(), "届出日": told})
        if kind == "転居":
            row.update({"町名": "港町", "丁目": "1", "番地": str(1 + i % 20), "号": "1",
                        "方書": "", "世帯番号": f"N{i:07d}", "続柄": "世帯主"})
        elif kind == "転出":
            row["転出先"] = "東京都千代田区霞が関1丁目1番1号"
        elif kind == "世帯変更":
            row.update({"世帯番号": f"S{i:07d}", "続柄": "世帯主"})
        elif kind == "職権修正":
            row["方書"] = "若葉ハイツ 101号室"
        elif kind in ("出生", "転入"):
            code = f"9{i:010d}"
            row.update({"住民票コード": code, "個人番号": "", "状態": "住民", "消除日": "",
                        "消除事由": "", "転出先": "", "住民となった年月日": "",
                        "住所を定めた年月日": ""})
            if kind == "出生":
                row.update({"生年月日": day.isoformat(), "続柄": "子", "名": "陽葵",
                            "名カナ": "ヒマリ", "性別": "女"})
            else:
                row["異動前住所"] = "大阪府大阪市北区梅田1丁目1番1号"
        out.append(row)
    return out
