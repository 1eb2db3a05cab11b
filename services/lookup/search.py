"""住民記録照会 — the search: purpose-bound, normalised, narrow, capped, recorded.

What a search does, in order:

1. **Permission** — ``Perm.LOOKUP`` (and ``Perm.LOOKUP_MY_NUMBER`` when a 個人番号 is
   given), read live inside the search's own write transaction
   (``auth.access.permissions_on``: one statement); a refusal rolls that transaction back
   and is recorded on its own (``auth.access.refused``), as ``require`` does.
2. **Purpose** — the 事務 must be one of ``settings.lookup_purposes`` (BadInput naming 事務).
3. **Parsing** — 生年月日 in 西暦 or 和暦 (``services.jp.parse_date``), 性別, 住民票コード
   (11 digits), 世帯番号 (digits), 個人番号 (12 digits with a valid check digit); a bad
   value is a BadInput naming its field.
4. **Breadth** (``breadth_problem``; no browsing) — enough alone: a 住民票コード,
   世帯番号 or 個人番号, or a whole name 「氏 名」 typed with a space (氏 ≥ 2 characters
   as written or ≥ 3 kana, 名 ≥ 1 character or ≥ 2 kana). Otherwise two of
   氏名の一部・生年月日・住所, and together they must leave at most ``lookup_max_share`` of
   the register by the rough shares in the tables below (a 1-kana part and a whole town is
   too broad; a 1-kana part and 丁目, or 佐藤 and a town, is not). 性別 only filters; an
   address part counts from 2 characters. These limits are settings (``Breadth``).
   The refusal says what to add and is recorded as a refused ``register.search``.
5. **Matching** (keys in ``services.lookup.keys``; every comparison is a B-tree range,
   so 1- and 2-character parts work — no trigram index, which finds nothing below 3):
   a name part is a PREFIX of the whole name's key or of the 名's key — kana-only text
   against the readings, anything else against the names as written; 「氏 名」 is a
   prefix of the 氏 and of the 名. Width, hiragana/katakana, spaces and small kana
   (ャ = ヤ) never matter; 異体字 from the table in ``services.jp.variants`` (髙/高, 﨑/崎,
   邊/邉/辺 …) match as *variant* candidates, and so does a reading that differs only in
   small kana. Voicing and long vowels are different readings (ヤマサキ does not find
   ヤマザキ; the kanji 山崎 finds both). An address part is a prefix of the in-city
   address key (方書 aside; 2-1-2 = 2丁目1番地2号 = 二丁目一番地二号; ケ/ヶ/が; a leading
   青葉県若葉市 is dropped) or, when only numbers are typed, of its 丁目-番地-号 part; a part
   ending in a number matches at a number boundary (2-1 finds 2-1-5, not 2-12).
6. **One index per query** (``driver``) — a code, else 生年月日 (equality), else the
   name or the address, whichever share is smaller. The name is an OR of two ranges
   (whole name, 名) with the address range inside each arm, and every name index holds
   the address keys and every address index the name keys, so the other item is
   checked inside the index before a row is read. SQLite cannot estimate a prefix
   range, so the items that do not drive are written ``+column`` there (``_Filter``);
   PostgreSQL plans from its statistics, with a custom plan per search — except that
   its histograms cannot size a prefix range narrower than one bucket either (遠藤 is
   estimated at 1 row of a million, not 4,400), so when a code or 生年月日 drives, the
   name and address are kept off the index there too (``_Unindexed``).
7. **Ranking and cap** — exact matches before variant matches, then by reading, then
   by id; at most ``settings.lookup_max_results`` rows (one more is fetched to say
   ``capped``). 消除 residents only when ``include_removed``.
8. **DV等支援措置** — a restricted resident is listed with its marker; to a searcher
   without ``Perm.OPEN_RESTRICTED`` as the name only, every other item blank
   (``services.restricted.withheld``). For that searcher the search is no oracle for her
   address either: the main query's restricted rows are dropped, and a second query over
   the restricted residents only (partial index ``ix_resident_dv_support``) matches the
   query apart from 住所 and 世帯番号 (``apart_from_address``) — 世帯番号 too, as it names
   the household she lives in and is an item withheld from that searcher. Its rows are
   merged in rank order within the cap — when the rest of the query is narrow enough
   alone by the breadth rule (a 1-kana part made narrow by an address must not list every
   restricted resident whose name it begins). So she is listed when 氏名, 生年月日,
   住民票コード or 個人番号 narrow enough alone match her, whatever address was typed (a
   right and a wrong one give the same answer), and never by an address, 世帯番号 or 性別
   alone. A searcher with the permission is matched on every item.
9. **Record** — the permission check, the rows and the ``register.search`` event are one
   write transaction (a too-broad query commits only its refused event). The event holds
   the actor, purpose, the normalised query (a 個人番号 only as 「指定あり」, never its
   digits), the ids returned, their count and ``capped``; a search that lists a
   restricted resident is severity high and names them (``restricted``) and whether
   they were withheld.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, literal, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from auth.access import permissions_on, refused
from auth.identity import Identity
from auth.roles import Perm
from core.clock import today_in_japan
from core.db import Database, columns, table
from core.errors import BadInput
from core.freetext import mask_my_numbers, problem
from core.settings import Settings
from logs.audit import record, record_alone
from services.jp import (
    ADDRESS_NOTATION,
    KANA_SMALL,
    NAME_VARIANT,
    explain_variants,
    format_wareki,
    parse_date,
)
from services.lookup.keys import (
    TOP,
    AddressQuery,
    NameQuery,
    address_query,
    kana_fold,
    name_fold,
    name_query,
)
from services.lookup.types import Hit, LookupQuery, SearchResult
from services.refusals import SEALING, recorded_refusals
from services.register.models import (
    SEXES,
    STATUS_REMOVED,
    Household,
    MyNumberLink,
    Resident,
)
from services.register.mynumber import is_valid_my_number, normalize_my_number
from services.restricted import may_see_restricted, withheld

ACTION = "register.search"
MY_NUMBER_GIVEN = "指定あり"

R = columns(Resident)
_H = columns(Household)
_L = columns(MyNumberLink)

_CODE_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−]")


def purposes(settings: Settings) -> tuple[str, ...]:
    """The 事務 a lookup may declare, in the configured order."""
    return tuple(settings.lookup_purposes)


def check_purpose(settings: Settings, purpose: str) -> str:
    """The purpose as configured, or BadInput naming 事務."""
    chosen = (purpose or "").strip()
    if not chosen:
        raise BadInput("事務を選んでください。どの事務のための照会かを先に選ぶ必要があります。")
    if chosen not in purposes(settings):
        raise BadInput("事務: 一覧にない事務です。一覧から選んでください。")
    return chosen


# --- parsing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """A query after parsing: every field normalised, empty when not given."""

    name: NameQuery | None
    birth: date | None
    sex: str
    address: AddressQuery | None
    address_typed: str
    resident_code: str
    household_no: str
    my_number: str
    include_removed: bool

    @property
    def has_code(self) -> bool:
        return bool(self.resident_code or self.household_no or self.my_number)

    def normalized(self) -> dict[str, str]:
        """What is recorded and shown back: keys as matched, a 個人番号 never as digits
        (nor a My Number typed into another field: masked, ``core.freetext``)."""
        return {k: mask_my_numbers(v) for k, v in self._normalized().items()}

    def _normalized(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.name is not None:
            n = self.name
            out["氏名"] = f"{n.family_exact} {n.given_exact}" if n.split else n.exact
            out["氏名の種別"] = "振り仮名" if n.kana else "漢字等"
        if self.birth is not None:
            out["生年月日"] = self.birth.isoformat()
        if self.sex:
            out["性別"] = self.sex
        if self.address is not None:
            out["住所"] = self.address.key
        if self.resident_code:
            out["住民票コード"] = self.resident_code
        if self.household_no:
            out["世帯番号"] = self.household_no
        if self.my_number:
            out["個人番号"] = MY_NUMBER_GIVEN
        if self.include_removed:
            out["消除"] = "含む"
        return out


def _digits(text: str) -> str:
    return _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", text or ""))


NAME_MAX = 100
ADDRESS_MAX = 200


def parse_query(query: LookupQuery) -> Parsed:
    """Read every field; BadInput naming the first field that cannot be used."""
    for label, typed in (("氏名", query.name), ("住所", query.address)):
        if why := problem(typed or ""):
            raise BadInput(f"{label}: {why}。")
    name_typed = query.name or ""
    address_typed = (query.address or "").strip()
    if len(name_typed) > NAME_MAX:
        raise BadInput(f"氏名: {NAME_MAX}文字以内で入力してください。")
    if len(address_typed) > ADDRESS_MAX:
        raise BadInput(f"住所: {ADDRESS_MAX}文字以内で入力してください。")
    birth = parse_date(query.birth, field="生年月日") if (query.birth or "").strip() else None
    if birth is not None and birth > today_in_japan():
        raise BadInput(f"生年月日: {format_wareki(birth)} は今日より後の日付です。"
                       "年号と年を確かめてください。")
    sex = unicodedata.normalize("NFKC", query.sex or "").strip()
    if sex and sex not in SEXES:
        raise BadInput("性別: 「男」「女」のどちらかを選んでください（指定しないときは空欄）。")
    code = _digits(query.resident_code)
    if code and not (code.isascii() and code.isdigit() and len(code) == 11):
        raise BadInput("住民票コード: 11桁の数字で入力してください。")
    household = _digits(query.household_no)
    if household and not (household.isascii() and household.isdigit() and len(household) <= 16):
        raise BadInput("世帯番号: 数字（16桁まで）で入力してください。")
    number = ""
    if (query.my_number or "").strip():
        number = normalize_my_number(query.my_number)
        if not (number.isascii() and number.isdigit() and len(number) == 12):
            raise BadInput("個人番号: 12桁の数字で入力してください。")
        if not is_valid_my_number(number):
            raise BadInput("個人番号: 検査用数字が合いません。番号を確かめてください。")
    return Parsed(
        name=name_query(name_typed),
        birth=birth,
        sex=sex,
        address=address_query(address_typed),
        address_typed=address_typed,
        resident_code=code,
        household_no=household,
        my_number=number,
        include_removed=bool(query.include_removed),
    )


# --- breadth ------------------------------------------------------------------------

# Rough shares of the register that one item leaves: the worst prefix of each length in
# the synthetic register (given names included, as a name part matches 名 too), rounded
# up. The breadth rule multiplies them; ``driver`` runs the query on the smallest.
KANA_SHARE = (0.12, 0.05, 0.03, 0.02, 0.002)  # a reading part of 1, 2, 3, 4, 5+ kana
NAME_SHARE = (0.06, 0.03, 0.01, 0.001)  # a written part of 1, 2, 3, 4+ characters
TOWN_SHARE = (0.07, 0.025, 0.006)  # 町名 with 0, 1, 2+ numbers (若葉町 / 若葉町2 / 若葉町2-1)
BLOCK_SHARE = (0.3, 0.015, 0.006)  # only 丁目-番地-号 typed: 1, 2, 3 numbers
BIRTH_SHARE = 0.0002  # one 生年月日


@dataclass(frozen=True)
class Breadth:
    """The no-browsing limits (settings ``lookup_max_share``, ``lookup_whole_name_*``,
    ``lookup_address_min_chars``); the defaults are the ones argued below.

    ``max_share``: the most a query may leave, as a share of the register: 佐藤 + 若葉町
    (0.0021), サトウ + 若葉町 and タ + 若葉町2-1 pass; サ + 若葉町 (0.0084), 佐 + 若葉町
    (0.0042) and タ + 若葉町2 (0.003) need more. ``whole_name``: a whole name alone needs
    (氏, 名) at least this long, as written and in kana; the 氏 bounds the index range
    read (佐藤 or サトウ: 2% of the register), the 名 only narrows inside it.
    """

    max_share: float = 0.0025
    whole_name_written: tuple[int, int] = (2, 1)
    whole_name_kana: tuple[int, int] = (3, 2)
    address_min_chars: int = 2  # an address part narrows from 2 characters of its key

    @classmethod
    def of(cls, settings: Settings) -> Breadth:
        return cls(
            max_share=float(settings.lookup_max_share),
            whole_name_written=(int(settings.lookup_whole_name_family_min),
                                int(settings.lookup_whole_name_given_min)),
            whole_name_kana=(int(settings.lookup_whole_name_family_min_kana),
                             int(settings.lookup_whole_name_given_min_kana)),
            address_min_chars=int(settings.lookup_address_min_chars),
        )

    def whole_name_min(self, kana: bool) -> tuple[int, int]:
        return self.whole_name_kana if kana else self.whole_name_written


DEFAULT_BREADTH = Breadth()

TOO_BROAD = "検索条件が広すぎます。"


def _pick(shares: tuple[float, ...], n: int) -> float:
    return shares[min(max(n, 1), len(shares)) - 1]


def name_share(n: NameQuery) -> float:
    shares = KANA_SHARE if n.kana else NAME_SHARE
    if n.split:
        return _pick(shares, len(n.family)) * _pick(shares, len(n.given))
    return _pick(shares, len(n.fold))


def address_share(a: AddressQuery) -> float:
    numbers = len(re.findall(r"[0-9]+", a.key))
    if a.block:
        return _pick(BLOCK_SHARE, numbers)
    return _pick(TOWN_SHARE, numbers + 1)


def _whole_name(name: NameQuery, limits: Breadth) -> bool:
    """Both 氏 and 名 typed, each long enough to stand alone."""
    family, given = limits.whole_name_min(name.kana)
    return name.split and len(name.family) >= family and len(name.given) >= given


def breadth_problem(p: Parsed, limits: Breadth = DEFAULT_BREADTH) -> str | None:
    """None when the query is narrow enough to run; else what to add, in Japanese.

    Enough: a 住民票コード, 世帯番号 or 個人番号; a whole name 「氏 名」 (``limits.whole_name_*``);
    or two of 氏名の一部・生年月日・住所 whose shares together leave at most
    ``limits.max_share`` of the register. 性別 only filters.
    """
    if p.has_code:
        return None
    if p.name is not None and _whole_name(p.name, limits):
        return None
    address = p.address
    if address is not None and len(address.key) < limits.address_min_chars:
        address = None
    shares = [
        x for x in (
            name_share(p.name) if p.name is not None else None,
            BIRTH_SHARE if p.birth is not None else None,
            address_share(address) if address is not None else None,
        ) if x is not None
    ]
    if len(shares) >= 2:
        product = 1.0
        for x in shares:
            product *= x
        if product <= limits.max_share:
            return None
        return (
            f"{TOO_BROAD}氏名をもう少し入力するか（漢字は2文字以上、かなは3文字以上）、"
            "住所を丁目・番地まで、または生年月日を入力してください。"
        )
    if p.name is not None:
        family, given = limits.whole_name_min(p.name.kana)
        return (
            f"{TOO_BROAD}氏名の一部に加えて、生年月日・住所のいずれかを入力してください。"
            f"氏名だけで探すときは、氏と名の間を空けて、氏を{family}文字以上、"
            f"名を{given}文字以上入力してください。"
        )
    if p.birth is not None:
        return f"{TOO_BROAD}生年月日に加えて、氏名の一部・住所のいずれかを入力してください。"
    if p.address is not None:
        if address is None:
            return (
                f"{TOO_BROAD}住所は町名、または丁目・番地まで入力し、"
                "氏名の一部・生年月日のいずれかを加えてください。"
            )
        return f"{TOO_BROAD}住所に加えて、氏名の一部・生年月日のいずれかを入力してください。"
    return (
        "検索条件を入力してください。住民票コード・世帯番号・個人番号のいずれか、"
        "氏名（氏と名の間を空けて全体）、または氏名の一部・生年月日・住所のうち2つが必要です。"
    )


# --- SQL ----------------------------------------------------------------------------


class _Filter(ColumnElement[Any]):
    """A column used only to filter rows, never to choose an index.

    SQLite's planner cannot estimate a prefix range (no STAT4), so left alone it may
    drive a name search from a whole town's address range. On SQLite this renders as
    ``+column`` (the documented way to keep a term off the index); PostgreSQL estimates
    ranges from its statistics and gets the plain column.
    """

    inherit_cache = True
    # SQLAlchemy declares it per instance (not ClassVar); every element sets it per class.
    _traverse_internals: list[tuple[str, Any]] = [  # noqa: RUF012
        ("col", InternalTraversal.dp_clauseelement)
    ]

    def __init__(self, col: Any) -> None:
        self.col = col
        self.type = col.type


@compiles(_Filter)
def _filter_default(element: _Filter, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.col, **kw)


@compiles(_Filter, "sqlite")
def _filter_sqlite(element: _Filter, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(element.col, **kw)


class _Unindexed(_Filter):
    """A filter column kept off every index, on PostgreSQL too.

    Used when an equality on its own index drives (a code, 生年月日): PostgreSQL would
    otherwise take a name or address prefix range it estimates at one row and read
    thousands. ``(col || '')`` matches no index and keeps the column's collation ("C"),
    so the comparison is the same.
    """

    inherit_cache = True


@compiles(_Unindexed)
def _unindexed_default(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.col, **kw)} || '')"


@compiles(_Unindexed, "sqlite")
def _unindexed_sqlite(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(element.col, **kw)


def driver(p: Parsed) -> str:
    """Which item's index a query runs on: code, birth, name or address (smallest share)."""
    if p.has_code:
        return "code"
    if p.birth is not None:
        return "birth"
    if p.name is None:
        return "address"
    if p.address is None or name_share(p.name) <= address_share(p.address):
        return "name"
    return "address"


