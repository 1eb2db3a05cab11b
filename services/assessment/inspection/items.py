"""What a self-inspection asks and when: the checklist items, the 年度 and its deadline.

The items come from a TOML file (setting ``inspection_items``; the built-in one follows
the assessment's section IV: 入手, 使用, 委託, 提供・移転, 接続, 保管・消去, 手作業, 研修),
checked whole. A 年度 runs April–March and is typed by staff as 2026, 令和8 or R8; its
deadline is the ``inspection_due`` day (MM-DD) within it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from core.errors import BadInput
from core.settings import Settings

BUILTIN_ITEMS = Path(__file__).resolve().parent.parent / "inspection_items.toml"


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
