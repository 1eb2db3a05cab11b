"""Each alert rule fires at its threshold and stays quiet below it (SQLite and PostgreSQL).

The events come from the real services (records opened with ``open_record``, sign-ins
with ``sign_in``); ``scan`` then judges what is new, as ``juki audit watch`` does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from auth.signin import sign_in
from core.clock import today_in_japan
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from services.alerts.engine import scan
from services.alerts.rules import is_working_time
from services.lookup.record import open_record
from services.personnel.staff import import_staff
from services.register.models import Resident
from tests.factories import ADMIN, PASSWORD
from tests.services.lookup_data import PURPOSE, World, build_world

ALWAYS_OPEN = {"alert_work_hours": "00:00-24:00",
               "alert_work_days": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
               "alert_closed_days": ()}


@pytest.fixture
def world(db: Database, settings: Settings) -> World:
    w = build_world(db, settings.with_(**ALWAYS_OPEN))
    w.settings = settings.with_(**ALWAYS_OPEN)
    scan(db, w.settings)  # judge the set-up's own events before each test's
    return w


def _rules(w: World, settings: Settings | None = None) -> list[str]:
    done = scan(w.db, settings or w.settings)
    return [f.rule for f in done.alerts]


def _open(w: World, who: str, name: str, reason: str = "") -> None:
    open_record(w.db, w.settings, w.people[who], w.ids[name], purpose=PURPOSE, reason=reason)


def test_hours_parse_and_a_bad_value_falls_back() -> None:
    at_20 = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)  # Thursday 20:00 JST
    assert not is_working_time(at_20, Settings())
    assert not is_working_time(at_20, Settings(alert_work_hours="junk"))  # 08:00-19:00
    assert is_working_time(at_20, Settings(alert_work_hours="00:00-24:00"))
    assert not is_working_time(at_20, Settings(alert_work_hours="00:00-00:00"))
    assert is_working_time(at_20 + timedelta(hours=3, minutes=59), Settings(
        alert_work_hours="00:00-24:00"))  # 23:59


def test_many_residents_opened_in_an_hour(world: World) -> None:
    limit = world.settings.with_(alert_opens_per_hour=3)
    _open(world, "clerk", "髙橋一郎")
    _open(world, "clerk", "高橋一郎")
    _open(world, "clerk", "高橋一郎")  # the same resident again does not count twice
    assert "bulk_open" not in _rules(world, limit)
    _open(world, "clerk", "林翔")
    assert _rules(world, limit).count("bulk_open") == 1
    _open(world, "clerk", "鈴木太郎")  # still over: the same hour's alert is not raised again
    assert "bulk_open" not in _rules(world, limit)
    [ev] = [e for e in world.events(0) if e["action"] == "alert.bulk_open"]
    assert (ev["outcome"], ev["severity"], ev["target"]) == ("alert", "high", "clerk")
    assert ev["details"]["residents"] == 3 and "1時間に 3 人" in ev["details"]["message"]


def test_outside_working_hours_and_on_closed_days() -> None:
    s = Settings()
    thursday_10 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    assert is_working_time(thursday_10, s)
    assert not is_working_time(thursday_10 - timedelta(hours=3), s)  # 07:00 JST
    assert not is_working_time(datetime(2026, 11, 28, 1, 0, tzinfo=UTC), s)  # Saturday
    assert not is_working_time(datetime(2026, 11, 23, 1, 0, tzinfo=UTC), s)  # 勤労感謝の日
    assert not is_working_time(datetime(2026, 12, 29, 1, 0, tzinfo=UTC), s)  # 年末
    assert is_working_time(datetime(2026, 11, 28, 1, 0, tzinfo=UTC),
                           s.with_(alert_work_days=("mon", "sat")))
    assert not is_working_time(thursday_10, s.with_(alert_work_hours="11:00-19:00"))


def test_activity_outside_hours_is_flagged_once_a_day(world: World) -> None:
    _open(world, "clerk", "林翔")
    assert "after_hours" not in _rules(world)
    closed = world.settings.with_(alert_work_hours="00:00-00:00")
    _open(world, "clerk", "林翔")
    _open(world, "reviewer", "林翔")
    found = _rules(world, closed)
    assert found.count("after_hours") == 2  # one per user
    _open(world, "clerk", "鈴木太郎")
    assert "after_hours" not in _rules(world, closed)


def test_a_dv_record_opened_raises_an_alert_every_time(world: World) -> None:
    _open(world, "clerk", "林翔")
    assert "dv_open" not in _rules(world)
    with pytest.raises(Refused):  # refused: recorded, but nothing was opened
        _open(world, "clerk", "DV母", "窓口で本人確認")
    assert "dv_open" not in _rules(world)
    _open(world, "dv", "DV母", "支援措置の更新")
    _open(world, "dv", "DV子", "支援措置の更新")
    assert _rules(world).count("dv_open") == 2


def _staff_lives_at(w: World, login: str, resident: str) -> None:
    with w.db.read() as s:
        code = s.connection().execute(select(Resident.__table__.c.resident_code).where(  # type: ignore[attr-defined]
            Resident.__table__.c.id == w.ids[resident])).scalar_one()  # type: ignore[attr-defined]
    import_staff(w.db, ADMIN, name="staff.csv", data=(
        "職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日,ログイン名,住民票コード\n"
        f"5001,職員,ショクイン,市民課,係員,正規,,在職,2026-01-10,{login},{code}\n"
    ).encode())


def test_staff_opening_their_own_or_their_familys_record(world: World) -> None:
    _staff_lives_at(world, "clerk", "髙橋一郎")
    _open(world, "clerk", "高橋一郎")  # another 高橋一郎, elsewhere: not family
    _open(world, "reviewer", "髙橋一郎")  # someone else opening it: not their own
    assert "own_record" not in _rules(world)
    _open(world, "clerk", "髙橋一郎")
    _open(world, "clerk", "髙橋ゆり")  # same 氏, same address
    assert _rules(world).count("own_record") == 2
    kinds = [e["details"]["kind"] for e in world.events(0) if e["action"] == "alert.own_record"]
    assert kinds == ["自分自身の住民記録", "同じ住所・同じ氏の住民記録（家族の可能性）"]


def test_failed_sign_ins_then_a_success(world: World) -> None:
    def fail(n: int) -> None:
        for _ in range(n):
            with pytest.raises(Refused):
                sign_in(world.db, world.settings, "auditor", "wrong-password-1")

    fail(2)
    sign_in(world.db, world.settings, "auditor", PASSWORD)
    assert "failed_then_success" not in _rules(world)
    fail(3)
    sign_in(world.db, world.settings, "auditor", PASSWORD)
    assert _rules(world).count("failed_then_success") == 1
    sign_in(world.db, world.settings, "auditor", PASSWORD)  # a success after a success
    assert "failed_then_success" not in _rules(world)


def test_activity_after_the_leave_date(world: World) -> None:
    _staff_lives_at(world, "clerk", "林翔")
    tomorrow = today_in_japan() + timedelta(days=1)
    with world.db.write() as s:
        s.connection().execute(text("UPDATE staff SET left_on = :d"), {"d": tomorrow})
    _open(world, "clerk", "鈴木太郎")
    assert "after_leave" not in _rules(world)
    with world.db.write() as s:
        s.connection().execute(text("UPDATE staff SET left_on = :d"),
                               {"d": today_in_japan() - timedelta(days=1)})
    _open(world, "clerk", "鈴木太郎")
    _open(world, "clerk", "鈴木次郎")
    assert _rules(world).count("after_leave") == 1  # once a day


def test_many_users_opening_the_same_resident_in_a_day(world: World) -> None:
    crowd = world.settings.with_(alert_users_per_resident_day=3)
    _open(world, "clerk", "林翔")
    _open(world, "reviewer", "林翔")
    _open(world, "clerk", "林翔")
    assert "crowd_open" not in _rules(world, crowd)
    _open(world, "dv", "林翔")
    found = _rules(world, crowd)
    assert found.count("crowd_open") == 1
    [ev] = [e for e in world.events(0) if e["action"] == "alert.crowd_open"]
    assert ev["target"] == f"resident:{world.ids['林翔']}" and ev["details"]["users"] == 3


def test_the_cursor_judges_each_event_once_and_alerts_are_chained(world: World) -> None:
    _open(world, "dv", "DV母", "支援措置の更新")
    first = scan(world.db, world.settings)
    again = scan(world.db, world.settings)
    assert [f.rule for f in first.alerts] == ["dv_open"] and again.alerts == ()
    assert again.cursor == first.cursor + 1  # the alert event itself, skipped
    from logs.audit import verify

    assert verify(world.db).ok