# The SQL of a search depends only on its *form* (which items were typed, kana or not,
# 「氏 名」 or a part, which index drives, the cap); the values travel as bound parameters.
# One statement object per form is built once and reused, so a search pays neither for
# building the expression nor for SQLAlchemy's cache key of a new one (about half of
# the query's time on SQLite).


@dataclass(frozen=True)
class _Form:
    """What a search statement's SQL depends on; see ``_values`` for the rest."""

    name: tuple[bool, bool] | None  # (kana, split) when a name was typed
    address: tuple[bool, bool] | None  # (block, numbered) when an address was typed
    birth: bool
    sex: bool
    resident_code: bool
    household_no: bool
    my_number: bool
    include_removed: bool
    drives: str
    limit: int
    restricted: bool = False  # the restricted residents only (``_restricted_form``)


def _form(p: Parsed, limit: int) -> _Form:
    return _Form(
        name=(p.name.kana, p.name.split) if p.name is not None else None,
        address=(p.address.block, p.address.numbered) if p.address is not None else None,
        birth=p.birth is not None, sex=bool(p.sex), resident_code=bool(p.resident_code),
        household_no=bool(p.household_no), my_number=bool(p.my_number),
        include_removed=p.include_removed, drives=driver(p), limit=limit,
    )


def apart_from_address(p: Parsed) -> Parsed | None:
    """What a restricted resident is matched by for a reader without the permission:
    ``p`` without its address and 世帯番号, or None when nothing else that matches a
    person is left (性別 only filters). Her address and her 世帯番号 (which names the
    household she lives in) are items withheld from that reader, so they must neither
    find nor hide her."""
    if p.name is None and p.birth is None and not p.resident_code and not p.my_number:
        return None
    return replace(p, address=None, address_typed="", household_no="")


