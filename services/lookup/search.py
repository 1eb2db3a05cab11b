"""住民記録照会 — the search: purpose-bound, normalised, narrow, capped, recorded.

What a search does, in order:

1. **Permission** — ``Perm.LOOKUP`` (and ``Perm.LOOKUP_MY_NUMBER`` when a 個人番号 is
   given), read live inside the search's own write transaction by ``services.gate``
   (one statement); a refusal rolls that transaction back and the gate records it on
   its own.
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
5. **Matching** (keys in ``services.register.keys``; every comparison is a B-tree range,
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
   the restricted residents only (on the index its own items choose) matches the
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

Where each step lives: ``services.lookup.query`` (2, 3), ``.breadth`` (4), ``.statement``
(5, 6: ``driver``, ``_Filter``, ``_Unindexed``, the cached statement per form),
``.ranking`` (7, 8: the rows fetched — for a reader without the DV permission both
queries as one UNION ALL —, the restricted merge, the reasons, the ``Hit``), this module
(1, 9: the act).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from auth.identity import Identity
from auth.roles import Perm
from core.db import Database
from core.errors import BadInput
from core.settings import Settings
from services import gate
from services.lookup.breadth import TOO_BROAD, Breadth, breadth_problem
from services.lookup.query import Parsed, check_purpose, parse_query, purposes
from services.lookup.ranking import fetched, hit_of
from services.lookup.statement import planned_per_search
from services.lookup.types import LookupQuery, SearchResult
from services.restricted import withheld

__all__ = ["ACTION", "purposes", "search"]  # ``purposes``: the screen's list of 事務

ACTION = "register.search"


def search(db: Database, settings: Settings, ident: Identity, query: LookupQuery) -> SearchResult:
    """Run one lookup for ``ident``; see the module docstring for every rule.

    One act of ``services.gate``, so one write transaction: the live permission check,
    purpose, parsing, breadth, the query and the audit event. A missing permission, a
    field that does not parse or a number that cannot be sealed rolls it back and is
    recorded by the gate on its own; a too-broad query commits only its refused event.
    """
    purpose = (query.purpose or "").strip()
    by_number = bool((query.my_number or "").strip())
    problem: str | None = None
    result: SearchResult | None = None
    with gate.act(db, ident, ACTION, perm=Perm.LOOKUP, what="住民記録の照会",
                  purpose=purpose[:60], numbers=by_number) as a:
        if by_number:
            a.need(Perm.LOOKUP_MY_NUMBER, "個人番号による照会")
        a.target = "register"  # a refusal after the permission check names the register
        a.purpose = check_purpose(settings, purpose)
        parsed = parse_query(query)
        normalized = parsed.normalized()
        problem = breadth_problem(parsed, Breadth.of(settings))
        if problem is not None:
            a.record(outcome="refused", severity="warning",
                     details={"query": normalized, "reason": "too_broad"})
        else:
            result = _run(a, settings, parsed, normalized)
    if problem is not None or result is None:
        raise BadInput(problem or TOO_BROAD)
    return result


def _run(a: gate.Act, settings: Settings, parsed: Parsed,
         normalized: dict[str, str]) -> SearchResult:
    """The query and its ``register.search`` event, inside the act's transaction.

    A restricted resident's row is withheld (marker and name) unless the searcher holds
    ``Perm.OPEN_RESTRICTED``; a search that lists one is recorded with severity high,
    naming them and whether they were withheld."""
    may_see = a.holds(Perm.OPEN_RESTRICTED)
    conn: Connection = a.s.connection()
    cap = max(1, int(settings.lookup_max_results))
    with planned_per_search(conn):
        rows = fetched(conn, parsed, cap + 1, Breadth.of(settings), may_see=may_see)
    capped = len(rows) > cap
    rows = rows[:cap]
    hits = tuple(withheld(hit_of(parsed, row, row.rank), may_see=may_see) for row in rows)
    details: dict[str, Any] = {
        "query": normalized,
        "residents": [h.resident_id for h in hits],
        "count": len(hits),
        "capped": capped,
    }
    restricted = [h.resident_id for h in hits if h.restricted]
    if restricted:
        details.update(restricted=restricted, withheld=not may_see)
    a.record(severity="high" if restricted else "info", details=details)
    return SearchResult(hits=hits, capped=capped, cap=cap, normalized=normalized)
