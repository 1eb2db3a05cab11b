"""住民記録照会 search: every search shape and normalisation rule, on SQLite and PostgreSQL.

The register is a small seeded one plus hand-placed residents (``lookup_data``); where
a rule is about prefixes, the expected rows are computed from every resident in the
database, so the test holds for whatever the seed drew.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from core.db import Database
from core.errors import BadInput, Refused
from core.settings import Settings
from services.jp import normalize_kana, normalize_name
from services.lookup.search import purposes, search
from services.lookup.types import Hit, LookupQuery, SearchResult
from services.register.models import Resident
from tests.services.lookup_data import KNOWN_NUMBER, PURPOSE, World, build_world


@pytest.fixture
def world(db: Database, settings: Settings) -> World:
    return build_world(db, settings)


def _search(w: World, who: str = "clerk", **kw: Any) -> SearchResult:
    kw.setdefault("purpose", PURPOSE)
    return search(w.db, w.settings, w.people[who], LookupQuery(**kw))


def _ids(result: SearchResult) -> list[int]:
    return [h.resident_id for h in result.hits]


def _hit(result: SearchResult, rid: int) -> Hit:
    return next(h for h in result.hits if h.resident_id == rid)


def _everyone(w: World) -> list[Any]:
    with w.db.read() as s:
        return list(s.execute(select(Resident.__table__)).mappings().all())  # type: ignore[call-overload]


def _ordered(result: SearchResult) -> bool:
    """Exact rows first, then by reading (ties by id)."""
    keys = [(not h.exact, normalize_kana(h.kana), h.resident_id) for h in result.hits]
    return keys == sorted(keys)


# --- purpose and permission --------------------------------------------------------


def test_purposes_are_the_configured_list(world: World) -> None:
    assert purposes(world.settings) == world.settings.lookup_purposes
    assert PURPOSE in purposes(world.settings)


@pytest.mark.parametrize("purpose", ["", "  ", "興味本位"])
def test_a_purpose_from_the_list_is_required(world: World, purpose: str) -> None:
    with pytest.raises(BadInput) as info:
        _search(world, purpose=purpose, name="タカハシ イチロウ")
    assert "事務" in info.value.message


def test_someone_without_lookup_is_refused_and_it_is_recorded(world: World) -> None:
    since = world.seq()
    with pytest.raises(Refused):
        _search(world, "auditor", name="タカハシ イチロウ")
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"], ev["purpose"]) == ("register.search", "refused", PURPOSE)


@pytest.mark.parametrize("who", ["clerk", "dv"])
def test_a_search_is_one_transaction_of_two_statements_before_its_event(
    world: World, who: str,
) -> None:
    """One act of the gate: one transaction, the permission read and one query (a clerk's
    restricted residents come in the same statement, a UNION ALL), then the audit append
    (on the driver's cursor, not counted here) and the commit."""
    seen: list[str] = []
    commits: list[int] = []

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if not sql.startswith(("BEGIN", "PRAGMA")):
            seen.append(sql.split()[0])

    def commit(conn: Any) -> None:
        commits.append(1)

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", commit)
    try:
        result = _search(world, who, name="タカハシ イチロウ")
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Engine, "commit", commit)
    assert result.hits
    assert seen == ["SELECT", "SELECT"] and commits == [1]


# --- codes -------------------------------------------------------------------------


def test_resident_code_finds_one_resident(world: World) -> None:
    rid = world.ids["林翔"]
    with world.db.read() as s:
        code = s.get(Resident, rid).resident_code  # type: ignore[union-attr]
    spaced = f"{code[:3]} {code[3:7]}－{code[7:]}"
    full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    for typed in (code, spaced, full_width):
        result = _search(world, resident_code=typed)
        assert _ids(result) == [rid]
        assert result.hits[0].reasons == ("住民票コード 一致",)


@pytest.mark.parametrize("typed", ["1234", "123456789012", "12345abcdef"])
def test_a_malformed_resident_code_names_the_field(world: World, typed: str) -> None:
    with pytest.raises(BadInput) as info:
        _search(world, resident_code=typed)
    assert "住民票コード" in info.value.message