def _restricted_form(p: Parsed, limit: int) -> _Form:
    """The form of the second query of a reader without the permission: ``p`` (already
    ``apart_from_address``) over the restricted residents only, on their partial index."""
    return replace(_form(p, limit), drives="restricted", restricted=True)


def _range(name: str, q: str, end: str = TOP) -> dict[str, str]:
    """The bounds of "starts with ``q``": [q, q + end)."""
    return {f"{name}_lo": q, f"{name}_hi": q + end}


def _values(p: Parsed) -> dict[str, Any]:
    """The bound values of ``p``'s statement, by the names ``_template`` gives them."""
    v: dict[str, Any] = {}
    if p.my_number:
        v["number"] = p.my_number
    if p.household_no:
        # 世帯番号 as typed, or with the leading zeros of the register's 8-digit numbers.
        v["households"] = sorted({p.household_no, p.household_no.zfill(8)})
    if p.resident_code:
        v["code"] = p.resident_code
    if p.birth is not None:
        v["birth"] = p.birth
    if p.sex:
        v["sex"] = p.sex
    if p.address is not None:
        # After a digit a key holds only digits (above ".") or "-", so [q, q + ".") is q
        # itself and everything that continues it with "-": 2-1 finds 2-1-5, not 2-12.
        a = p.address
        v |= _range("place", a.key, "." if a.numbered else TOP)
    n = p.name
    if n is not None and n.split:
        v |= _range("family", n.family) | _range("given", n.given)
        v |= _range("family_x", n.family_exact) | _range("given_x", n.given_exact)
    elif n is not None:
        v |= _range("part", n.fold) | _range("part_x", n.exact)
    return v


