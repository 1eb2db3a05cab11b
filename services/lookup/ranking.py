"""What a search shows for each row (``services.lookup.search``, points 7 and 8): why it
matched (exact or a 異体字 / 小書き variant), the ``Hit``, and, for a reader without the DV
permission, the restricted residents merged in apart from the address."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import Connection

from services.jp import ADDRESS_NOTATION, KANA_SMALL, NAME_VARIANT, explain_variants
from services.lookup.breadth import Breadth, breadth_problem
from services.lookup.query import Parsed
from services.lookup.statement import (
    apart_from_address,
    form_of,
    restricted_form,
    statement_for,
    values_of,
    with_restricted,
)
from services.lookup.types import Hit
from services.register.keys import NameQuery, kana_fold, name_fold


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


def hit_of(p: Parsed, row: Any, rank: int) -> Hit:
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


def fetched(conn: Connection, parsed: Parsed, limit: int, limits: Breadth, *,
            may_see: bool) -> list[Any]:
    """The rows of a search, at most ``limit``, in rank order, in one statement.

    A reader without the DV permission gets them as the module docstring of
    ``services.lookup.search`` says (point 8): the main query's restricted residents
    dropped, then those the query matches apart from its address and 世帯番号
    (``apart_from_address``) merged in rank order — only when that rest is narrow enough
    alone by the breadth rule, so that a short name part made narrow by an address never
    lists every restricted resident it begins. Both queries travel as one UNION ALL
    (``with_restricted``).

    Exact within the cap: a restricted row of the main query matches the second query
    too, so when the main query was cut at ``limit`` the merged list has at least
    ``limit`` rows before any unrestricted row it did not fetch."""
    main = form_of(parsed, limit)
    values = values_of(parsed)
    if may_see:
        return list(conn.execute(statement_for(main), values).all())
    loose = apart_from_address(parsed)
    if loose is None or breadth_problem(loose, limits) is not None:
        kept = [r for r in conn.execute(statement_for(main), values) if not r.dv_support]
    else:
        both = with_restricted(main, restricted_form(loose, limit))
        kept = [r for r in conn.execute(both, values) if r.arm == 1 or not r.dv_support]
    kept.sort(key=lambda r: (r.rank, r.kana_key, r.id))
    return kept[:limit]
