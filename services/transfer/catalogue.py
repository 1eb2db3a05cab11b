"""The fixed catalogue of resident items a transfer can carry, each read by its own code.

A record is built by reading only the items a destination's allowlist names, one
function per item (``build_record``); nothing walks the model's fields, so a column added
to ``resident`` tomorrow does not leave until someone writes an item for it here *and*
a settings file lists it with its legal basis. Some items are left out on purpose and
can never be sent: 本籍・筆頭者 and 在留カード等の番号.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from services.register.models import CITY, PREFECTURE, Household, Resident, ResidentChange

Value = str | bool | None


@dataclass(frozen=True)
class Source:
    """What one record is read from: the resident, the household, the latest 異動 and,
    only when the destination may receive it, the active 個人番号."""

    resident: Resident
    household: Household
    change: ResidentChange | None
    number: str = ""


@dataclass(frozen=True)
class Item:
    name: str  # the key in a record and in a settings file
    meaning: str
    read: Callable[[Source], Value]


def _d(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _r(src: Source) -> Resident:
    return src.resident


_ITEMS = (
    Item("宛名番号", "住民記録システムの個人の番号 (団体内統合宛名番号に対応)",
         lambda s: str(s.resident.id)),
    Item("住民票コード", "住民票コード (11桁)", lambda s: _r(s).resident_code),
    Item("氏名", "氏名 (氏と名を全角空白で区切る)",
         lambda s: f"{_r(s).family_name}\u3000{_r(s).given_name}"),
    Item("氏名カナ", "氏名の振り仮名", lambda s: f"{_r(s).family_kana}\u3000{_r(s).given_kana}"),
    Item("生年月日", "生年月日 (ISO 8601)", lambda s: _d(_r(s).birth_date)),
    Item("性別", "性別 (男 / 女)", lambda s: _r(s).sex),
    Item("住所", "住所 (都道府県から方書まで)", lambda s: PREFECTURE + CITY + _r(s).address),
    Item("世帯番号", "世帯番号", lambda s: s.household.household_no),
    Item("続柄", "世帯主との続柄", lambda s: _r(s).relationship),
    Item("住民となった年月日", "住民となった年月日", lambda s: _d(_r(s).became_resident_on)),
    Item("住所を定めた年月日", "住所を定めた年月日", lambda s: _d(_r(s).address_set_on)),
    Item("転入前住所", "転入前住所", lambda s: _r(s).previous_address),
    Item("住民状態", "住民 / 消除", lambda s: _r(s).status),
    Item("消除日", "消除日", lambda s: _d(_r(s).removed_on)),
    Item("消除事由", "転出 / 死亡 / 職権消除", lambda s: _r(s).removal_reason),
    Item("転出先", "転出先住所", lambda s: _r(s).moved_to),
    Item("異動事由", "最新の異動の種別", lambda s: s.change.kind if s.change else None),
    Item("異動日", "最新の異動の異動日", lambda s: _d(s.change.occurred_on) if s.change else None),
    Item("届出日", "最新の異動の届出日", lambda s: _d(s.change.notified_on) if s.change else None),
    Item("外国人住民", "外国人住民であるか", lambda s: bool(_r(s).is_foreign)),
    Item("国籍・地域", "国籍・地域", lambda s: _r(s).nationality),
    Item("在留資格", "在留資格", lambda s: _r(s).residence_status),
    Item("在留期間満了日", "在留期間の満了日", lambda s: _d(_r(s).stay_expires_on)),
    Item("通称", "通称", lambda s: _r(s).alias),
    Item("支援措置", "DV等支援措置の対象であるか", lambda s: bool(_r(s).dv_support)),
    Item("個人番号", "個人番号 (12桁、有効な紐付けのあるとき)", lambda s: s.number or None),
)

CATALOGUE: dict[str, Item] = {item.name: item for item in _ITEMS}
# Items that let the receiver tell one person's record from another's: a destination
# must be sent at least one of them.
IDENTIFYING = ("宛名番号", "住民票コード", "個人番号")
MY_NUMBER = "個人番号"


def build_record(items: tuple[str, ...], src: Source) -> dict[str, Value]:
    """The record for one resident: exactly ``items``, each read by its catalogue entry.

    ``items`` comes from a checked allowlist; an unknown name here is a bug, not input.
    """
    return {name: CATALOGUE[name].read(src) for name in items}