def _prefix(col: Any, name: str, flipped: bool = False) -> ColumnElement[bool]:
    """``col`` starts with the bound value ``name``: one index range in code-point order.

    ``flipped`` writes the same range with the operands the other way round
    (``lo <= col AND hi > col``); see ``_template`` for why.
    """
    lo = bindparam(f"{name}_lo", type_=col.type)
    hi = bindparam(f"{name}_hi", type_=col.type)
    if flipped:
        return and_(lo <= col, hi > col)
    return and_(col >= lo, col < hi)


def _name_arms(kana: bool, split: bool, off: type[_Filter] | None) -> list[ColumnElement[bool]]:
    """The name condition as arms of an OR, one per index (whole name, 名); ``off`` wraps
    the columns when the name does not drive."""
    family: ColumnElement[Any]
    given: ColumnElement[Any]
    whole: ColumnElement[Any]
    if kana:
        family, given, whole = R.family_kana_key, R.given_kana_key, R.kana_key
    else:
        family, given, whole = R.family_key, R.given_key, R.name_key
    if off is not None:
        family, given, whole = off(family), off(given), off(whole)
    if split:
        return [and_(_prefix(family, "family"), _prefix(given, "given"))]
    return [_prefix(whole, "part"), _prefix(given, "part")]


def _name_exact(kana: bool, split: bool) -> ColumnElement[bool]:
    whole, given = (R.kana_exact, R.given_kana_exact) if kana else (R.name_exact, R.given_exact)
    if split:
        return and_(_prefix(whole, "family_x"), _prefix(given, "given_x"))
    return or_(_prefix(whole, "part_x"), _prefix(given, "part_x"))


