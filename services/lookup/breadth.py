"""The no-browsing rule (``services.lookup.search``, point 4): is a parsed query narrow
enough to run, and if not, what to add — by rough shares of the register each item
leaves. ``services.lookup.statement.driver`` runs the query on the smallest share."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.settings import Settings
from services.lookup.query import Parsed
from services.register.keys import AddressQuery, NameQuery

# Rough shares of the register that one item leaves: the worst prefix of each length in
# the synthetic register (given names included, as a name part matches 名 too), rounded
# up. The breadth rule multiplies them; ``driver`` runs the query on the smallest.
KANA_SHARE = (0.12, 0.05, 0.03, 0.02, 0.002)  # a reading part of 1, 2, 3, 4, 5+ kana
NAME_SHARE = (0.06, 0.03, 0.01, 0.001)  # a written part of 1, 2, 3, 4+ characters
TOWN_SHARE = (0.07, 0.025, 0.006)  # 町名 with 0, 1, 2+ numbers (若葉町 / 若葉町2 / 若葉町2-1)
BLOCK_SHARE = (0.3, 0.015, 0.006)  # only 丁目-番地-号 typed: 1, 2, 3 numbers
BIRTH_SHARE = 0.0002  # one 生年月日


@dataclass(frozen=True)
class Breadth:
    """The no-browsing limits (settings ``lookup_max_share``, ``lookup_whole_name_*``,
    ``lookup_address_min_chars``); the defaults are the ones argued below.

    ``max_share``: the most a query may leave, as a share of the register: 佐藤 + 若葉町
    (0.0021), サトウ + 若葉町 and タ + 若葉町2-1 pass; サ + 若葉町 (0.0084), 佐 + 若葉町
    (0.0042) and タ + 若葉町2 (0.003) need more. ``whole_name``: a whole name alone needs
    (氏, 名) at least this long, as written and in kana; the 氏 bounds the index range
    read (佐藤 or サトウ: 2% of the register), the 名 only narrows inside it.
    """

    max_share: float = 0.0025
    whole_name_written: tuple[int, int] = (2, 1)
    whole_name_kana: tuple[int, int] = (3, 2)
    address_min_chars: int = 2  # an address part narrows from 2 characters of its key

    @classmethod
    def of(cls, settings: Settings) -> Breadth:
        return cls(
            max_share=float(settings.lookup_max_share),
            whole_name_written=(int(settings.lookup_whole_name_family_min),
                                int(settings.lookup_whole_name_given_min)),
            whole_name_kana=(int(settings.lookup_whole_name_family_min_kana),
                             int(settings.lookup_whole_name_given_min_kana)),
            address_min_chars=int(settings.lookup_address_min_chars),
        )

    def whole_name_min(self, kana: bool) -> tuple[int, int]:
        return self.whole_name_kana if kana else self.whole_name_written


DEFAULT_BREADTH = Breadth()

TOO_BROAD = "検索条件が広すぎます。"


def _pick(shares: tuple[float, ...], n: int) -> float:
    return shares[min(max(n, 1), len(shares)) - 1]


def name_share(n: NameQuery) -> float:
    shares = KANA_SHARE if n.kana else NAME_SHARE
    if n.split:
        return _pick(shares, len(n.family)) * _pick(shares, len(n.given))
    return _pick(shares, len(n.fold))


def address_share(a: AddressQuery) -> float:
    numbers = len(re.findall(r"[0-9]+", a.key))
    if a.block:
        return _pick(BLOCK_SHARE, numbers)
    return _pick(TOWN_SHARE, numbers + 1)


def _whole_name(name: NameQuery, limits: Breadth) -> bool:
    """Both 氏 and 名 typed, each long enough to stand alone."""
    family, given = limits.whole_name_min(name.kana)
    return name.split and len(name.family) >= family and len(name.given) >= given


def breadth_problem(p: Parsed, limits: Breadth = DEFAULT_BREADTH) -> str | None:
    """None when the query is narrow enough to run; else what to add, in Japanese.

    Enough: a 住民票コード, 世帯番号 or 個人番号; a whole name 「氏 名」 (``limits.whole_name_*``);
    or two of 氏名の一部・生年月日・住所 whose shares together leave at most
    ``limits.max_share`` of the register. 性別 only filters.
    """
    if p.has_code:
        return None
    if p.name is not None and _whole_name(p.name, limits):
        return None
    address = p.address
    if address is not None and len(address.key) < limits.address_min_chars:
        address = None
    shares = [
        x for x in (
            name_share(p.name) if p.name is not None else None,
            BIRTH_SHARE if p.birth is not None else None,
            address_share(address) if address is not None else None,
        ) if x is not None
    ]
    if len(shares) >= 2:
        product = 1.0
        for x in shares:
            product *= x
        if product <= limits.max_share:
            return None
        return (
            f"{TOO_BROAD}氏名をもう少し入力するか（漢字は2文字以上、かなは3文字以上）、"
            "住所を丁目・番地まで、または生年月日を入力してください。"
        )
    if p.name is not None:
        family, given = limits.whole_name_min(p.name.kana)
        return (
            f"{TOO_BROAD}氏名の一部に加えて、生年月日・住所のいずれかを入力してください。"
            f"氏名だけで探すときは、氏と名の間を空けて、氏を{family}文字以上、"
            f"名を{given}文字以上入力してください。"
        )
    if p.birth is not None:
        return f"{TOO_BROAD}生年月日に加えて、氏名の一部・住所のいずれかを入力してください。"
    if p.address is not None:
        if address is None:
            return (
                f"{TOO_BROAD}住所は町名、または丁目・番地まで入力し、"
                "氏名の一部・生年月日のいずれかを加えてください。"
            )
        return f"{TOO_BROAD}住所に加えて、氏名の一部・生年月日のいずれかを入力してください。"
    return (
        "検索条件を入力してください。住民票コード・世帯番号・個人番号のいずれか、"
        "氏名（氏と名の間を空けて全体）、または氏名の一部・生年月日・住所のうち2つが必要です。"
    )
