"""Register tables: 世帯, 住民 (docs/domain.md §2), 異動履歴 and the My Number link.

Values the staff read (続柄, 性別, 状態, 異動の種別, 在留資格 …) are stored in Japanese, as
the register writes them; table and column names are English snake_case. Addresses keep
町名・丁目・番地・号 in separate columns beside the display string, so that search can
normalise 「2丁目1番地2号」 / 「2-1-2」 / 「二丁目一番地二号」 against the parts.
Names are stored exactly as written (髙 is not 高, 﨑 is not 崎, 𠮷 stays outside the BMP).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Index, String, Text, text
from sqlmodel import Field, SQLModel

from core.sealed import SealedNumber

PREFECTURE = "青葉県"
CITY = "若葉市"

SEXES = ("男", "女")
STATUS_RESIDENT = "住民"
STATUS_REMOVED = "消除"
STATUSES = (STATUS_RESIDENT, STATUS_REMOVED)
REMOVAL_REASONS = ("転出", "死亡", "職権消除")
HEAD = "世帯主"
RELATIONSHIPS = (
    HEAD, "妻", "夫", "妻(未届)", "夫(未届)", "子", "子の妻", "子の夫", "父", "母",
    "妻の父", "妻の母", "孫", "兄", "姉", "弟", "妹", "祖父", "祖母", "同居人", "縁故者",
)
CHANGE_KINDS = ("転入", "転居", "転出", "世帯変更", "出生", "死亡", "職権修正", "消除")
LINK_ACTIVE = "active"
LINK_REVOKED = "revoked"
LINK_SOURCES = ("初期移行", "申請", "住基ネット照会")
LINK_MIGRATED = LINK_SOURCES[0]  # the register taken over: a link without a proposal

_KANJI_DIGITS = "〇一二三四五六七八九"


def kanji_number(n: int) -> str:
    """1..99 in the kanji numerals used for 丁目 (二丁目, 十二丁目)."""
    if not 0 < n < 100:
        raise ValueError(f"丁目の数が範囲外です: {n}")
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _KANJI_DIGITS[tens] + "十")
    return head + (_KANJI_DIGITS[ones] if ones else "")


def format_address(
    town: str, chome: int | None, banchi: int | None, go: int | None, katagaki: str = ""
) -> str:
    """The in-city display form, e.g. 「若葉町二丁目3番地5号」, 「八幡1234番地5」, 「奥山無番地」.

    In 丁目 towns ``go`` is the 号; in 地番 towns (no 丁目) it is the branch number
    (枝番, 「1234番地5」). ``banchi`` None means 無番地. 方書 follows after a space.
    """
    out = town
    if chome:
        out += f"{kanji_number(chome)}丁目"
    if banchi is None:
        out += "無番地"
    else:
        out += f"{banchi}番地"
        if go is not None:
            out += f"{go}号" if chome else f"{go}"
    if katagaki:
        out += f" {katagaki}"
    return out


def _search_key(length: int) -> Any:
    """A search-key column (``services.register.keys``): collate "C" on PostgreSQL so that a
    prefix is one B-tree range in code-point order, as SQLite's BINARY already is."""
    return Field(
        default="",
        sa_type=String(length).with_variant(String(length, collation="C"), "postgresql"),
        sa_column_kwargs={"server_default": ""},
    )


class Household(SQLModel, table=True):
    """世帯: one row per household; the head is a resident of it (世帯主)."""

    __tablename__ = "household"

    id: int | None = Field(default=None, primary_key=True)
    household_no: str = Field(max_length=16, unique=True, index=True)
    # 世帯主. Not a foreign key: household and resident would point at each other, and
    # that cycle complicates migrations on both backends. The services keep it equal to
    # the household's one resident whose 続柄 is 世帯主 (the seed tests check it).
    head_resident_id: int | None = Field(default=None, index=True)
    town: str = Field(max_length=40)
    chome: int | None = Field(default=None)
    banchi: int | None = Field(default=None)
    go: int | None = Field(default=None)
    katagaki: str = Field(default="", max_length=120)
    address: str = Field(max_length=200)


