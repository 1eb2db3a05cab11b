"""A row with fewer cells than its header is refused naming its line (issue 18, item 8).

Padding a short row with blanks applied it as if its last items were empty: a 職権修正
lost its 方書. The register import, the personnel-change file and the staff file each
refuse such a row, as a row with more cells than the header, and write nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from core.actor import Actor
from core.db import Database
from core.errors import BadInput
from core.settings import Settings
from logs.audit import events_after, last_seq
from services.personnel.models import ChangeRound, Staff
from services.personnel.rounds import import_round
from services.personnel.staff import import_staff
from services.register.importer import import_register
from services.register.layout import BadFile
from services.register.models import Resident
from tests.factories import ADMIN
from tests.services.personnel_setup import DAY, HEADER, registry
from tests.services.register_files import COLUMNS, encode, person

ACTOR = Actor(login="os:import")
STAFF_HEADER = "職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日\n"


def _count(db: Database, model: Any) -> int:
    with db.read() as s:
        return s.connection().execute(
            select(func.count()).select_from(model.__table__)).scalar_one()


def _refused(db: Database, since: int, action: str) -> list[dict[str, Any]]:
    return [e for e in events_after(db, since, 10_000)
            if e["action"] == action and e["outcome"] == "refused"]


def _katagaki(db: Database, code: str) -> str:
    with db.read() as s:
        return s.connection().execute(select(Resident.__table__.c.katagaki).where(  # type: ignore[attr-defined]
            Resident.__table__.c.resident_code == code)).scalar_one()  # type: ignore[attr-defined]


def test_a_short_register_row_is_refused_and_the_katagaki_kept(db: Database) -> None:
    home = person("10000000001", 方書="コーポ若葉 101号室")
    import_register(db, ACTOR, encode([home]), name="full.csv", full=True)
    fix = dict(home, 変更区分="職権修正", 異動日="2026-04-01", 届出日="R8.4.3", 名="太朗")
    columns = (*(c for c in COLUMNS if c != "方書"), "方書")
    data = (",".join(columns) + "\r\n"  # the row ends before its last cell, 方書
            + ",".join(fix[c] for c in columns[:-1]) + "\r\n")
    since = last_seq(db)
    with pytest.raises(BadFile) as info:
        import_register(db, ACTOR, data.encode(), name="day.csv", full=False)
    assert "2行目" in info.value.message and "見出しより少な" in info.value.message
    assert _katagaki(db, "10000000001") == "コーポ若葉 101号室"
    [ev] = _refused(db, since, "register.import")
    assert json.loads(ev["details"])["problems"] == 1


@pytest.mark.parametrize(("row", "words"), [
    ("2026-04-01,1001,職員 sato,退職,市民課", "3行目: 列が見出しより少な"),
    ("2026-04-01,1001,職員 sato,退職,市民課,,係員,,", "3行目: 列が見出しより多く"),
])
def test_a_change_row_of_another_length_than_the_header_is_refused(
    db: Database, settings: Settings, row: str, words: str
) -> None:
    registry(db, settings)
    since = last_seq(db)
    with pytest.raises(BadInput, match=words):
        import_round(db, settings, ADMIN, name="idou.csv", today=DAY,
                     data=(HEADER + "2026-04-01,1002,職員 suzuki,転入,市民課,市民課,係員,係員\n"
                           + row + "\n").encode())
    assert _count(db, ChangeRound) == 0
    assert len(_refused(db, since, "hr.import")) == 1


@pytest.mark.parametrize(("row", "words"), [
    ("5002,井上 花子,イノウエ ハナコ,税務課,主事,会計年度任用", "3行目: 列が見出しより少な"),
    ("5002,井上 花子,イノウエ ハナコ,税務課,主事,正規,,在職,,x", "3行目: 列が見出しより多く"),
])
def test_a_staff_row_of_another_length_than_the_header_is_refused(
    db: Database, row: str, words: str
) -> None:
    since = last_seq(db)
    with pytest.raises(BadInput, match=words):
        import_staff(db, ADMIN, name="staff.csv", data=(
            STAFF_HEADER + "5001,青木 一郎,アオキ イチロウ,市民課,係員,正規,,在職,2026-01-10\n"
            + row + "\n").encode())
    assert _count(db, Staff) == 0
    assert len(_refused(db, since, "hr.staff")) == 1
