"""The items a reviewer compares: application side against register side, item by item.

docs/domain.md, "My Number": compare all four items (氏名・生年月日・性別・住所, with the
振り仮名 beside the name); differences in 異体字, kana and address notation are flagged
for the reviewer, never silently matched. ``services.jp`` names each difference.

Also the fingerprint of the 4 items stored when a link is confirmed, so the periodic
check (``services.linkage.check``) can tell that the resident's items changed since.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from services.jp import (
    ADDRESS_NOTATION,
    NAME_VARIANT,
    address_difference,
    explain_variants,
    format_both,
    kana_difference,
    name_difference,
)
from services.register.models import CITY, PREFECTURE

# Item labels, in the order the reviewer reads them.
NAME, KANA, BIRTH, SEX, ADDRESS = "氏名", "振り仮名", "生年月日", "性別", "住所"
ITEMS = (NAME, KANA, BIRTH, SEX, ADDRESS)
FOUR_ITEMS = (NAME, BIRTH, SEX, ADDRESS)

# Difference kinds (ItemRow.kind). None means the same as written.
DIFF_VARIANT = "異体字"  # only 異体字 differ (髙 / 高)
DIFF_KANA = "振り仮名"  # reading differs: detail says 清濁 / 小書き / 長音 / 読みの違い
DIFF_NOTATION = "住所表記"  # the same place written another way (2-1-2 / 2丁目1番地2号)
DIFF_VALUE = "相違"  # a different name or a different place
DIFF_BIRTH = "生年月日"  # dates differ
DIFF_SEX = "性別"  # sexes differ
DIFF_MISSING = "記載なし"  # the application does not give the item
DIFF_KINDS = (DIFF_VARIANT, DIFF_KANA, DIFF_NOTATION, DIFF_VALUE, DIFF_BIRTH, DIFF_SEX,
              DIFF_MISSING)


@dataclass(frozen=True)
class RegisterSide:
    """The resident as the register holds them, as shown beside the application (a
    restricted resident, to a reader without the DV permission: the name only)."""

    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({"resident_id", "name"})

    resident_id: int
    resident_code: str
    name: str  # 氏 and 名 as written, separated by a full-width space
    kana: str
    birth_date: date | None  # None only when withheld
    sex: str
    address: str  # with prefecture and city: 青葉県若葉市若葉町二丁目3番地5号 方書
    status: str  # 住民 / 消除
    restricted: bool  # DV等支援措置
    withheld: bool = False


@dataclass(frozen=True)
class ApplicationSide:
    """The items as written on the application (blank when not given)."""

    name: str
    kana: str
    birth_date: date | None
    sex: str
    address: str


@dataclass(frozen=True)
class ItemRow:
    """One line of the side-by-side view.

    ``kind`` is None when both sides are written the same, else one of DIFF_KINDS;
    ``detail`` explains it (e.g. "清濁", "異体字 高→髙", "住所表記の違い").
    """

    item: str
    application: str
    register: str
    kind: str | None
    detail: str = ""

    @property
    def differs(self) -> bool:
        return self.kind is not None


def register_side(resident: Any) -> RegisterSide:
    """The register side from a ``Resident`` row (or anything with its attributes)."""
    return RegisterSide(
        resident_id=resident.id,
        resident_code=resident.resident_code,
        name=f"{resident.family_name}\u3000{resident.given_name}",
        kana=f"{resident.family_kana}\u3000{resident.given_kana}",
        birth_date=resident.birth_date,
        sex=resident.sex,
        address=full_address(resident.address),
        status=resident.status,
        restricted=bool(resident.dv_support),
    )


def full_address(text: str) -> str:
    """An address of this city with prefecture and city in front, as applications write it.

    The register keeps the in-city form (若葉町二丁目3番地5号); an application may give
    it with or without 青葉県 and 若葉市. Leaving them out is not a difference.
    """
    stripped = text.strip()
    folded = unicodedata.normalize("NFKC", stripped)
    if folded.startswith(PREFECTURE + CITY):
        return stripped
    if folded.startswith(CITY):
        return PREFECTURE + stripped
    if folded.startswith(PREFECTURE):
        return stripped  # another city of the prefecture: compared as written
    return PREFECTURE + CITY + stripped


def compare_sides(app: ApplicationSide, reg: RegisterSide) -> list[ItemRow]:
    """Every item, application against register, with its difference named."""
    rows: list[ItemRow] = []

    if not app.name.strip():
        rows.append(ItemRow(NAME, "", reg.name, DIFF_MISSING, "申請書に氏名がありません"))
    else:
        diff = name_difference(app.name, reg.name)
        if diff is None:
            rows.append(ItemRow(NAME, app.name, reg.name, None))
        elif diff == NAME_VARIANT:
            rows.append(ItemRow(NAME, app.name, reg.name, DIFF_VARIANT,
                                explain_variants(app.name, reg.name)))
        else:
            rows.append(ItemRow(NAME, app.name, reg.name, DIFF_VALUE, diff))

    if not app.kana.strip():
        rows.append(ItemRow(KANA, "", reg.kana, DIFF_MISSING, "申請書に振り仮名がありません"))
    else:
        kdiff = kana_difference(app.kana, reg.kana)
        rows.append(ItemRow(KANA, app.kana, reg.kana, None if kdiff is None else DIFF_KANA,
                            kdiff or ""))

    reg_birth = format_both(reg.birth_date) if reg.birth_date is not None else ""
    if app.birth_date is None:
        rows.append(ItemRow(BIRTH, "", reg_birth, DIFF_MISSING, "申請書に生年月日がありません"))
    elif app.birth_date != reg.birth_date:
        rows.append(ItemRow(BIRTH, format_both(app.birth_date), reg_birth, DIFF_BIRTH,
                            "生年月日の違い"))
    else:
        rows.append(ItemRow(BIRTH, format_both(app.birth_date), reg_birth, None))

    if not app.sex:
        rows.append(ItemRow(SEX, "", reg.sex, DIFF_MISSING, "申請書に性別がありません"))
    else:
        same = app.sex == reg.sex
        rows.append(ItemRow(SEX, app.sex, reg.sex, None if same else DIFF_SEX,
                            "" if same else "性別の違い"))

    if not app.address.strip():
        rows.append(ItemRow(ADDRESS, "", reg.address, DIFF_MISSING, "申請書に住所がありません"))
    else:
        adiff = address_difference(full_address(app.address), reg.address)
        kind = None if adiff is None else (DIFF_NOTATION if adiff == ADDRESS_NOTATION
                                           else DIFF_VALUE)
        rows.append(ItemRow(ADDRESS, app.address, reg.address, kind, adiff or ""))
    return rows


# --- fingerprint of the 4 items -----------------------------------------------------

FP_COLUMNS = {NAME: "name_fp", BIRTH: "birth_fp", SEX: "sex_fp", ADDRESS: "address_fp"}


def _digest(item: str, value: str) -> str:
    return hashlib.sha256(f"{item}\x1f{value}".encode()).hexdigest()[:16]


def fingerprint(resident: Any) -> dict[str, str]:
    """Column → digest of each of the 4 items exactly as written on the register.

    Any change counts, a 異体字 or a 方書 included: the check asks a person to look.
    """
    values = {
        NAME: f"{resident.family_name}\u3000{resident.given_name}",
        BIRTH: resident.birth_date.isoformat(),
        SEX: resident.sex,
        ADDRESS: resident.address,
    }
    return {FP_COLUMNS[item]: _digest(item, value) for item, value in values.items()}


def changed_items(stored: Any, resident: Any) -> list[str]:
    """The 4-item labels whose digest differs between a stored fingerprint and now."""
    now = fingerprint(resident)
    return [item for item, col in FP_COLUMNS.items() if getattr(stored, col) != now[col]]
