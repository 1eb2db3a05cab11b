"""Test data for the lookup tests: a small seeded register plus residents placed by hand.

The hand-placed residents carry the cases the rules are about (髙橋/高橋, 山﨑 ヤマザキ /
山崎 ヤマサキ, 渡邊/渡邉/渡辺, a reading stored with large kana, DV等支援措置, 消除, 和暦
birthdays). They are written through ``tests.factories.resident_row``, as the register
stores them (search keys included).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from auth.identity import Identity
from core.db import Database
from core.settings import Settings
from logs.audit import events_after, last_seq
from services.register.models import (
    Household,
    MyNumberLink,
    Resident,
    ResidentChange,
)
from services.register.seed import seed_register
from tests.factories import ADMIN, household, resident_row, staff

PURPOSE = "住民票の写し等の交付"
SEEDED = 400
KNOWN_NUMBER = "123456789018"  # valid check digit (docs/domain.md §3.1)
SMALL_NUMBER = "983205673214"


def _resident(conn: Connection, household_id: int, **kw: Any) -> int:
    """A hand-placed resident: living here since birth, 本籍 in the city unless given."""
    born: date = kw["birth_date"]
    return resident_row(conn, household_id, **{
        "became_resident_on": born, "address_set_on": born,
        "honseki": "青葉県若葉市本町1番地", **kw})


@dataclass
class World:
    """The register under test and who works on it."""

    db: Database
    settings: Settings
    ids: dict[str, int] = field(default_factory=dict)
    households: dict[str, str] = field(default_factory=dict)
    people: dict[str, Identity] = field(default_factory=dict)

    def events(self, since: int) -> list[dict[str, Any]]:
        out = events_after(self.db, since, 10_000)
        for ev in out:
            ev["details"] = json.loads(ev["details"])
        return out

    def seq(self) -> int:
        return last_seq(self.db)


def build_world(db: Database, settings: Settings) -> World:
    """Seed a small register, add the hand-placed residents, enrol the staff."""
    seed_register(db, ADMIN, residents=SEEDED, seed=7)
    w = World(db, settings)
    with db.transaction() as conn:
        ids = w.ids

        def hh(name: str, *where: Any) -> int:
            hid = household(conn, *where)
            w.households[name] = conn.execute(select(Household.__table__.c.household_no).where(  # type: ignore[attr-defined]
                Household.__table__.c.id == hid)).scalar_one()  # type: ignore[attr-defined]
            return hid

        taka = hh("taka", "桜ケ丘", 2, 1, 2)
        ids["髙橋一郎"] = _resident(conn, taka, family_name="髙橋", given_name="一郎",
                                    family_kana="タカハシ", given_kana="イチロウ",
                                    birth_date=date(1980, 1, 1), sex="男")
        ids["髙橋ゆり"] = _resident(conn, taka, family_name="髙橋", given_name="ゆり",
                                    family_kana="タカハシ", given_kana="ユリ",
                                    birth_date=date(1982, 3, 3), sex="女", relationship="妻")
        ids["高橋一郎"] = _resident(conn, hh("高橋", "若葉町", 3, 4, 5),
                                    family_name="高橋", given_name="一郎",
                                    family_kana="タカハシ", given_kana="イチロウ",
                                    birth_date=date(1980, 1, 1), sex="男")
        ids["高橋三郎"] = _resident(conn, hh("高橋三郎", "若葉町", 3, 45, 1),
                                    family_name="高橋", given_name="三郎",
                                    family_kana="タカハシ", given_kana="サブロウ",
                                    birth_date=date(1984, 4, 4), sex="男")
        ids["山﨑花子"] = _resident(conn, hh("山﨑", "緑ヶ丘", 1, 2, 3),
                                    family_name="山﨑", given_name="花子",
                                    family_kana="ヤマザキ", given_kana="ハナコ",
                                    birth_date=date(1975, 5, 5), sex="女")
        ids["山崎花子"] = _resident(conn, hh("山崎", "中央", 1, 1, 1),
                                    family_name="山崎", given_name="花子",
                                    family_kana="ヤマサキ", given_kana="ハナコ",
                                    birth_date=date(1975, 5, 5), sex="女")
        for fam, chome in (("渡邊", 1), ("渡邉", 2), ("渡辺", 3)):
            ids[f"{fam}健"] = _resident(conn, hh(fam, "本町", chome, 7, 7),
                                       family_name=fam, given_name="健",
                                       family_kana="ワタナベ", given_kana="ケン",
                                       birth_date=date(1990, 7, 7), sex="男")
        smith = hh("smith", "港町", 1, 5, 5)
        ids["キヤロル"] = _resident(conn, smith, family_name="スミス", given_name="キャロル",
                                    family_kana="スミス", given_kana="キヤロル",
                                    birth_date=date(1970, 2, 2), sex="女", is_foreign=True,
                                    nationality="米国", residence_status="永住者",
                                    residence_card_no="AB12345678CD", honseki="")
        ids["キャロル"] = _resident(conn, smith, family_name="スミス", given_name="キャロル",
                                    family_kana="スミス", given_kana="キャロル",
                                    birth_date=date(1970, 2, 2), sex="女", relationship="同居人",
                                    is_foreign=True, nationality="米国",
                                    residence_status="技術・人文知識・国際業務",
                                    stay_expires_on=date(2027, 3, 31),
                                    residence_card_no="EF87654321GH", honseki="",
                                    alias="港 キャロル", alias_kana="ミナト キャロル")
        dv = hh("dv", "栄町", 1, 1, 1)
        ids["DV母"] = _resident(conn, dv, family_name="佐藤", given_name="みどり",
                                family_kana="サトウ", given_kana="ミドリ",
                                birth_date=date(1988, 8, 8), sex="女", dv_support=True)
        ids["DV子"] = _resident(conn, dv, family_name="佐藤", given_name="そら",
                                family_kana="サトウ", given_kana="ソラ",
                                birth_date=date(2015, 4, 4), sex="男", dv_support=True,
                                relationship="子")
        suzuki = hh("suzuki", "旭町", 1, 1, 1)
        ids["鈴木太郎"] = _resident(conn, suzuki, family_name="鈴木", given_name="太郎",
                                    family_kana="スズキ", given_kana="タロウ",
                                    birth_date=date(1935, 6, 6), sex="男")
        ids["鈴木次郎"] = _resident(conn, suzuki, family_name="鈴木", given_name="次郎",
                                    family_kana="スズキ", given_kana="ジロウ",
                                    birth_date=date(1960, 6, 6), sex="男", relationship="子",
                                    status="消除", removed_on=date(2024, 1, 10),
                                    removal_reason="転出", moved_to="東京都千代田区千代田1番")
        for given, kana, born in (
            ("令", "レイ", date(2019, 5, 1)), ("平", "タイラ", date(1989, 1, 8)),
            ("昭", "アキラ", date(1985, 4, 1)), ("七", "ナナ", date(2025, 12, 12)),
        ):
            ids[f"田中{given}"] = _resident(conn, hh(f"田中{given}", "白鳥", 2, 9, born.day),
                                           family_name="田中", given_name=given,
                                           family_kana="タナカ", given_kana=kana,
                                           birth_date=born, sex="男")
        ids["林翔"] = _resident(conn, hh("林", "八幡", None, 1234, 5),
                                family_name="林", given_name="翔", family_kana="ハヤシ",
                                given_kana="ショウ", birth_date=date(1995, 9, 9), sex="男")
        for rid, number in ((ids["髙橋一郎"], KNOWN_NUMBER), (ids["DV母"], SMALL_NUMBER)):
            conn.execute(MyNumberLink.__table__.insert(), {  # type: ignore[attr-defined]
                "resident_id": rid, "number": number, "last4": number[-4:],
                "linked_at": datetime(2020, 1, 1, tzinfo=UTC), "source": "初期移行",
                "status": "active", "revoked_at": None, "revoke_reason": "",
            })
        for kind, when, before, after in (
            ("転入", date(2001, 4, 1), "東京都新宿区西新宿二丁目8番1号", "若葉町三丁目4番地5号"),
            ("転居", date(2010, 10, 1), "若葉町三丁目4番地5号", "桜ケ丘二丁目1番地2号"),
            ("職権修正", date(2015, 2, 1), "方書: （記載なし）", "方書: なし"),
        ):
            conn.execute(ResidentChange.__table__.insert(), {  # type: ignore[attr-defined]
                "resident_id": ids["髙橋一郎"], "kind": kind, "occurred_on": when,
                "notified_on": when, "before_summary": before, "after_summary": after,
            })
        assert conn.execute(select(func.count()).select_from(Resident.__table__)).scalar_one() \
            == SEEDED + len(ids)
    w.people.update(staff(db, settings, roles={
        "clerk": ["clerk"], "reviewer": ["reviewer"], "dv": ["dv_officer"],
        "dvrev": ["dv_officer", "reviewer"], "auditor": ["auditor"],
    }, name="{login} 職員"))
    return w
