"""住民記録照会 record: opening a resident, DV等支援措置, revealing My Number (both backends)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import now
from core.db import Database
from core.errors import BadInput, NotFound, Refused
from core.settings import Settings
from services.jp import format_both
from services.lookup.record import open_record, reveal_my_number
from services.lookup.types import ResidentRecord
from services.register.models import Resident
from tests.services.lookup_data import KNOWN_NUMBER, PURPOSE, SMALL_NUMBER, World, build_world

JAPANESE_ITEMS = (
    "氏名", "氏名の振り仮名", "生年月日", "性別", "世帯主", "続柄", "住所", "世帯番号",
    "住民となった年月日", "住所を定めた年月日", "届出日", "転入前住所", "本籍", "筆頭者",
    "住民票コード", "個人番号", "状態",
)
FOREIGN_ITEMS = ("国籍・地域", "在留資格", "在留期間の満了日", "在留カード等の番号", "通称")


@pytest.fixture
def world(db: Database, settings: Settings) -> World:
    return build_world(db, settings)


def _open(w: World, who: str, key: str, **kw: Any) -> ResidentRecord:
    kw.setdefault("purpose", PURPOSE)
    return open_record(w.db, w.settings, w.people[who], w.ids[key], **kw)


def _items(rec: ResidentRecord) -> dict[str, str]:
    labels = [label for label, _ in rec.items]
    assert len(labels) == len(set(labels))
    return dict(rec.items)


# --- the record --------------------------------------------------------------------


def test_a_record_holds_every_item_with_dates_in_wareki_and_seireki(world: World) -> None:
    since = world.seq()
    rec = _open(world, "clerk", "髙橋一郎")
    items = _items(rec)
    assert set(JAPANESE_ITEMS) <= set(items)
    assert not set(FOREIGN_ITEMS) & set(items)
    assert items["氏名"] == rec.name == "髙橋 一郎"
    assert items["氏名の振り仮名"] == "タカハシ イチロウ"
    assert items["生年月日"] == "昭和55年1月1日 (1980-01-01)" == format_both(date(1980, 1, 1))
    assert items["住所"] == "青葉県若葉市桜ケ丘二丁目1番地2号"
    assert items["世帯主"] == "髙橋 一郎" and items["続柄"] == "世帯主"
    assert items["世帯番号"] == rec.household_no == world.households["taka"]
    assert items["状態"] == rec.status == "住民" and not rec.restricted
    assert items["個人番号"] == rec.my_number_masked == "**** **** 9018"
    assert KNOWN_NUMBER not in json.dumps(rec.items, ensure_ascii=False)
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"], ev["severity"]) == ("register.open", "success", "info")
    assert (ev["target"], ev["purpose"]) == (f"resident:{world.ids['髙橋一郎']}", PURPOSE)


def test_members_head_first_and_changes_newest_first(world: World) -> None:
    rec = _open(world, "clerk", "髙橋ゆり")
    assert [(m.resident_id, m.relationship) for m in rec.members] == [
        (world.ids["髙橋一郎"], "世帯主"), (world.ids["髙橋ゆり"], "妻"),
    ]
    head = _open(world, "clerk", "髙橋一郎")
    assert [c.kind for c in head.changes] == ["職権修正", "転居", "転入"]
    assert [c.occurred_on for c in head.changes] == sorted(
        (c.occurred_on for c in head.changes), reverse=True
    )
    assert head.changes[1].after == "桜ケ丘二丁目1番地2号"


def test_every_seeded_record_opens_with_its_whole_history(world: World) -> None:
    with world.db.read() as s:
        rows = s.execute(select(Resident.id).where(Resident.dv_support.is_(False)).limit(40)).all()  # type: ignore[attr-defined]
    for (rid,) in rows:
        rec = open_record(world.db, world.settings, world.people["clerk"], rid, purpose=PURPOSE)
        assert rec.changes, rid
        assert any(m.resident_id == rid for m in rec.members)
        assert rec.members[0].relationship == "世帯主"
        assert dict(rec.items)["生年月日"].endswith(")")


def test_a_foreign_resident_shows_nationality_status_card_and_alias(world: World) -> None:
    items = _items(_open(world, "clerk", "キャロル"))
    assert set(FOREIGN_ITEMS) <= set(items)
    assert "本籍" not in items and "筆頭者" not in items
    assert items["国籍・地域"] == "米国"
    assert items["在留資格"] == "技術・人文知識・国際業務"
    assert items["在留期間の満了日"] == "令和9年3月31日 (2027-03-31)"
    assert items["在留カード等の番号"] == "EF87654321GH"
    assert items["通称"] == "港 キャロル" and items["通称の振り仮名"] == "ミナト キャロル"
    assert items["個人番号"] == "（紐付けなし）"


def test_a_removed_resident_shows_when_and_why(world: World) -> None:
    rec = _open(world, "clerk", "鈴木次郎")
    items = _items(rec)
    assert rec.status == items["状態"] == "消除"
    assert items["消除日"] == "令和6年1月10日 (2024-01-10)"
    assert items["消除事由"] == "転出"
    assert items["転出先"] == "東京都千代田区千代田1番"
    assert "消除日" not in _items(_open(world, "clerk", "鈴木太郎"))


def test_opening_needs_lookup_and_a_purpose_from_the_list(world: World) -> None:
    since = world.seq()
    with pytest.raises(Refused):
        _open(world, "auditor", "髙橋一郎")
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"]) == ("register.open", "refused")
    with pytest.raises(BadInput, match="事務"):
        _open(world, "clerk", "髙橋一郎", purpose="")
    with pytest.raises(BadInput, match="事務"):
        _open(world, "clerk", "髙橋一郎", purpose="ついで")
    with pytest.raises(NotFound):
        open_record(world.db, world.settings, world.people["clerk"], 10**9, purpose=PURPOSE)


# --- DV等支援措置 -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["clerk", "reviewer"])
def test_a_restricted_record_does_not_open_without_the_permission(world: World, who: str) -> None:
    since = world.seq()
    with pytest.raises(Refused) as info:
        _open(world, who, "DV母", reason="窓口で本人確認")
    assert "DV等支援措置" in info.value.message
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"], ev["severity"]) == ("register.open", "refused", "high")
    assert ev["target"] == f"resident:{world.ids['DV母']}" and ev["actor"] == who


def test_a_restricted_record_needs_a_reason(world: World) -> None:
    since = world.seq()
    for reason in ("", "   "):
        with pytest.raises(BadInput) as info:
            _open(world, "dv", "DV母", reason=reason)
        assert "理由" in info.value.message
    assert world.events(since) == []


def test_opening_a_restricted_record_is_a_high_severity_event_with_the_reason(
    world: World,
) -> None:
    since = world.seq()
    rec = _open(world, "dv", "DV母", reason="支援措置の継続申出の確認")
    assert rec.restricted and all(m.restricted for m in rec.members)
    assert _items(rec)["DV等支援措置"].startswith("対象")
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"], ev["severity"]) == ("register.open", "success", "high")
    assert ev["details"] == {"restricted": True, "reason": "支援措置の継続申出の確認"}


# --- My Number reveal --------------------------------------------------------------


def test_reveal_needs_its_permission_and_the_refusal_is_recorded(world: World) -> None:
    since = world.seq()
    with pytest.raises(Refused):
        reveal_my_number(world.db, world.settings, world.people["clerk"],
                         world.ids["髙橋一郎"], purpose=PURPOSE, reason="確認")
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"]) == ("register.reveal_my_number", "refused")


def test_reveal_needs_a_reason_and_the_attempt_without_one_is_recorded(world: World) -> None:
    since = world.seq()
    with pytest.raises(BadInput) as info:
        reveal_my_number(world.db, world.settings, world.people["reviewer"],
                         world.ids["髙橋一郎"], purpose=PURPOSE, reason=" ")
    assert "理由" in info.value.message
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"], ev["target"]) == (
        "register.reveal_my_number", "refused", f"resident:{world.ids['髙橋一郎']}")
    assert ev["details"] == {"reason": "bad_input", "message": info.value.message}


def test_reveal_shows_the_number_for_the_set_time_and_records_only_the_last_four(
    world: World,
) -> None:
    settings = world.settings.with_(reveal_seconds=12.5)
    since = world.seq()
    before = now()
    shown = reveal_my_number(world.db, settings, world.people["reviewer"],
                             world.ids["髙橋一郎"], purpose=PURPOSE, reason="番号の照合")
    assert shown.number == "1234 5678 9018"
    assert before + timedelta(seconds=12.5) <= shown.expires_at <= now() + timedelta(seconds=12.5)
    [ev] = world.events(since)
    assert (ev["action"], ev["outcome"], ev["purpose"]) == (
        "register.reveal_my_number", "success", PURPOSE,
    )
    assert ev["details"] == {"reason": "番号の照合", "last4": "9018", "restricted": False}
    assert KNOWN_NUMBER not in json.dumps(ev, ensure_ascii=False)


def test_reveal_of_a_restricted_resident_also_needs_the_restricted_permission(
    world: World,
) -> None:
    since = world.seq()
    with pytest.raises(Refused):
        reveal_my_number(world.db, world.settings, world.people["reviewer"],
                         world.ids["DV母"], purpose=PURPOSE, reason="番号の照合")
    [ev] = world.events(since)
    assert (ev["outcome"], ev["severity"]) == ("refused", "high")
    shown = reveal_my_number(world.db, world.settings, world.people["dvrev"],
                             world.ids["DV母"], purpose=PURPOSE, reason="番号の照合")
    assert shown.number.replace(" ", "") == SMALL_NUMBER
    last = world.events(since)[-1]
    assert (last["outcome"], last["severity"]) == ("success", "high")


def test_reveal_without_a_linked_number_says_so(world: World) -> None:
    with pytest.raises(NotFound, match="個人番号"):
        reveal_my_number(world.db, world.settings, world.people["reviewer"],
                         world.ids["林翔"], purpose=PURPOSE, reason="番号の照合")
