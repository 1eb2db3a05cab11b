"""和暦 and 西暦 dates: read what staff type, print what documents print (docs/domain.md §4).

Staff type 令和7年12月12日, 令和元年5月1日, R7.12.12, H1.1.8, S60.4.1 or 1985-04-01 and
expect one answer. A 和暦 date that its era never reached (平成31年5月1日 is 令和元年5月1日,
昭和64年1月8日 is 平成元年1月8日) is refused with a hint, never silently moved into the
next era: a wrong birth date links the wrong person.

The eras sit in one table, so a new era is one line. 明治 years before 明治6年 (1873) are
read as Gregorian month and day (the usual convention for 明治 = 1868-01-25 onwards); the
lunisolar calendar Japan used until then is not modelled — no living resident needs it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from core.errors import BadInput
from core.inert import clean_line
from services.jp.numerals import HYPHENS, NUMERAL_CHARS, kanji_to_int


@dataclass(frozen=True)
class Era:
    """One era: its name, the letter staff type for it, and its first day."""

    name: str
    letter: str
    start: date


# Oldest first. Each era ends the day before the next one starts.
ERAS: tuple[Era, ...] = (
    Era("明治", "M", date(1868, 1, 25)),
    Era("大正", "T", date(1912, 7, 30)),
    Era("昭和", "S", date(1926, 12, 25)),
    Era("平成", "H", date(1989, 1, 8)),
    Era("令和", "R", date(2019, 5, 1)),
)

_BY_TOKEN: dict[str, Era] = {}
for _era in ERAS:
    _BY_TOKEN[_era.name] = _era
    _BY_TOKEN[_era.name[0]] = _era  # 明, 大, 昭, 平, 令 as typed on forms
    _BY_TOKEN[_era.letter] = _era
_ERA_TOKEN = "|".join(sorted(map(re.escape, _BY_TOKEN), key=len, reverse=True))

# 年M月D日 (日 optional), or M and D after one separator used twice: .12.12, /12/12, -12-12.
_TAIL = (
    r"(?:年(?P<m>\d{1,2})月(?P<d>\d{1,2})日?"
    r"|(?P<sep>[./-])(?P<m2>\d{1,2})(?P=sep)(?P<d2>\d{1,2}))"
)
_WAREKI = re.compile(rf"(?P<era>{_ERA_TOKEN})(?P<y>元|\d{{1,2}})" + _TAIL, re.IGNORECASE)
_SEIREKI = re.compile(r"(?:西暦)?(?P<y>\d{4})" + _TAIL)
_COMPACT = re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})")
_SPACES = re.compile(r"\s+")
_DASHES = re.compile(f"[{re.escape(HYPHENS)}]")
_KANJI_NUMBER = re.compile(f"[{NUMERAL_CHARS}]+")

EXAMPLES = "令和7年12月12日、R7.12.12、1985-04-01"


def era_of(d: date) -> Era | None:
    """The era a date falls in, or None before 明治 (1868-01-25)."""
    for era in reversed(ERAS):
        if d >= era.start:
            return era
    return None


def _era_end(era: Era) -> date | None:
    index = ERAS.index(era)
    return ERAS[index + 1].start - timedelta(days=1) if index + 1 < len(ERAS) else None


def _tidy(text: str) -> str:
    """NFKC (full-width digits, ㍻ → 平成), no spaces, one kind of dash, kanji numerals read."""
    text = _SPACES.sub("", unicodedata.normalize("NFKC", text))
    text = _DASHES.sub("-", text)
    return _KANJI_NUMBER.sub(lambda m: str(kanji_to_int(m.group())), text)


def _quote(text: str) -> str:
    shown = clean_line(text).strip()
    return shown if len(shown) <= 40 else shown[:40] + "…"


def parse_date(text: str, *, field: str = "生年月日") -> date:
    """Read a date in any form staff type; raise BadInput naming ``field`` if it is not one.

    Accepted: 令和7年12月12日, 令和元年5月1日 (元 = 1), 令和七年十二月十二日, ㋿7年…,
    R7.12.12 / r7.12.12 / R07/12/12 / R7-12-12 (M T S H R, or 明 大 昭 平 令),
    1985-04-01, 1985/4/1, 1985.4.1, 1985年4月1日, 19850401; full-width digits and spaces
    are fine. A 和暦 date must lie inside its era.
    """
    raw = text if isinstance(text, str) else str(text)
    try:
        s = _tidy(raw)
    except ValueError:
        s = ""
    if not s:
        if not raw.strip():
            raise BadInput(f"{field}を入力してください（例: {EXAMPLES}）")
        raise BadInput(f"{field}の書き方が読み取れません:「{_quote(raw)}」（例: {EXAMPLES}）")
    if m := _WAREKI.fullmatch(s):
        return _from_wareki(m, raw, field)
    m = _SEIREKI.fullmatch(s) or _COMPACT.fullmatch(s)
    if m is None:
        raise BadInput(f"{field}の書き方が読み取れません:「{_quote(raw)}」（例: {EXAMPLES}）")
    year, month, day = _ymd(m)
    return _make(year, month, day, raw, field)


def _ymd(m: re.Match[str]) -> tuple[int, int, int]:
    groups = m.groupdict()
    year = 1 if groups["y"] == "元" else int(groups["y"])
    month = groups.get("m") or groups.get("m2")
    day = groups.get("d") or groups.get("d2")
    return year, int(month or 0), int(day or 0)


def _make(year: int, month: int, day: int, raw: str, field: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise BadInput(f"{field}:「{_quote(raw)}」という日付はありません") from None


def _from_wareki(m: re.Match[str], raw: str, field: str) -> date:
    token = m.group("era")
    era = _BY_TOKEN.get(token) or _BY_TOKEN[token.upper()]
    year, month, day = _ymd(m)
    if year == 0:
        raise BadInput(f"{field}: {era.name}0年はありません（最初の年は{era.name}元年です）")
    d = _make(era.start.year + year - 1, month, day, raw, field)
    end = _era_end(era)
    if d < era.start or (end is not None and d > end):
        span = f"{format_wareki(era.start)}から"
        span += f"{format_wareki(end)}まで" if end is not None else ""
        hint = f"。{format_wareki(d)}のことですか" if d >= ERAS[0].start else ""
        raise BadInput(
            f"{field}:「{_quote(raw)}」という日付はありません"
            f"（{era.name}は{span}{hint}）"
        )
    return d


def _era_year(era: Era, d: date) -> int:
    return d.year - era.start.year + 1


def format_wareki(d: date) -> str:
    """令和7年12月12日, with 元年 for an era's first year; before 明治, 1868年1月24日."""
    era = era_of(d)
    if era is None:
        return f"{d.year}年{d.month}月{d.day}日"
    year = _era_year(era, d)
    return f"{era.name}{'元' if year == 1 else year}年{d.month}月{d.day}日"


def format_wareki_short(d: date) -> str:
    """R7.12.12 as staff type it; before 明治, the ISO date (1868-01-24)."""
    era = era_of(d)
    if era is None:
        return d.isoformat()
    return f"{era.letter}{_era_year(era, d)}.{d.month}.{d.day}"


def format_both(d: date) -> str:
    """令和7年12月12日 (2025-12-12): the document form with the ISO date beside it."""
    return f"{format_wareki(d)} ({d.isoformat()})"


__all__ = [
    "ERAS",
    "Era",
    "era_of",
    "format_both",
    "format_wareki",
    "format_wareki_short",
    "parse_date",
]