_COLUMNS = (
    R.id, R.family_name, R.given_name, R.family_kana, R.given_kana, R.birth_date, R.sex,
    R.address, R.status, R.dv_support, R.resident_code, R.household_id,
    R.family_key, R.given_key, R.name_key, R.name_exact, R.given_exact,
    R.family_kana_key, R.given_kana_key, R.kana_key, R.kana_exact, R.given_kana_exact,
    R.address_key, R.block_key,
)


@lru_cache(maxsize=256)
def _template(f: _Form) -> Any:
    """The SELECT for one form, its values left as bound parameters (``_values``)."""
    where: list[ColumnElement[bool]] = []
    if f.name is not None:
        rank: Any = case((_name_exact(*f.name), 0), else_=1).label("rank")
        order = [rank, R.kana_key, R.id]
    else:
        rank = literal(0).label("rank")
        order = [R.kana_key, R.id]
    stmt = select(*_COLUMNS, rank)
    if f.my_number:
        stmt = stmt.join(table(MyNumberLink), _L.resident_id == R.id)
        where += [_L.number == bindparam("number"), _L.status == "active"]
    if f.household_no:
        stmt = stmt.join(table(Household), _H.id == R.household_id)
        where.append(_H.household_no.in_(bindparam("households", expanding=True)))
    if f.resident_code:
        where.append(R.resident_code == bindparam("code"))
    if f.birth:
        where.append(R.birth_date == bindparam("birth"))
    if f.sex:
        where.append(R.sex == bindparam("sex"))
    # What does not drive filters: off the index on SQLite, and on PostgreSQL too when an
    # equality drives (a name driving keeps the address as an index condition there).
    off = _Unindexed if f.drives in ("code", "birth", "restricted") else _Filter
    if f.restricted:
        where.append(R.dv_support == true())  # ix_resident_dv_support's own condition
    places: list[ColumnElement[bool]] = []
    if f.address is not None:
        col: ColumnElement[Any] = R.block_key if f.address[0] else R.address_key
        col = col if f.drives == "address" else off(col)
        # The same range twice, the second written the other way round: PostgreSQL turns
        # (A AND X) OR (B AND X) into X AND (A OR B) when both X are written alike, and
        # may then run X alone on the address index (it cannot size the range, see
        # _Unindexed) and read every row of a town to test the name. Kept whole, each
        # arm below is one index scan with both ranges in its index condition.
        places = [_prefix(col, "place"), _prefix(col, "place", flipped=True)]
    if f.name is not None:
        # The address goes into each arm, so that every arm is one index scan with both
        # ranges in its index condition (PostgreSQL: a BitmapOr of two such scans).
        arms = _name_arms(*f.name, off=None if f.drives == "name" else off)
        where.append(or_(*(
            and_(arm, places[i % 2]) if places else arm for i, arm in enumerate(arms)
        )))
    elif places:
        where.append(places[0])
    if not f.include_removed:
        where.append(R.status != STATUS_REMOVED)
    return stmt.where(and_(*where)).order_by(*order).limit(f.limit)


