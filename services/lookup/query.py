"""The lookup's query as typed, read: the purpose (事務), then every field parsed and
normalised into ``Parsed``, or BadInput naming the first field that cannot be used
(``services.lookup.search``, points 2 and 3)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from core.clock import today_in_japan
from core.errors import BadInput
from core.freetext import mask_my_numbers, problem
from core.settings import Settings
from services.jp import format_wareki, parse_date
from services.lookup.types import LookupQuery
from services.register.keys import AddressQuery, NameQuery, address_query, name_query
from services.register.models import SEXES
from services.register.mynumber import is_valid_my_number, normalize_my_number

MY_NUMBER_GIVEN = "指定あり"

_CODE_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−]")


def purposes(settings: Settings) -> tuple[str, ...]:
    """The 事務 a lookup may declare, in the configured order."""
    return tuple(settings.lookup_purposes)


def check_purpose(settings: Settings, purpose: str) -> str:
    """The purpose as configured, or BadInput naming 事務."""
    chosen = (purpose or "").strip()
    if not chosen:
        raise BadInput("事務を選んでください。どの事務のための照会かを先に選ぶ必要があります。")
    if chosen not in purposes(settings):
        raise BadInput("事務: 一覧にない事務です。一覧から選んでください。")
    return chosen


@dataclass(frozen=True)
class Parsed:
    """A query after parsing: every field normalised, empty when not given."""

    name: NameQuery | None
    birth: date | None
    sex: str
    address: AddressQuery | None
    address_typed: str
    resident_code: str
    household_no: str
    my_number: str
    include_removed: bool

    @property
    def has_code(self) -> bool:
        return bool(self.resident_code or self.household_no or self.my_number)

    def normalized(self) -> dict[str, str]:
        """What is recorded and shown back: keys as matched, a 個人番号 never as digits
        (nor a My Number typed into another field: masked, ``core.freetext``)."""
        return {k: mask_my_numbers(v) for k, v in self._normalized().items()}

    def _normalized(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.name is not None:
            n = self.name
            out["氏名"] = f"{n.family_exact} {n.given_exact}" if n.split else n.exact
            out["氏名の種別"] = "振り仮名" if n.kana else "漢字等"
        if self.birth is not None:
            out["生年月日"] = self.birth.isoformat()
        if self.sex:
            out["性別"] = self.sex
        if self.address is not None:
            out["住所"] = self.address.key
        if self.resident_code:
            out["住民票コード"] = self.resident_code
        if self.household_no:
            out["世帯番号"] = self.household_no
        if self.my_number:
            out["個人番号"] = MY_NUMBER_GIVEN
        if self.include_removed:
            out["消除"] = "含む"
        return out


def _digits(text: str) -> str:
    return _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", text or ""))


NAME_MAX = 100
ADDRESS_MAX = 200


def parse_query(query: LookupQuery) -> Parsed:
    """Read every field; BadInput naming the first field that cannot be used."""
    for label, typed in (("氏名", query.name), ("住所", query.address)):
        if why := problem(typed or ""):
            raise BadInput(f"{label}: {why}。")
    name_typed = query.name or ""
    address_typed = (query.address or "").strip()
    if len(name_typed) > NAME_MAX:
        raise BadInput(f"氏名: {NAME_MAX}文字以内で入力してください。")
    if len(address_typed) > ADDRESS_MAX:
        raise BadInput(f"住所: {ADDRESS_MAX}文字以内で入力してください。")
    birth = parse_date(query.birth, field="生年月日") if (query.birth or "").strip() else None
    if birth is not None and birth > today_in_japan():
        raise BadInput(f"生年月日: {format_wareki(birth)} は今日より後の日付です。"
                       "年号と年を確かめてください。")
    sex = unicodedata.normalize("NFKC", query.sex or "").strip()
    if sex and sex not in SEXES:
        raise BadInput("性別: 「男」「女」のどちらかを選んでください（指定しないときは空欄）。")
    code = _digits(query.resident_code)
    if code and not (code.isascii() and code.isdigit() and len(code) == 11):
        raise BadInput("住民票コード: 11桁の数字で入力してください。")
    household = _digits(query.household_no)
    if household and not (household.isascii() and household.isdigit() and len(household) <= 16):
        raise BadInput("世帯番号: 数字（16桁まで）で入力してください。")
    number = ""
    if (query.my_number or "").strip():
        number = normalize_my_number(query.my_number)
        if not (number.isascii() and number.isdigit() and len(number) == 12):
            raise BadInput("個人番号: 12桁の数字で入力してください。")
        if not is_valid_my_number(number):
            raise BadInput("個人番号: 検査用数字が合いません。番号を確かめてください。")
    return Parsed(
        name=name_query(name_typed),
        birth=birth,
        sex=sex,
        address=address_query(address_typed),
        address_typed=address_typed,
        resident_code=code,
        household_no=household,
        my_number=number,
        include_removed=bool(query.include_removed),
    )