def test_household_number_lists_the_household(world: World) -> None:
    result = _search(world, household_no=world.households["taka"])
    assert set(_ids(result)) == {world.ids["髙橋一郎"], world.ids["髙橋ゆり"]}
    assert all("世帯番号 一致" in h.reasons for h in result.hits)


def test_my_number_search_needs_its_own_permission(world: World) -> None:
    since = world.seq()
    with pytest.raises(Refused):
        _search(world, "clerk", my_number=KNOWN_NUMBER)
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"]) == ("register.search", "refused")
    assert ev["details"]["permission"] == "register.lookup_by_my_number"
    assert KNOWN_NUMBER not in json.dumps(ev, ensure_ascii=False)


def test_my_number_search_finds_the_resident_and_never_records_the_digits(world: World) -> None:
    since = world.seq()
    result = _search(world, "reviewer", my_number="1234 5678 9018")
    assert _ids(result) == [world.ids["髙橋一郎"]]
    assert result.normalized["個人番号"] == "指定あり"
    [ev] = world.events(since)
    assert ev["details"]["query"]["個人番号"] == "指定あり"
    assert "9018" not in json.dumps(ev, ensure_ascii=False)


@pytest.mark.parametrize("typed", ["12345678901", "123456789010", "abcdefghijkl"])
def test_a_bad_my_number_names_the_field(world: World, typed: str) -> None:
    with pytest.raises(BadInput) as info:
        _search(world, "reviewer", my_number=typed)
    assert "個人番号" in info.value.message


# --- names: 異体字, kana, prefixes ---------------------------------------------------


def test_exact_spelling_ranks_before_variant_and_each_row_says_why(world: World) -> None:
    result = _search(world, name="高橋", birth="1980-01-01")
    exact, variant = _hit(result, world.ids["高橋一郎"]), _hit(result, world.ids["髙橋一郎"])
    assert exact.exact and not variant.exact
    assert _ids(result).index(exact.resident_id) < _ids(result).index(variant.resident_id)
    assert "氏名（氏）一致" in exact.reasons and "生年月日 一致" in exact.reasons
    assert "異体字 高→髙" in variant.reasons
    assert _ordered(result)


def test_searching_the_variant_offers_the_standard_form_second(world: World) -> None:
    result = _search(world, name="髙橋 一郎")
    assert _ids(result)[:2] == [world.ids["髙橋一郎"], world.ids["高橋一郎"]]
    assert _hit(result, world.ids["高橋一郎"]).reasons == ("氏名 一致", "異体字 髙→高")


@pytest.mark.parametrize(
    ("typed", "exact", "variants"),
    [
        ("渡辺 健", "渡辺健", ("渡邊健", "渡邉健")),
        ("渡邊 健", "渡邊健", ("渡辺健", "渡邉健")),
        ("山崎 花子", "山崎花子", ("山﨑花子",)),
        ("山﨑", "山﨑花子", ("山崎花子",)),
    ],
)
def test_variant_table_groups(
    world: World, typed: str, exact: str, variants: tuple[str, ...]
) -> None:
    extra = {} if " " in typed else {"birth": "1975-05-05"}
    result = _search(world, name=typed, **extra)
    got = {h.resident_id: h for h in result.hits}
    assert got[world.ids[exact]].exact
    for v in variants:
        assert not got[world.ids[v]].exact
        assert any(r.startswith("異体字") for r in got[world.ids[v]].reasons)
    assert _ordered(result)


def test_voicing_is_a_different_reading_but_the_kanji_finds_both(world: World) -> None:
    sa = _search(world, name="ヤマサキ", birth="S50.5.5")
    za = _search(world, name="やまざき", birth="S50.5.5")
    assert world.ids["山崎花子"] in _ids(sa) and world.ids["山﨑花子"] not in _ids(sa)
    assert world.ids["山﨑花子"] in _ids(za) and world.ids["山崎花子"] not in _ids(za)
    kanji = _search(world, name="山崎", birth="S50.5.5")
    assert {world.ids["山崎花子"], world.ids["山﨑花子"]} <= set(_ids(kanji))


