"""A change row must be about the person its 職員番号 names (issue 18, item 2).

A row whose 氏名 (or 氏名カナ, when the file has it) is not the registry's for that
職員番号 — after width, space and 異体字 normalisation — refuses the file naming line and
field. A 発令日 earlier than a change already applied to the same person is refused
naming both dates, unless the operator confirms it (``allow_earlier``), which is recorded.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from auth.accounts import list_users
from core.db import Database
from core.errors import BadInput
from core.settings import Settings
from services.personnel.models import ChangeRound, PersonnelChange, RightsChange
from services.personnel.rounds import import_round
from services.personnel.staff import import_staff
from tests.factories import ADMIN
from tests.services.personnel_setup import DAY, csv_file, events, last_seq, registry

KANA_HEADER = "発令日,職員番号,氏名,氏名カナ,異動区分,旧所属,新所属,旧職,新職\n"


@pytest.fixture
def people(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    found = registry(db, settings)
    import_staff(db, ADMIN, name="more.csv", data=(
        "職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日\n"
        "5001,髙橋 一郎,タカハシ イチロウ,市民課,係員,正規,,在職,2026-01-10\n").encode())
    return found


def _count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    with db.read() as s:
        return s.connection().execute(
            select(func.count()).select_from(table.__table__)).scalar_one()


def _account(db: Database, login: str):  # type: ignore[no-untyped-def]
    return next(a for a in list_users(db) if a.login == login)


def _nothing_written(db: Database) -> None:
    assert (_count(db, ChangeRound), _count(db, PersonnelChange), _count(db, RightsChange)) \
        == (0, 0, 0)


def test_a_row_naming_another_person_is_refused_naming_line_and_field(
    db: Database, settings: Settings, people
) -> None:
    since = last_seq(db)
    with pytest.raises(BadInput) as info:
        import_round(db, settings, ADMIN, name="idou.csv", today=DAY, data=csv_file(
            "令和8年4月1日,1001,職員 sato,転入,市民課,市民課,係員,係員",
            "令和8年4月1日,1003,佐藤 花子,転出,市民課,税務課,係長,係長"))
    message = info.value.message
    assert "3行目 氏名" in message and "佐藤 花子" in message and "1003" in message
    assert "2行目" not in message
    _nothing_written(db)
    takaha = _account(db, "takaha")
    assert takaha.roles == ("reviewer",) and not takaha.disabled
    [ev] = events(db, since)
    assert (ev["action"], ev["outcome"]) == ("hr.import", "refused")
    assert "3行目 氏名" in json.loads(ev["details"])["reason"]


@pytest.mark.parametrize("written", [
    "髙橋 一郎",  # as the registry has it
    "高橋 一郎",  # 異体字
    "高橋　一郎",  # full-width space
    "髙橋一郎",  # no space
    "髙橋  一郎",  # two spaces
])
def test_a_name_differing_only_in_width_space_or_variants_is_the_same_person(
    db: Database, settings: Settings, people, written: str
) -> None:
    done = import_round(db, settings, ADMIN, name="idou.csv", today=DAY, data=csv_file(
        f"2026-04-01,5001,{written},転出,市民課,総務課,係員,主事"))
    assert done.rows == 1


def _with_kana(*rows: str) -> bytes:
    return (KANA_HEADER + "".join(r + "\n" for r in rows)).encode()


def test_the_kana_is_checked_when_the_file_gives_it(
    db: Database, settings: Settings, people
) -> None:
    with pytest.raises(BadInput) as info:
        import_round(db, settings, ADMIN, name="idou.csv", today=DAY, data=_with_kana(
            "2026-04-01,5001,高橋 一郎,タカハシ ジロウ,転出,市民課,総務課,係員,主事"))
    assert "2行目 氏名カナ" in info.value.message and "タカハシ ジロウ" in info.value.message
    _nothing_written(db)
    with pytest.raises(BadInput, match="2行目 氏名カナ"):  # voicing is a different reading
        import_round(db, settings, ADMIN, name="idou2.csv", today=DAY, data=_with_kana(
            "2026-04-01,5001,高橋 一郎,タカバシ イチロウ,転出,市民課,総務課,係員,主事"))
    _nothing_written(db)
    done = import_round(db, settings, ADMIN, name="idou3.csv", today=DAY, data=_with_kana(
        "2026-04-01,5001,高橋 一郎,ﾀｶﾊｼ ｲﾁﾛｳ,転出,市民課,総務課,係員,主事",
        "2026-04-01,4001,山田 花子,,転入,総務課,市民課,主事,係員"))  # blank: not given
    assert done.rows == 2


def test_a_date_earlier_than_an_applied_change_needs_the_operators_confirmation(
    db: Database, settings: Settings, people
) -> None:
    first = import_round(db, settings, ADMIN, name="first.csv", today=DAY, data=csv_file(
        "2026-04-01,1001,職員 sato,転入,市民課,市民課,係員,係員"))
    assert first.rows == 1  # applied to the registry at once: due today
    since = last_seq(db)
    late = csv_file("2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員",
                    "2026-03-15,1001,職員 sato,転出,市民課,税務課,係員,主事")
    with pytest.raises(BadInput) as info:
        import_round(db, settings, ADMIN, name="late.csv", today=DAY, data=late)
    message = info.value.message
    assert "3行目 発令日" in message
    assert "令和8年3月15日" in message and "令和8年4月1日" in message
    assert "allow-earlier" in message
    assert _count(db, ChangeRound) == 1
    assert _account(db, "sato").roles == ("clerk",)
    [refused] = events(db, since)
    assert (refused["action"], refused["outcome"]) == ("hr.import", "refused")

    done = import_round(db, settings, ADMIN, name="late.csv", today=DAY, data=late,
                        allow_earlier=True)
    assert done.rows == 2
    [ev] = [e for e in events(db, since) if e["action"] == "hr.import"
            and e["outcome"] == "success"]
    confirmed = json.loads(ev["details"])["earlier_confirmed"]
    assert confirmed == [{"line": 3, "staff_no": "1001", "effective_on": "2026-03-15",
                          "applied_on": "2026-04-01"}]


def test_the_same_day_or_a_later_one_needs_no_confirmation(
    db: Database, settings: Settings, people
) -> None:
    import_round(db, settings, ADMIN, name="first.csv", today=DAY, data=csv_file(
        "2026-04-01,1001,職員 sato,転入,市民課,市民課,係員,係員"))
    done = import_round(db, settings, ADMIN, name="next.csv", today=date(2026, 4, 2),
                        data=csv_file("2026-04-01,1001,職員 sato,転入,市民課,総務課,係員,主事",
                                      "2026-04-02,1001,職員 sato,転入,総務課,市民課,主事,係員"))
    assert done.rows == 2
