"""The one SELECT of a search (``services.lookup.search``, points 5 and 6): which index
drives, the statement for a query's form (built once per form and cached), its bound
values. Every comparison is a B-tree range on a key column of ``services.register.keys``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from core.db import columns, table
from services.lookup.breadth import address_share, name_share
from services.lookup.query import Parsed
from services.register.keys import TOP
from services.register.models import STATUS_REMOVED, Household, MyNumberLink, Resident

R = columns(Resident)
_H = columns(Household)
_L = columns(MyNumberLink)


class _Filter(ColumnElement[Any]):
    """A column used only to filter rows, never to choose an index.

    SQLite's planner cannot estimate a prefix range (no STAT4), so left alone it may
    drive a name search from a whole town's address range. On SQLite this renders as
    ``+column`` (the documented way to keep a term off the index); PostgreSQL estimates
    ranges from its statistics and gets the plain column.
    """

    inherit_cache = True
    _traverse_internals: list[tuple[str, Any]] = [  # noqa: RUF012
        ("col", InternalTraversal.dp_clauseelement)
    ]

    def __init__(self, col: Any) -> None:
        self.col = col
        self.type = col.type


@compiles(_Filter)
def _filter_default(element: _Filter, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.col, **kw))


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
class Form:
    """What a search statement's SQL depends on; see ``values_of`` for the rest."""

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
    restricted: bool = False  # the restricted residents only (``restricted_form``)


def form_of(p: Parsed, limit: int) -> Form:
    return Form(
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


def restricted_form(p: Parsed, limit: int) -> Form:
    """The form of the second query of a reader without the permission: ``p`` (already
    ``apart_from_address``) over the restricted residents only.

    It runs on the index its own items choose (``driver``), with 支援措置 as a filter:
    ``p`` is narrow enough alone (``ranking.fetched`` asks it only then), so its range
    holds a few rows, where the restricted residents' partial index holds them all — at
    1,000,000 residents 2,000 rows, each tested for the name (bench/lookup: 4 ms of a
    5 ms whole-name search on SQLite before this). PostgreSQL may still take the partial
    index when its statistics favour it."""
    return replace(form_of(p, limit), restricted=True)


def _range(name: str, q: str, end: str = TOP) -> dict[str, str]:
    """The bounds of "starts with ``q``": [q, q + end)."""
    return {f"{name}_lo": q, f"{name}_hi": q + end}


def values_of(p: Parsed) -> dict[str, Any]:
    """The bound values of ``p``'s statement, by the names ``statement_for`` gives them."""
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
    (``lo <= col AND hi > col``); see ``statement_for`` for why.
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
def statement_for(f: Form) -> Any:
    """The SELECT for one form, its values left as bound parameters (``values_of``)."""
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
    off = _Unindexed if f.drives in ("code", "birth") else _Filter
    if f.restricted:  # a filter: the items drive (``restricted_form``)
        where.append(_Filter(R.dv_support) == true())
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



@lru_cache(maxsize=256)
def with_restricted(main: Form, restricted: Form) -> Any:
    """The main statement and the restricted residents' one (``restricted_form``) as one
    UNION ALL, so a reader without the DV permission waits for one round trip, not two.
    Each arm keeps its own index, order and limit; ``arm`` says which one a row came
    from (0 the main, 1 the restricted). Both arms take the main query's values: the
    restricted arm's are the same names with the same values, fewer."""
    found = statement_for(main).subquery("found")
    kept = statement_for(restricted).subquery("restricted")
    return union_all(select(literal_column("0").label("arm"), *found.c),
                     select(literal_column("1").label("arm"), *kept.c))

def build_statement(p: Parsed, limit: int) -> Any:
    """The one SELECT for a parsed, narrow-enough query, its values bound (for EXPLAIN in
    benches; ``search`` runs the shared form with ``values_of``, which is the same SQL)."""
    return statement_for(form_of(p, limit)).params(values_of(p))


@contextmanager
def planned_per_search(conn: Connection) -> Iterator[None]:
    """Run the statements inside with a plan made for their values, never a generic one.

    A prefix range's best plan depends on its value. psycopg prepares a statement on the
    server once it has run five times on a connection, and PostgreSQL may then settle on
    a generic plan for it; with the driver's prepare threshold lifted for these
    statements they are planned each time, as ``SET LOCAL plan_cache_mode =
    force_custom_plan`` would have them, without its round trip. The connection's
    threshold is put back for whatever runs on it next. SQLite: nothing to do.
    """
    raw = conn.connection.dbapi_connection
    if raw is None or conn.dialect.name != "postgresql" or not hasattr(raw, "prepare_threshold"):
        yield
        return
    threshold = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        yield
    finally:
        raw.prepare_threshold = threshold