def test_small_kana_match_large_and_count_as_a_variant(world: World) -> None:
    result = _search(world, name="キャロル", birth="1970-02-02")
    small, large = _hit(result, world.ids["キャロル"]), _hit(result, world.ids["キヤロル"])
    assert small.exact and not large.exact
    assert "振り仮名（名）一致" in small.reasons
    assert "小書き キャロル→キヤロル" in large.reasons
    assert _ids(result).index(small.resident_id) < _ids(result).index(large.resident_id)


@pytest.mark.parametrize(
    "typed",
    ["タカハシ イチロウ", "たかはし　いちろう", "ﾀｶﾊｼ ｲﾁﾛｳ", "タカハシ イチ", "タカハ イチ"],
)
def test_kana_width_script_and_spaces_do_not_matter(world: World, typed: str) -> None:
    result = _search(world, name=typed)
    assert {world.ids["髙橋一郎"], world.ids["高橋一郎"]} <= set(_ids(result))
    assert all(h.kana.replace(" ", "").startswith("タカ") for h in result.hits)


def test_a_whole_name_without_the_space_works_with_another_item(world: World) -> None:
    joined = _search(world, name="たかはしいちろう", birth="1980-01-01")
    spaced = _search(world, name="タカハシ イチロウ", birth="1980-01-01")
    assert set(_ids(joined)) == set(_ids(spaced)) >= {world.ids["髙橋一郎"], world.ids["高橋一郎"]}


def test_full_width_and_spaced_kanji(world: World) -> None:
    result = _search(world, name="林　翔", address="八幡")
    assert world.ids["林翔"] in _ids(result)
    assert _hit(result, world.ids["林翔"]).reasons[0] == "氏名 一致"


def test_a_given_name_part_matches_too(world: World) -> None:
    result = _search(world, name="一郎", birth="1980-01-01")
    assert {world.ids["髙橋一郎"], world.ids["高橋一郎"]} <= set(_ids(result))
    assert "氏名（名）一致" in _hit(result, world.ids["高橋一郎"]).reasons


def _prefix_oracle(w: World, part: str, kana: bool, **where: Any) -> set[int]:
    """Residents whose whole name or 名 starts with ``part``, by the jp rules alone."""
    norm = normalize_kana if kana else normalize_name
    out = set()
    for r in _everyone(w):
        if r["status"] != "住民" or any(r[k] != v for k, v in where.items()):
            continue
        fam, giv = (
            (r["family_kana"], r["given_kana"]) if kana else (r["family_name"], r["given_name"])
        )
        if norm(fam + giv).startswith(norm(part)) or norm(giv).startswith(norm(part)):
            out.add(r["id"])
    return out


@pytest.mark.parametrize(("length", "kana"), [(1, True), (2, True), (1, False), (2, False)])
def test_one_and_two_character_parts_with_a_birth_date(
    world: World, length: int, kana: bool
) -> None:
    checked = 0
    for r in _everyone(world)[: 60]:
        part = (r["family_kana"] if kana else r["family_name"])[:length]
        if len(part) < length or r["status"] != "住民":
            continue
        result = _search(world, name=part, birth=r["birth_date"].isoformat())
        expected = _prefix_oracle(world, part, kana, birth_date=r["birth_date"])
        assert set(_ids(result)) == expected and r["id"] in expected
        assert _ordered(result)
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize(("part", "kana"), [("高", False), ("タ", True), ("髙橋", False)])
def test_short_parts_on_the_hand_placed_residents(world: World, part: str, kana: bool) -> None:
    result = _search(world, name=part, birth="1980-01-01")
    assert {world.ids["髙橋一郎"], world.ids["高橋一郎"]} <= set(_ids(result))
    assert set(_ids(result)) == _prefix_oracle(world, part, kana, birth_date=date(1980, 1, 1))


_KANJI_DIGITS = "〇一二三四五六七八九"


