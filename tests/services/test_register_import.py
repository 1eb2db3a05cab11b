"""Register data in (issue 9): a full load and a day's changes, checked whole, applied once.

Files are written the way a register system exports them (``register_files``): UTF-8 or
CP932, comma or tab, BOM or not, CRLF or LF, 西暦 or 和暦. Every test runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs.audit import verify
from services.linkage.check import ITEMS_CHANGED, check_links, drift_lines
from services.register.import_models import RegisterImport, RegisterImportChange
from services.register.importer import import_register
from services.register.layout import BadFile
from services.register.models import Household, MyNumberLink, Resident, ResidentChange
from services.todo import todo_lines
from tests.factories import staff
from tests.services.linkage_setup import events
from tests.services.register_files import encode, my_number, person

ACTOR = Actor(login="os:import")
DAY = "2026-04-01"


def _count(db: Database, model: Any) -> int:
    with db.read() as s:
        return s.connection().execute(select(func.count()).select_from(model.__table__)
                                      ).scalar_one()


def _resident(db: Database, code: str) -> dict[str, Any]:
    with db.read() as s:
        row = s.connection().execute(select(Resident.__table__).where(
            Resident.__table__.c.resident_code == code)).mappings().one()  # type: ignore[attr-defined]
        return dict(row)


def _snapshot(db: Database) -> tuple[int, ...]:
    return tuple(_count(db, m) for m in (Resident, Household, ResidentChange, MyNumberLink,
                                         RegisterImport, RegisterImportChange))


def _base() -> list[dict[str, str]]:
    """A small register: two households, one linked number each person."""
    return [
        person("10000000001", 世帯番号="H1", 個人番号=my_number(1)),
        person("10000000002", 世帯番号="H1", 続柄="妻", 名="花子", 名カナ="ハナコ", 性別="女",
               生年月日="S57.6.3", 個人番号=my_number(2)),
        person("10000000003", 世帯番号="H1", 続柄="子", 名="一郎", 名カナ="イチロウ",
               生年月日="平成20年1月5日", 個人番号=my_number(3)),
        person("10000000004", 世帯番号="H2", 氏="佐藤", 氏カナ="サトウ", 名="次郎",
               名カナ="ジロウ", 町名="港町", 丁目="1", 番地="8", 号="2", 個人番号=my_number(4)),
        person("10000000005", 世帯番号="H2", 氏="佐藤", 氏カナ="サトウ", 名="ハル",
               名カナ="ハル", 性別="女", 続柄="母", 生年月日="大正14年3月3日",
               町名="港町", 丁目="1", 番地="8", 号="2"),
    ]


def _load(db: Database, rows: list[dict[str, str]] | None = None, **enc: Any) -> None:
    import_register(db, ACTOR, encode(rows or _base(), **enc), name="full.csv", full=True)


def _day(db: Database, rows: list[dict[str, str]], name: str = "day.csv", **enc: Any):  # type: ignore[no-untyped-def]
    return import_register(db, ACTOR, encode(rows, **enc), name=name, full=False)


def _change(code: str, kind: str, **items: Any) -> dict[str, str]:
    base = {r["住民票コード"]: r for r in _base()}.get(code) or person(code)
    row = dict(base)
    row.update({"変更区分": kind, "異動日": DAY, "届出日": "R8.4.3"})
    row.update({k: str(v) for k, v in items.items()})
    return row


def test_full_load_keeps_every_item_and_records_one_event(db: Database) -> None:
    _load(db)
    assert _snapshot(db)[:4] == (5, 2, 0, 4)
    hanako = _resident(db, "10000000002")
    assert hanako["birth_date"] == date(1982, 6, 3)  # S57.6.3
    assert hanako["address"] == "若葉町二丁目3番地5号"
    assert hanako["name_key"] and hanako["address_key"] == "若葉町2-3-5"  # keys computed
    assert _resident(db, "10000000005")["birth_date"] == date(1925, 3, 3)
    with db.read() as s:
        h1 = s.exec(select(Household).where(Household.household_no == "H1")).one()[0]
    assert h1.head_resident_id == _resident(db, "10000000001")["id"]
    (ev,) = events(db, "register.import")
    details = json.loads(ev["details"])
    assert ev["outcome"] == "success" and ev["actor"] == "os:import"
    assert details["mode"] == "full" and len(details["sha256"]) == 64
    assert details["counts"]["住民"] == 5 and details["counts"]["個人番号"] == 4


def test_each_change_kind_is_applied_and_removed_residents_are_kept(db: Database) -> None:
    _load(db)
    day = [
        _change("20000000001", "転入", 氏="田中", 氏カナ="タナカ", 世帯番号="H3",
                異動前住所="東京都新宿区西新宿2丁目8番1号"),
        _change("10000000001", "転居", 町名="港町", 丁目="3", 番地="1", 号="1",
                住所を定めた年月日=""),  # blank: the 異動日
        _change("10000000002", "転居", 町名="港町", 丁目="3", 番地="1", 号="1",
                住所を定めた年月日="R8.3.31"),
        _change("10000000003", "転出", 転出先="大阪府大阪市北区梅田1丁目1番1号"),
        _change("10000000005", "世帯変更", 世帯番号="H4", 続柄="世帯主"),
        _change("20000000002", "出生", 世帯番号="H1", 続柄="子", 名="陽葵", 名カナ="ヒマリ",
                生年月日="令和8年3月30日", 性別="女"),
        _change("10000000004", "死亡"),
        _change("20000000001", "職権修正", 氏="髙橋", 氏カナ="タカハシ", 世帯番号="H3",
                異動前住所="東京都新宿区西新宿2丁目8番1号", 住民となった年月日=DAY),
        _change("20000000002", "消除", 世帯番号="H1", 続柄="子", 名="陽葵", 名カナ="ヒマリ",
                生年月日="令和8年3月30日", 性別="女"),
    ]
    result = _day(db, day)
    assert result.counts == {"転入": 1, "転居": 2, "転出": 1, "世帯変更": 1, "出生": 1,
                             "死亡": 1, "職権修正": 1, "消除": 1}
    moved_in = _resident(db, "20000000001")
    assert moved_in["family_name"] == "髙橋" and moved_in["name_key"].startswith("高橋")
    assert moved_in["previous_address"] == "東京都新宿区西新宿2丁目8番1号"
    assert moved_in["became_resident_on"] == date(2026, 4, 1)
    taro = _resident(db, "10000000001")
    assert taro["address"] == "港町三丁目1番地1号" and taro["address_key"] == "港町3-1-1"
    assert taro["previous_address"] == "若葉町二丁目3番地5号"
    assert taro["address_set_on"] == date(2026, 4, 1)
    assert _resident(db, "10000000002")["address_set_on"] == date(2026, 3, 31)
    out = _resident(db, "10000000003")
    assert (out["status"], out["removed_on"], out["removal_reason"]) == (
        "消除", date(2026, 4, 1), "転出")
    assert out["moved_to"].startswith("大阪府")
    assert _resident(db, "10000000004")["removal_reason"] == "死亡"
    gone = _resident(db, "20000000002")
    assert gone["status"] == "消除" and gone["removal_reason"] == "職権消除"
    haru = _resident(db, "10000000005")
    with db.read() as s:
        h4 = s.exec(select(Household).where(Household.household_no == "H4")).one()[0]
    assert haru["household_id"] == h4.id and h4.head_resident_id == haru["id"]
    # kept, never deleted: 5 loaded + 2 new
    assert _count(db, Resident) == 7
    with db.read() as s:
        kinds = sorted(s.connection().execute(select(ResidentChange.__table__.c.kind)  # type: ignore[attr-defined]
                                              ).scalars())
    assert kinds == sorted(r["変更区分"] for r in day)
    (ev,) = [e for e in events(db, "register.import") if "changes" in e["details"]]
    assert json.loads(ev["details"])["counts"]["転居"] == 2
    assert verify(db).ok


def test_the_same_file_twice_changes_nothing_and_repeated_changes_are_skipped(
    db: Database,
) -> None:
    _load(db)
    day = [_change("10000000001", "転居", 町名="港町", 丁目="3", 番地="1", 号="1"),
           _change("20000000001", "出生", 世帯番号="H1", 続柄="子", 生年月日="R8.3.1")]
    _day(db, day)
    after_first = _snapshot(db)
    again = _day(db, day)
    assert again.already and _snapshot(db) == after_first
    # an overlapping export: the two changes again (other line ending, so another
    # SHA-256) and one new one; only the new one is applied
    overlap = _day(db, [*day, _change("10000000004", "死亡")], name="day2.csv", newline="\n")
    assert not overlap.already and overlap.skipped == 2 and overlap.counts == {"死亡": 1}
    assert _count(db, ResidentChange) == after_first[2] + 1
    evs = events(db, "register.import")
    assert len(evs) == 4 and json.loads(evs[2]["details"])["already_applied"] is True


def test_one_bad_row_among_many_applies_nothing_and_is_recorded(db: Database) -> None:
    _load(db)
    before = _snapshot(db)
    day = [_change(f"3{i:010d}", "出生", 世帯番号="H1", 続柄="子", 生年月日="R8.1.1")
           for i in range(300)]
    day[149]["生年月日"] = "令和8年2月30日"  # line 151 (the header is line 1)
    day[220]["性別"] = "X"  # line 222
    with pytest.raises(BadFile) as caught:
        _day(db, day)
    msg = caught.value.message
    assert "何も取り込んでいません" in msg and "151行目" in msg and "生年月日" in msg
    assert "222行目 性別" in msg
    assert _snapshot(db) == before
    refused = [e for e in events(db, "register.import") if e["outcome"] == "refused"]
    assert len(refused) == 1
    assert json.loads(refused[0]["details"])["problems"] == 2


def test_a_change_that_does_not_fit_the_register_refuses_the_whole_file(db: Database) -> None:
    _load(db)
    before = _snapshot(db)
    day = [_change("10000000001", "転居", 町名="港町"),  # fine on its own
           _change("10000000004", "死亡"),
           _change("10000000004", "転出"),  # dead already (line 4)
           _change("99999999999", "転居"),  # nobody (line 5)
           _change("10000000002", "出生")]  # exists (line 6)
    with pytest.raises(BadFile) as caught:
        _day(db, day)
    msg = caught.value.message
    assert "4行目 住民票コード" in msg and "既に消除" in msg
    assert "5行目 住民票コード" in msg and "記録にありません" in msg
    assert "6行目 住民票コード" in msg
    assert _snapshot(db) == before


def test_cp932_with_variant_kanji_as_a_windows_export_writes_them(db: Database) -> None:
    rows = _base()
    rows[0].update(氏="髙橋", 氏カナ="タカハシ")
    rows[1].update(氏="山﨑", 氏カナ="ヤマザキ")
    data = encode(rows, encoding="cp932", delimiter="\t", newline="\n")
    # Python's cp932 writes the NEC-selected IBM extension codes; Windows writes the
    # IBM extension codes (FBFC for 髙, FAB1 for 﨑). Use the latter, as a real export.
    assert "髙".encode("cp932") == b"\xee\xe0" and "﨑".encode("cp932") == b"\xed\x95"
    data = data.replace(b"\xee\xe0", b"\xfb\xfc").replace(b"\xed\x95", b"\xfa\xb1")
    assert b"\xfb\xfc" in data and b"\xfa\xb1" in data
    result = import_register(db, ACTOR, data, name="sjis.tsv", full=True)
    assert result.encoding == "cp932" and result.delimiter == "tab"
    taka = _resident(db, "10000000001")
    assert taka["family_name"] == "髙橋" and taka["family_key"] == "高橋"
    assert taka["name_exact"].startswith("髙橋")
    assert _resident(db, "10000000002")["family_name"] == "山﨑"


def test_utf8_with_bom_crlf_and_wareki_dates(db: Database) -> None:
    rows = _base()
    rows[0].update(生年月日="昭和60年4月1日", 住民となった年月日="H1.1.8",
                   住所を定めた年月日="令和元年5月1日", 届出日="R7.12.12")
    rows[1].update(氏="𠮷田", 生年月日="明治45年7月29日")
    result = import_register(db, ACTOR, encode(rows, bom=True), name="bom.csv", full=True)
    assert result.encoding == "utf-8"
    taro = _resident(db, "10000000001")
    assert (taro["birth_date"], taro["became_resident_on"], taro["address_set_on"],
            taro["notified_on"]) == (date(1985, 4, 1), date(1989, 1, 8), date(2019, 5, 1),
                                     date(2025, 12, 12))
    hana = _resident(db, "10000000002")
    assert hana["family_name"] == "𠮷田" and hana["birth_date"] == date(1912, 7, 29)


def test_a_date_outside_its_era_and_gaiji_are_refused_naming_line_and_field(
    db: Database,
) -> None:
    rows = _base()
    rows[2]["生年月日"] = "平成35年1月1日"  # line 4: 平成 ended in its 31st year
    rows[3]["氏"] = "佐\ue000"  # line 5: 外字 in the private-use area
    with pytest.raises(BadFile) as caught:
        import_register(db, ACTOR, encode(rows), name="bad.csv", full=True)
    msg = caught.value.message
    assert "4行目" in msg and "生年月日" in msg
    assert "5行目 氏: 外字" in msg
    assert _count(db, Resident) == 0


def test_a_full_load_into_a_register_that_has_residents_is_refused(db: Database) -> None:
    _load(db)
    rows = _base()
    rows[0]["名"] = "太"
    with pytest.raises(BadFile, match="既に 5 人分"):
        _load(db, rows)
    assert _count(db, Resident) == 5


def test_a_change_to_a_linked_residents_four_items_reaches_the_check_and_reviewers(
    db: Database, settings: Settings,
) -> None:
    people = staff(db, settings, ["clerk", "rev1"])
    _load(db)  # 初期移行 links, no fingerprints yet (no check has run)
    assert drift_lines(db, people["rev1"]) == []
    result = _day(db, [
        _change("10000000001", "転居", 町名="港町", 丁目="3", 番地="1", 号="1"),
        _change("10000000002", "職権修正", 生年月日="S57.6.4"),
        _change("10000000005", "転居", 町名="港町", 丁目="3"),  # no linked number
        _change("10000000003", "世帯変更", 世帯番号="H9", 続柄="世帯主"),  # 4 items unchanged
    ])
    assert len(result.linked_changed) == 2
    report = check_links(db, ACTOR)
    changed = {(f.resident_code, f.detail.split(" ")[0]) for f in report.findings
               if f.kind == ITEMS_CHANGED}
    assert changed == {("10000000001", "変わった項目:"), ("10000000002", "変わった項目:")}
    details = {f.resident_code: f.detail for f in report.findings}
    assert "住所" in details["10000000001"] and "生年月日" in details["10000000002"]
    (line,) = drift_lines(db, people["rev1"])
    assert "2 件" in line
    assert drift_lines(db, people["clerk"]) == []  # not a reviewer
    assert line in todo_lines(db, settings, people["rev1"])  # the home screen's lines
    assert todo_lines(db, settings, people["clerk"]) == []


def test_a_daily_row_never_links_a_number_and_a_different_one_is_reported(
    db: Database,
) -> None:
    _load(db)
    links = _count(db, MyNumberLink)
    result = _day(db, [
        _change("10000000001", "職権修正", 個人番号=my_number(99)),
        _change("20000000001", "出生", 世帯番号="H1", 続柄="子", 個人番号=my_number(98)),
    ])
    assert _count(db, MyNumberLink) == links
    assert len(result.number_differs) == 1 and result.number_differs[0].startswith("2行目")
    assert my_number(99) not in json.dumps([e["details"] for e in
                                            events(db, "register.import")])