def build_statement(p: Parsed, limit: int) -> Any:
    """The one SELECT for a parsed, narrow-enough query, its values bound (for EXPLAIN in
    benches; ``search`` runs the shared form with ``_values``, which is the same SQL)."""
    return _template(_form(p, limit)).params(_values(p))


# --- reasons ------------------------------------------------------------------------


def _record_prefix(record_exact: str, q_fold: str, fold: Any) -> str:
    """The start of a stored exact key that folds to ``q_fold`` (variation selectors kept)."""
    best = ""
    for k in range(1, len(record_exact) + 1):
        head = fold(record_exact[:k])
        if head == q_fold:
            best = record_exact[:k]
        elif len(head) > len(q_fold):
            break
    return best


def _variant_note(q_exact: str, rec_exact: str, q_fold: str, kana: bool) -> str:
    """How the typed part and the stored part differ, or "" when written the same.

    "The same" is what ranks a row exact in SQL: the stored exact key starts with the
    typed one.
    """
    if rec_exact.startswith(q_exact):
        return ""
    rec = _record_prefix(rec_exact, q_fold, kana_fold if kana else name_fold)
    if not rec or rec == q_exact:
        return ""
    if kana:
        return f"{KANA_SMALL} {q_exact}→{rec}"
    return explain_variants(q_exact, rec) or f"{NAME_VARIANT} {q_exact}→{rec}"


