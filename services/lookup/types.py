"""The lookup workspace's contract: what a query holds and what comes back.

Shared by the service (``services.lookup.search`` / ``.record``) and the screens, so
that both sides agree on names before either is finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar


@dataclass(frozen=True)
class LookupQuery:
    """What the clerk typed. Raw text: the service parses and normalises it."""

    purpose: str  # one of settings.lookup_purposes — required before any search
    name: str = ""  # 氏名 in kanji or kana, whole or part ("佐藤", "さとう はな", "髙橋 太郎")
    birth: str = ""  # 生年月日, 西暦 or 和暦 (令和7年12月12日, R7.12.12, 1985-04-01)
    sex: str = ""  # "" (any), "男", "女"
    address: str = ""  # part of 住所: 町名, 2-1-2, 二丁目一番地二号 …
    resident_code: str = ""  # 住民票コード, 11 digits
    household_no: str = ""  # 世帯番号
    my_number: str = ""  # 個人番号 — needs Perm.LOOKUP_MY_NUMBER; never recorded
    include_removed: bool = False  # 消除 residents only when asked for


@dataclass(frozen=True)
class Hit:
    """One result row; ``reasons`` says why it matched, exact matches rank first.

    A restricted resident, for a searcher without the DV permission, keeps only the
    fields of ``KEPT_WHEN_WITHHELD`` (``services.restricted``): the rest are blank.
    """

    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({"resident_id", "name", "exact"})

    resident_id: int
    name: str  # as written, 氏 and 名 separated by a space
    kana: str
    birth_date: date | None  # None only when withheld
    sex: str
    address: str
    status: str  # 住民 / 消除
    restricted: bool  # DV等支援措置: listed with a marker, opened only with permission
    exact: bool  # False when only a 異体字 / kana-variant match
    reasons: tuple[str, ...]  # e.g. ("氏名 完全一致", "生年月日 一致") or ("異体字 高→髙",)
    withheld: bool = False  # restricted, and the searcher may not see more than the name


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[Hit, ...]
    capped: bool  # True when more rows matched than the cap
    cap: int
    normalized: dict[str, str] = field(default_factory=dict)  # what was recorded


@dataclass(frozen=True)
class Member:
    """A member of the resident's household, as the record shows it (a restricted
    member, to a reader without the DV permission: the name only)."""

    KEPT_WHEN_WITHHELD: ClassVar[frozenset[str]] = frozenset({"resident_id", "name"})

    resident_id: int
    name: str
    relationship: str  # 続柄
    birth_date: date | None  # None only when withheld
    sex: str
    status: str
    restricted: bool
    withheld: bool = False


@dataclass(frozen=True)
class Change:
    kind: str  # 転入 / 転居 / 転出 / 世帯変更 / 出生 / 死亡 / 職権修正 / 消除
    occurred_on: date
    notified_on: date | None
    before: str
    after: str


@dataclass(frozen=True)
class ResidentRecord:
    """Everything of docs/domain.md §2 for one resident; My Number only masked."""

    resident_id: int
    items: tuple[tuple[str, str], ...]  # (Japanese label, display value), dates as 和暦 (西暦)
    name: str
    status: str
    restricted: bool
    household_no: str
    my_number_masked: str  # "**** **** 1234", or "" when no number is linked
    members: tuple[Member, ...]
    changes: tuple[Change, ...]
    link_id: int | None = None  # the active My Number link (to propose its unlinking)
    open_proposal: int | None = None  # a draft or pending linkage proposal for the resident