def _typed_address(r: Any, level: str) -> tuple[str, dict[str, Any]]:
    """An address part as a clerk might type it, and the columns it must match."""
    if level == "town":
        return r["town"], {"town": r["town"]}
    if level == "chome":
        chome = _KANJI_DIGITS[r["chome"]]
        return f"{r['town']}{chome}丁目", {"town": r["town"], "chome": r["chome"]}
    if level == "banchi":
        return (f"{r['town']}{r['chome']}丁目{r['banchi']}番地",
                {"town": r["town"], "chome": r["chome"], "banchi": r["banchi"]})
    return (f"{r['chome']}-{r['banchi']}-{r['go']}",
            {"chome": r["chome"], "banchi": r["banchi"], "go": r["go"]})


@pytest.mark.parametrize(
    ("level", "kana", "length"),
    [
        ("town", False, 2), ("town", True, 3), ("chome", False, 1), ("chome", True, 2),
        ("banchi", False, 1), ("banchi", True, 1), ("block", True, 1), ("block", False, 1),
    ],
)
def test_a_name_part_with_an_address_part(
    world: World, level: str, kana: bool, length: int
) -> None:
    """A reader who may see DV等支援措置 residents gets exactly the residents at that
    address; a clerk the same but for them: a name part is too broad alone, so it lists
    none of them, at that address or any other."""
    wide = world.settings.with_(lookup_max_results=10_000)
    everyone = _everyone(world)
    restricted = {r["id"] for r in everyone if r["dv_support"]}
    checked = 0
    for r in everyone[:60]:
        part = (r["family_kana"] if kana else r["family_name"])[:length]
        if r["status"] != "住民" or not r["chome"] or len(part) < length:
            continue
        typed, where = _typed_address(r, level)
        query = LookupQuery(purpose=PURPOSE, name=part, address=typed)
        result = search(world.db, wide, world.people["dv"], query)
        there = _prefix_oracle(world, part, kana, **where)
        assert set(_ids(result)) == there, typed
        assert r["id"] in _ids(result) and _ordered(result)
        clerk = search(world.db, wide, world.people["clerk"], query)
        assert set(_ids(clerk)) == there - restricted, typed
        checked += 1
    assert checked >= 15


# --- dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "who"),
    [
        ("令和元年5月1日", "田中令"), ("R1.5.1", "田中令"), ("令和7年12月12日", "田中七"),
        ("R7.12.12", "田中七"), ("H1.1.8", "田中平"), ("平成元年1月8日", "田中平"),
        ("S60.4.1", "田中昭"), ("1985-04-01", "田中昭"), ("１９８５年４月１日", "田中昭"),
    ],
)
def test_birth_dates_in_wareki_and_seireki(world: World, typed: str, who: str) -> None:
    result = _search(world, name="田中", birth=typed)
    assert world.ids[who] in _ids(result)
    assert all(h.birth_date == _hit(result, world.ids[who]).birth_date for h in result.hits)


@pytest.mark.parametrize("typed", ["平成31年5月1日", "R7.13.1", "きのう", "1985-02-30"])
def test_a_bad_birth_date_names_the_field(world: World, typed: str) -> None:
    with pytest.raises(BadInput) as info:
        _search(world, name="田中", birth=typed)
    assert "生年月日" in info.value.message


def test_a_birth_date_after_today_is_named_not_searched(world: World) -> None:
    """R99.1.1 is a real date (2117): a slip of the era or year, said so, not 0 hits."""
    with pytest.raises(BadInput, match="生年月日: 令和99年1月1日 は今日より後の日付です"):
        _search(world, name="田中", birth="R99.1.1")


def test_overlong_text_names_the_field(world: World) -> None:
    with pytest.raises(BadInput, match="氏名"):
        _search(world, name="あ" * 101, birth="1980-01-01")
    with pytest.raises(BadInput, match="住所"):
        _search(world, name="高橋", address="若" * 201)


def test_sex_filters(world: World) -> None:
    both = _search(world, name="髙橋", address="桜ケ丘2-1-2")
    women = _search(world, name="髙橋", address="桜ケ丘2-1-2", sex="女")
    assert set(_ids(both)) == {world.ids["髙橋一郎"], world.ids["髙橋ゆり"]}
    assert _ids(women) == [world.ids["髙橋ゆり"]]
    with pytest.raises(BadInput, match="性別"):
        _search(world, name="髙橋", address="桜ケ丘2-1-2", sex="不明")