def _name_reasons(n: NameQuery, row: Any) -> list[str]:
    label = "振り仮名" if n.kana else "氏名"
    if n.kana:
        fam_key, giv_key, whole_key = row.family_kana_key, row.given_kana_key, row.kana_key
        whole_x, giv_x = row.kana_exact, row.given_kana_exact
    else:
        fam_key, giv_key, whole_key = row.family_key, row.given_key, row.name_key
        whole_x, giv_x = row.name_exact, row.given_exact
    fam_x = whole_x[: len(whole_x) - len(giv_x)] if giv_x else whole_x
    out: list[str] = []
    notes: list[str] = []
    if n.split:
        same = fam_key == n.family and giv_key == n.given
        out.append(f"{label} {'一致' if same else '前方一致'}")
        notes += [
            _variant_note(n.family_exact, fam_x, n.family, n.kana),
            _variant_note(n.given_exact, giv_x, n.given, n.kana),
        ]
    elif whole_key.startswith(n.fold):
        if whole_key == n.fold:
            out.append(f"{label} 一致")
        elif fam_key == n.fold:
            out.append(f"{label}（氏）一致")
        else:
            out.append(f"{label} 前方一致")
        notes.append(_variant_note(n.exact, whole_x, n.fold, n.kana))
    else:
        out.append(f"{label}（名）{'一致' if giv_key == n.fold else '前方一致'}")
        notes.append(_variant_note(n.exact, giv_x, n.fold, n.kana))
    return out + [x for x in notes if x]


def _address_reasons(p: Parsed, row: Any) -> list[str]:
    a = p.address
    assert a is not None
    key = row.block_key if a.block else row.address_key
    what = "住所（丁目・番地・号）" if a.block else "住所"
    out = [f"{what} {'一致' if key == a.key else '前方一致'}"]
    typed = re.sub(r"\s+", "", unicodedata.normalize("NFKC", p.address_typed))
    shown = re.sub(r"\s+", "", unicodedata.normalize("NFKC", row.address))
    if typed and typed not in shown:
        out.append(ADDRESS_NOTATION)
    return out


def _reasons(p: Parsed, row: Any) -> tuple[str, ...]:
    out: list[str] = []
    if p.resident_code:
        out.append("住民票コード 一致")
    if p.my_number:
        out.append("個人番号 一致")
    if p.household_no:
        out.append("世帯番号 一致")
    if p.name is not None:
        out += _name_reasons(p.name, row)
    if p.birth is not None:
        out.append("生年月日 一致")
    if p.sex:
        out.append("性別 一致")
    if p.address is not None:
        out += _address_reasons(p, row)
    return tuple(out)


def _hit(p: Parsed, row: Any, rank: int) -> Hit:
    return Hit(
        resident_id=row.id,
        name=f"{row.family_name} {row.given_name}",
        kana=f"{row.family_kana} {row.given_kana}",
        birth_date=row.birth_date,
        sex=row.sex,
        address=row.address,
        status=row.status,
        restricted=bool(row.dv_support),
        exact=rank == 0,
        reasons=_reasons(p, row),
    )


# --- the service --------------------------------------------------------------------


class _Lacking(Exception):
    """A permission the searcher does not hold; raised inside the search's transaction."""

    def __init__(self, perm: Perm, what: str) -> None:
        super().__init__(str(perm))
        self.perm, self.what = perm, what