# The restricted residents' partial index: each condition is written as the search's own
# ``Resident.dv_support`` compiles on that backend, so that the planner matches it
# (SQLite uses a partial index only for a WHERE term written as the index's).
_DV_SQLITE = text("dv_support = 1")
_DV_POSTGRESQL = text("dv_support")


class Resident(SQLModel, table=True):
    """住民票: every item of docs/domain.md §2 for one person, kept after 消除."""

    __tablename__ = "resident"
    __table_args__ = (
        Index("ix_resident_name", "family_name", "given_name"),
        Index("ix_resident_kana", "family_kana", "given_kana"),
        Index("ix_resident_given_kana", "given_kana"),
        Index("ix_resident_address", "town", "chome", "banchi", "go"),
        # Search keys (services.register.keys). Each search runs on one range of one of
        # these; the columns after the first let the other items be checked inside the
        # index, before any row is read.
        Index("ix_resident_name_key", "name_key", "address_key", "block_key"),
        Index("ix_resident_given_key", "given_key", "address_key", "block_key"),
        Index("ix_resident_kana_key", "kana_key", "address_key", "block_key"),
        Index("ix_resident_given_kana_key", "given_kana_key", "address_key", "block_key"),
        Index("ix_resident_family_given_key", "family_key", "given_key"),
        Index("ix_resident_family_given_kana_key", "family_kana_key", "given_kana_key"),
        Index(
            "ix_resident_address_key",
            "address_key", "name_key", "given_key", "kana_key", "given_kana_key",
        ),
        Index(
            "ix_resident_block_key",
            "block_key", "name_key", "given_key", "kana_key", "given_kana_key",
        ),
        # DV等支援措置: the few restricted residents, which a search without the
        # permission matches apart from the address (services.lookup.search, point 8).
        Index("ix_resident_dv_support", "kana_key",
              sqlite_where=_DV_SQLITE, postgresql_where=_DV_POSTGRESQL),
    )

    id: int | None = Field(default=None, primary_key=True)
    # 住民票コード: 11 digits. Its check digit (総務省告示第436号) is not in our sources, so
    # the seed draws random unique digits; never validate it with the My Number formula.
    resident_code: str = Field(max_length=11, unique=True, index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    relationship: str = Field(max_length=16)  # 続柄
    family_name: str = Field(max_length=64)  # 氏, as written
    given_name: str = Field(max_length=64)  # 名, as written
    family_kana: str = Field(max_length=64)  # 氏の振り仮名 (katakana)
    given_kana: str = Field(max_length=64)  # 名の振り仮名 (katakana)
    birth_date: date = Field(sa_type=Date, index=True)
    sex: str = Field(max_length=2)  # 男 / 女
    town: str = Field(max_length=40)  # 町名
    chome: int | None = Field(default=None)  # 丁目 (None: the town has none)
    banchi: int | None = Field(default=None)  # 番地 (None: 無番地)
    go: int | None = Field(default=None)  # 号, or 枝番 in towns without 丁目
    katagaki: str = Field(default="", max_length=120)  # 方書 (building, room)
    address: str = Field(max_length=200)  # display form, see format_address
    became_resident_on: date = Field(sa_type=Date)  # 住民となった年月日
    address_set_on: date = Field(sa_type=Date)  # 住所を定めた年月日
    notified_on: date | None = Field(default=None, sa_type=Date)  # 届出日
    previous_address: str = Field(default="", max_length=200)  # 転入前住所
    honseki: str = Field(default="", max_length=200)  # 本籍 (Japanese nationals)
    honseki_head: str = Field(default="", max_length=120)  # 筆頭者
    status: str = Field(default=STATUS_RESIDENT, max_length=4, index=True)  # 住民 / 消除
    removed_on: date | None = Field(default=None, sa_type=Date)  # 消除日
    removal_reason: str = Field(default="", max_length=16)  # 転出 / 死亡 / 職権消除
    moved_to: str = Field(default="", max_length=200)  # 転出先
    is_foreign: bool = Field(default=False)
    nationality: str = Field(default="", max_length=40)  # 国籍・地域
    residence_status: str = Field(default="", max_length=40)  # 在留資格
    stay_expires_on: date | None = Field(default=None, sa_type=Date)  # 在留期間の満了日
    residence_card_no: str = Field(default="", max_length=12)  # 在留カード等の番号 AB12345678CD
    alias: str = Field(default="", max_length=120)  # 通称 (氏 and 名 separated by a space)
    alias_kana: str = Field(default="", max_length=120)
    dv_support: bool = Field(default=False)  # DV等支援措置: lookups are restricted and alerted
    # Search keys, filled by services.register.keys.resident_keys from the columns above;
    # never shown, never edited by hand.
    # One line a key (a pair by shape with the lines below): the columns the index reads.
    family_key: str = _search_key(64)
    given_key: str = _search_key(64)
    name_key: str = _search_key(128)
    name_exact: str = _search_key(128)
    given_exact: str = _search_key(64)
    family_kana_key: str = _search_key(64)
    given_kana_key: str = _search_key(64)
    kana_key: str = _search_key(128)
    kana_exact: str = _search_key(128)
    given_kana_exact: str = _search_key(64)
    address_key: str = _search_key(200)
    block_key: str = _search_key(40)


class ResidentChange(SQLModel, table=True):
    """異動履歴: one row per event (転入, 転居, 転出, 世帯変更, 出生, 死亡, 職権修正, 消除)."""

    __tablename__ = "resident_change"
    __table_args__ = (Index("ix_resident_change_resident_on", "resident_id", "occurred_on"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id")
    kind: str = Field(max_length=8)
    occurred_on: date = Field(sa_type=Date)  # 異動日
    notified_on: date | None = Field(default=None, sa_type=Date)  # 届出日
    before_summary: str = Field(default="", sa_type=Text)
    after_summary: str = Field(default="", sa_type=Text)


_ACTIVE = text("status = 'active'")


class IdentifierKey(SQLModel, table=True):
    """The check value of the key that seals this database's My Numbers (core.sealed):
    one row, written by ``juki db init``; a key whose check differs is refused."""

    __tablename__ = "identifier_key"

    id: int | None = Field(default=None, primary_key=True)
    check_value: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))


class MyNumberLink(SQLModel, table=True):
    """個人番号 linked to a resident. Revoked links stay as history.

    The database enforces one active link per resident and each number active at most
    once; the linkage workflow (propose, second reviewer, confirm) builds on this table,
    and its triggers admit an active link only as that workflow's outcome or as 初期移行.
    """

    # Partial unique indexes written like link_proposal's (a pair by shape): each its own rule.
    __tablename__ = "my_number_link"
    __table_args__ = (
        Index(
            "uq_my_number_link_active_number", "number", unique=True,
            sqlite_where=_ACTIVE, postgresql_where=_ACTIVE,
        ),
        Index(
            "uq_my_number_link_active_resident", "resident_id", unique=True,
            sqlite_where=_ACTIVE, postgresql_where=_ACTIVE,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    number: str = Field(sa_type=SealedNumber)  # 12 digits, sealed at rest (core.sealed)
    last4: str = Field(max_length=4, index=True)
    linked_at: datetime = Field(sa_type=DateTime(timezone=True))
    source: str = Field(max_length=16)  # 初期移行 / 申請 / 住基ネット照会
    status: str = Field(default=LINK_ACTIVE, max_length=8)  # active / revoked
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoke_reason: str = Field(default="", max_length=200)
    # The link proposal whose approval made this link (None: 初期移行). The database
    # refuses an active link without one approved by enough others (migration 0013).
    proposal_id: int | None = Field(default=None, index=True, unique=True)