# --- addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "桜ケ丘2-1-2", "桜ヶ丘２－１－２", "桜が丘二丁目一番地二号", "桜ケ丘2丁目1番地2号",
        "青葉県若葉市桜ケ丘2丁目1番2号", "2-1-2", "二丁目一番地二号", "桜ケ丘二丁目1",
    ],
)
def test_address_in_every_notation(world: World, typed: str) -> None:
    result = _search(world, name="タカハシ", address=typed)
    assert world.ids["髙橋一郎"] in _ids(result)
    assert all("二丁目1番地2号" in h.address for h in result.hits)


def test_an_address_ending_in_a_number_matches_at_the_number(world: World) -> None:
    """若葉町3-4 finds 3丁目4番地5号, not 3丁目45番地1号; 若葉町3-45 the other way round."""
    four = _search(world, name="高橋", address="若葉町3-4")
    assert world.ids["高橋一郎"] in _ids(four) and world.ids["高橋三郎"] not in _ids(four)
    assert all("若葉町三丁目4番地" in h.address for h in four.hits)
    forty_five = _search(world, name="高橋", address="若葉町三丁目四十五番地")
    assert world.ids["高橋三郎"] in _ids(forty_five)
    assert world.ids["高橋一郎"] not in _ids(forty_five)


def test_a_notation_difference_is_named(world: World) -> None:
    result = _search(world, name="高橋", address="若葉町3-4-5")
    reasons = _hit(result, world.ids["高橋一郎"]).reasons
    assert "住所 一致" in reasons and "住所表記の違い" in reasons


def test_land_number_towns(world: World) -> None:
    result = _search(world, name="林", address="八幡1234番地5")
    assert world.ids["林翔"] in _ids(result)


# --- breadth -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"name": "佐藤"}, "氏名の一部に加えて、生年月日・住所のいずれかを入力してください"),
        ({"name": "タカ イチロウ"}, "氏を3文字以上、名を2文字以上"),
        ({"name": "林 翔"}, "氏を2文字以上、名を1文字以上"),
        ({"birth": "1980-01-01"}, "生年月日に加えて"),
        ({"address": "若葉町"}, "住所に加えて"),
        ({"address": "2", "sex": "男"}, "丁目・番地まで"),
        ({"sex": "女"}, "検索条件を入力してください"),
        ({}, "検索条件を入力してください"),
        ({"name": "サ", "address": "若葉町"}, "氏名をもう少し入力するか"),
        ({"name": "佐", "address": "桜ケ丘"}, "氏名をもう少し入力するか"),
        ({"name": "タ", "address": "若葉町二丁目"}, "氏名をもう少し入力するか"),
    ],
)
def test_too_broad_is_refused_saying_what_to_add_and_recorded(
    world: World, kw: dict[str, str], words: str
) -> None:
    since = world.seq()
    with pytest.raises(BadInput) as info:
        _search(world, **kw)
    assert words in info.value.message
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"], ev["purpose"]) == ("register.search", "refused", PURPOSE)
    assert ev["details"]["reason"] == "too_broad"


@pytest.mark.parametrize(
    "kw",
    [
        {"name": "タカハシ イチロウ"}, {"name": "佐藤 翔"}, {"name": "サトウ ハナ"},
        {"name": "佐藤", "address": "若葉町"},
        {"name": "サトウ", "address": "若葉町"}, {"name": "タ", "address": "若葉町2-1"},
        {"name": "タカ", "address": "若葉町2"},
        {"name": "高", "address": "若葉町2"}, {"name": "タ", "address": "2-8"},
        {"name": "タ", "birth": "1980-01-01"}, {"address": "若葉町", "birth": "1980-01-01"},
        {"address": "2-1-2", "birth": "1980-01-01"},
    ],
)
def test_narrow_enough_shapes_run(world: World, kw: dict[str, str]) -> None:
    _search(world, **kw)


