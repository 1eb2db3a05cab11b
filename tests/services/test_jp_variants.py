"""異体字: the table folds what NFKC does not, and every variant match can explain itself."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.jp.variants import (
    CANONICAL,
    NAME_DIFFERENT,
    NAME_VARIANT,
    VARIANT_GROUPS,
    explain_variants,
    fold_variants,
    name_difference,
    name_exact_key,
    normalize_name,
    variant_chars,
    variant_pairs,
)

TSUKA_COMPAT = "\ufa10"  # 塚 as a CJK compatibility ideograph
IVS = "\U000e0100"


@pytest.mark.parametrize("ch", ["髙", "﨑", "邊", "齋", "濱", "澤", "國", "\U00020bb7"])
def test_nfkc_does_not_fold_name_variants(ch: str) -> None:
    assert unicodedata.normalize("NFKC", ch) == ch
    assert fold_variants(ch) != ch


def test_nfkc_does_fold_compatibility_ideographs_so_the_exact_key_keeps_them() -> None:
    assert unicodedata.normalize("NFKC", TSUKA_COMPAT) == "塚"
    assert name_exact_key(TSUKA_COMPAT + "本") == TSUKA_COMPAT + "本"
    assert normalize_name(TSUKA_COMPAT + "本") == "塚本"


@pytest.mark.parametrize(
    "group",
    [
        "髙高", "﨑崎嵜", "邊邉辺", "齋齊斎斉", "濱浜", "澤沢", "國国", "廣広", "櫻桜", "嶋島嶌",
        "德徳", "惠恵", "眞真", "冨富", "藏蔵", "瀨瀬", "桒桑", "槇槙", "淵渕", "條条", "龍竜",
        "籠篭", "峯峰", "曽曾", "栁柳", "\U00020bb7吉", "塚\ufa10", "祐\ufa4f", "隆\uf9dc",
    ],
)
def test_issue_groups_fold_together(group: str) -> None:
    assert len({fold_variants(ch) for ch in group}) == 1


def test_table_is_large_and_each_character_has_one_group() -> None:
    assert len(VARIANT_GROUPS) >= 60
    chars = [ch for group in VARIANT_GROUPS for ch in group]
    assert len(chars) == len(set(chars))
    assert all(fold_variants(canonical) == canonical for canonical in set(CANONICAL.values()))


def test_normalize_name_is_the_search_key() -> None:
    assert normalize_name("髙橋") == normalize_name("高橋") == "高橋"
    assert normalize_name("山田　太郎") == normalize_name("山田 太郎") == "山田太郎"
    assert normalize_name("渡邉 﨑子") == "渡辺崎子"
    assert normalize_name("佐々木") == normalize_name("佐佐木")
    assert normalize_name("やまだ はなこ") == normalize_name("ﾔﾏﾀﾞ ﾊﾅｺ") == "ヤマダハナコ"
    assert normalize_name("\U00020bb7田") == "吉田"


def test_variation_selectors_leave_the_fold_key_but_stay_in_the_exact_key() -> None:
    tsuji = "辻" + IVS
    assert normalize_name(tsuji + "本") == "辻本"
    assert name_exact_key(tsuji + "本") == tsuji + "本"
    assert fold_variants("葛\ufe00") == "葛"


def test_variant_chars_explains_a_name() -> None:
    assert variant_chars("髙﨑髙子") == [("髙", "高"), ("﨑", "崎")]
    assert variant_chars("山田") == []
    assert variant_chars("\U00020bb7野") == [("\U00020bb7", "吉")]


def test_variant_pairs_and_name_difference() -> None:
    assert variant_pairs("高橋", "髙橋") == [("高", "髙")]
    assert variant_pairs("高橋", "高 橋") == []
    assert variant_pairs("高橋", "鈴木") is None
    assert variant_pairs("辻", "辻" + IVS) == [("辻", "辻" + IVS)]
    assert name_difference("高橋", "髙橋") == NAME_VARIANT
    assert name_difference("辻", "辻" + IVS) == NAME_VARIANT
    assert name_difference("高橋 一郎", "高橋一郎") is None
    assert name_difference("高橋", "高畑") == NAME_DIFFERENT
    assert explain_variants("高崎", "髙﨑") == "異体字 高→髙, 崎→﨑"
    assert explain_variants("高崎", "高崎") == ""
    assert name_difference(IVS + "田", "田") is None  # a selector before nothing selects nothing


names = st.text(
    alphabet=st.sampled_from([*"".join(VARIANT_GROUPS), "田", "中", "々", " ", IVS, "\ufe01"]),
    max_size=10,
)


@given(names)
def test_fold_is_idempotent_and_only_drops_selectors(text: str) -> None:
    folded = fold_variants(text)
    assert fold_variants(folded) == folded
    assert len(folded) == len([c for c in text if c not in (IVS, "\ufe01")])


@given(names, names)
def test_name_difference_agrees_with_the_search_key(a: str, b: str) -> None:
    kind = name_difference(a, b)
    assert kind == name_difference(b, a)
    assert (kind == NAME_DIFFERENT) == (normalize_name(a) != normalize_name(b))