@recorded_refusals(ACTION, "register", SEALING)
def search(db: Database, settings: Settings, ident: Identity, query: LookupQuery) -> SearchResult:
    """Run one lookup for ``ident``; see the module docstring for every rule.

    Everything happens in one write transaction: the live permission check
    (``auth.access.permissions_on``), purpose, parsing, breadth, the query and the audit
    event. A missing permission rolls it back and is recorded on its own afterwards (as
    ``auth.access.require`` does); a too-broad query commits only its refused event.
    """
    purpose = (query.purpose or "").strip()
    needed = [(Perm.LOOKUP, "住民記録の照会")]
    if (query.my_number or "").strip():
        needed.append((Perm.LOOKUP_MY_NUMBER, "個人番号による照会"))
    problem: str | None = None
    result: SearchResult | None = None
    try:
        with db.write(numbers=len(needed) > 1) as s:
            conn = s.connection()
            held = permissions_on(conn, ident)
            for perm, what in needed:
                if perm not in held:
                    raise _Lacking(perm, what)
            purpose = check_purpose(settings, purpose)
            parsed = parse_query(query)
            normalized = parsed.normalized()
            problem = breadth_problem(parsed, Breadth.of(settings))
            if problem is not None:
                record(
                    s, ident.actor, ACTION, target="register", purpose=purpose,
                    outcome="refused", severity="warning",
                    details={"query": normalized, "reason": "too_broad"},
                )
            else:
                result = _run(s, conn, db, settings, ident, parsed, purpose, normalized,
                              may_see=may_see_restricted(held))
    except _Lacking as lack:
        raise refused(
            db, ident, lack.perm, action=ACTION, what=lack.what, purpose=purpose
        ) from None
    except BadInput as bad:  # no purpose, a field that does not parse: refused, recorded
        record_alone(db, ident.actor, ACTION, target="register", purpose=purpose[:60],
                     outcome="refused", severity="warning",
                     details={"reason": "bad_input", "message": bad.message[:300]})
        raise
    if problem is not None or result is None:
        raise BadInput(problem or TOO_BROAD)
    return result


def _run(
    s: Any, conn: Any, db: Database, settings: Settings, ident: Identity, parsed: Parsed,
    purpose: str, normalized: dict[str, str], *, may_see: bool,
) -> SearchResult:
    """The query and its ``register.search`` event, inside the caller's write transaction.

    A restricted resident's row is withheld (marker and name) unless ``may_see``; a search
    that lists one is recorded with severity high, naming them and whether they were
    withheld."""
    cap = max(1, int(settings.lookup_max_results))
    stmt = _template(_form(parsed, cap + 1))
    if not db.is_sqlite:
        # A prefix range's best plan depends on its value: never a generic plan for
        # this statement, however often the driver has prepared it.
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    rows = conn.execute(stmt, _values(parsed)).all()
    if not may_see:
        rows = _restricted_apart_from_address(conn, parsed, rows, cap + 1,
                                              Breadth.of(settings))
    capped = len(rows) > cap
    rows = rows[:cap]
    hits = tuple(withheld(_hit(parsed, row, row.rank), may_see=may_see) for row in rows)
    details: dict[str, Any] = {
        "query": normalized,
        "residents": [h.resident_id for h in hits],
        "count": len(hits),
        "capped": capped,
    }
    restricted = [h.resident_id for h in hits if h.restricted]
    if restricted:
        details.update(restricted=restricted, withheld=not may_see)
    record(
        s, ident.actor, ACTION, target="register", purpose=purpose,
        severity="high" if restricted else "info", details=details,
    )
    return SearchResult(hits=hits, capped=capped, cap=cap, normalized=normalized)


def _restricted_apart_from_address(conn: Any, parsed: Parsed, rows: list[Any],
                                   limit: int, limits: Breadth) -> list[Any]:
    """``rows`` (the main query's, at most ``limit``) as a reader without the permission
    gets them: restricted residents dropped, then those the query matches apart from its
    address and 世帯番号 (``apart_from_address``) merged in rank order, at most ``limit``
    — only when that rest is narrow enough alone by the breadth rule, so that a short
    name part made narrow by an address never lists every restricted resident it begins.

    Exact within the cap: a restricted row of the main query matches the second query
    too, so when the main query was cut at ``limit`` the merged list has at least
    ``limit`` rows before any unrestricted row it did not fetch."""
    kept = [r for r in rows if not r.dv_support]
    loose = apart_from_address(parsed)
    if loose is not None and breadth_problem(loose, limits) is None:
        kept += conn.execute(_template(_restricted_form(loose, limit)), _values(loose)).all()
    kept.sort(key=lambda r: (r.rank, r.kana_key, r.id))
    return kept[:limit]
