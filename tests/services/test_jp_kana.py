"""Kana readings: one search key, and a named kind for every difference a reviewer must see."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.jp.kana import (
    KANA_LONG,
    KANA_OTHER,
    KANA_SMALL,
    KANA_VOICING,
    is_kana,
    kana_difference,
    normalize_kana,
    readings_match,
)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("やまだ たろう", "ヤマダタロウ"),
        ("ヤマダ\u3000タロウ", "ヤマダタロウ"),
        ("ﾔﾏｻﾞｷ", "ヤマザキ"),
        ("ｷｬﾉﾝ", "キヤノン"),
        ("きゃのん", "キヤノン"),
        ("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ"),
        ("コーヒー", "コーヒー"),
        ("ｺｰﾋｰ", "コーヒー"),
        ("カ゛ッコウ", "ガツコウ"),  # a spacing ゛ typed after カ still voices it
        ("ジョン・スミス", "ジヨンスミス"),
        ("ささ ヽき", "サササキ"),
        ("ゔぁ", "ヴア"),
    ],
)
def test_normalize_kana(text: str, key: str) -> None:
    assert normalize_kana(text) == key


def test_voicing_and_long_vowels_are_not_folded() -> None:
    assert normalize_kana("ヤマサキ") != normalize_kana("ヤマザキ")
    assert normalize_kana("サイトウ") != normalize_kana("サイトー")
    assert readings_match("きゃのん", "キヤノン")
    assert not readings_match("やまさき", "ヤマザキ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("やまだ", True), ("ヤマダ タロウ", True), ("ｷｬﾉﾝ", True), ("コーヒー", True),
        ("山田", False), ("yamada", False), ("", False), ("  ", False), ("ヤマ田", False),
    ],
)
def test_is_kana(text: str, expected: bool) -> None:
    assert is_kana(text) is expected


@pytest.mark.parametrize(
    ("a", "b", "kind"),
    [
        ("ヤマサキ", "ヤマザキ", KANA_VOICING),
        ("はやし", "ハヤシ", None),
        ("ﾊﾔｼ", "ハヤシ", None),
        ("ヤマダ タロウ", "ヤマダタロウ", None),
        ("キヤノン", "キャノン", KANA_SMALL),
        ("サイトウ", "サイトー", KANA_LONG),
        ("オオノ", "オーノ", KANA_LONG),
        ("ユウコ", "ユーコ", KANA_LONG),
        ("ケイコ", "ケーコ", KANA_LONG),
        ("ショウジ", "シヨージ", f"{KANA_SMALL}・{KANA_LONG}"),
        ("コウノ", "ゴーノ", f"{KANA_VOICING}・{KANA_LONG}"),
        ("ヤマダ", "スズキ", KANA_OTHER),
        ("ヤマダ", "ヤマダコ", KANA_OTHER),
    ],
)
def test_kana_difference_names_the_kind(a: str, b: str, kind: str | None) -> None:
    assert kana_difference(a, b) == kind
    assert kana_difference(b, a) == kind


hiragana = st.text(alphabet=st.characters(min_codepoint=0x3041, max_codepoint=0x3096), max_size=12)
kana_ish = st.text(
    alphabet=st.sampled_from(list("あぁかがさざっゃやよょうーアァカガヵヶッヤャウヴ ・ｶﾞｯｰﾞ゛ヽヾ")),
    max_size=12,
)


@given(hiragana)
def test_hiragana_and_katakana_share_a_key(text: str) -> None:
    katakana = "".join(chr(ord(c) + 0x60) for c in text)
    assert normalize_kana(text) == normalize_kana(katakana)
    assert kana_difference(text, katakana) is None


@given(kana_ish)
def test_normalize_kana_is_idempotent(text: str) -> None:
    once = normalize_kana(text)
    assert normalize_kana(once) == once


@given(kana_ish, kana_ish)
def test_kana_difference_is_symmetric_and_none_only_for_equal_keys(a: str, b: str) -> None:
    kind = kana_difference(a, b)
    assert kind == kana_difference(b, a)
    if kind is None:
        assert normalize_kana(a) == normalize_kana(b)
    if normalize_kana(a) == normalize_kana(b):
        assert kind in (None, KANA_SMALL)