def test_the_breadth_limits_are_settings(world: World) -> None:
    """A stricter city can ask for more; a looser one for less: the same query, two answers."""
    strict = world.settings.with_(lookup_max_share=0.001)
    with pytest.raises(BadInput, match="氏名をもう少し入力するか"):
        search(world.db, strict, world.people["clerk"],
               LookupQuery(purpose=PURPOSE, name="佐藤", address="若葉町"))
    longer = world.settings.with_(lookup_whole_name_family_min=3)
    with pytest.raises(BadInput, match="氏を3文字以上、名を1文字以上"):
        search(world.db, longer, world.people["clerk"],
               LookupQuery(purpose=PURPOSE, name="佐藤 翔"))
    kana = world.settings.with_(lookup_whole_name_family_min_kana=2,
                                lookup_whole_name_given_min_kana=1)
    search(world.db, kana, world.people["clerk"], LookupQuery(purpose=PURPOSE, name="タカ イ"))
    with pytest.raises(BadInput, match="氏を3文字以上、名を2文字以上"):
        _search(world, name="タカ イ")
    with pytest.raises(BadInput, match="住所に加えて"):
        _search(world, address="若葉", sex="男")
    with pytest.raises(BadInput, match="丁目・番地まで"):
        search(world.db, world.settings.with_(lookup_address_min_chars=4),
               world.people["clerk"], LookupQuery(purpose=PURPOSE, address="若葉", sex="男"))


# --- results -----------------------------------------------------------------------


def test_the_cap_keeps_exact_rows_first_and_says_so(world: World) -> None:
    capped = world.settings.with_(lookup_max_results=1)
    result = search(world.db, capped, world.people["clerk"],
                    LookupQuery(purpose=PURPOSE, name="高橋", birth="1980-01-01"))
    assert result.capped and result.cap == 1
    assert _ids(result) == [world.ids["高橋一郎"]]
    full = _search(world, name="高橋", birth="1980-01-01")
    assert not full.capped and full.cap == 50 and len(full.hits) >= 2


def test_removed_residents_only_when_asked(world: World) -> None:
    plain = _search(world, name="スズキ", address="旭町1-1-1")
    assert _ids(plain) == [world.ids["鈴木太郎"]]
    both = _search(world, name="スズキ", address="旭町1-1-1", include_removed=True)
    assert set(_ids(both)) == {world.ids["鈴木太郎"], world.ids["鈴木次郎"]}
    assert _hit(both, world.ids["鈴木次郎"]).status == "消除"
    assert both.normalized["消除"] == "含む"


def test_restricted_residents_are_listed_with_a_marker(world: World) -> None:
    result = _search(world, name="佐藤 みどり", address="栄町1-1-1")
    assert set(_ids(result)) == {world.ids["DV母"]}
    assert all(h.restricted for h in result.hits)
    other = _search(world, name="高橋", birth="1980-01-01")
    assert not any(h.restricted for h in other.hits)


def test_every_search_is_recorded_with_purpose_query_and_residents(world: World) -> None:
    since = world.seq()
    result = _search(world, name="たかはし", birth="S55.1.1", address="桜が丘")
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"], ev["actor"]) == ("register.search", "success", "clerk")
    assert ev["purpose"] == PURPOSE
    assert ev["details"]["query"] == result.normalized == {
        "氏名": "タカハシ", "氏名の種別": "振り仮名", "生年月日": "1980-01-01",
        "住所": "桜ケ丘",
    }
    assert ev["details"]["residents"] == _ids(result) and world.ids["髙橋一郎"] in _ids(result)
    assert ev["details"]["capped"] is False


def test_hits_carry_the_record_as_written(world: World) -> None:
    hit = _hit(_search(world, name="髙橋 一郎"), world.ids["髙橋一郎"])
    assert (hit.name, hit.kana, hit.birth_date, hit.sex, hit.status) == (
        "髙橋 一郎", "タカハシ イチロウ", date(1980, 1, 1), "男", "住民",
    )
    assert hit.address == "桜ケ丘二丁目1番地2号"
