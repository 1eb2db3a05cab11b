"""Address notation: every way of writing one 住所 meets at one key; real differences do not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.jp.address import (
    ADDRESS_DIFFERENT,
    ADDRESS_NOTATION,
    address_difference,
    normalize_address,
)

KANJI_DIGITS = "〇一二三四五六七八九"


def kanji(n: int) -> str:
    """二十三, 百五, 千二百: the positional way documents write a number (test's own reading)."""
    if n == 0:
        return "〇"
    out = ""
    for unit, mark in ((1000, "千"), (100, "百"), (10, "十")):
        q, n = divmod(n, unit)
        if q:
            out += ("" if q == 1 else KANJI_DIGITS[q]) + mark
    return out + (KANJI_DIGITS[n] if n else "")


@pytest.mark.parametrize(
    "text",
    [
        "東京都千代田区霞が関2丁目1番地2号",
        "東京都千代田区霞ケ関2丁目1番2号",
        "東京都千代田区霞ヶ関2-1-2",
        "東京都 千代田区 霞ヵ関 二丁目一番地二号",
        "東京都千代田区霞が関２－１－２",
        "東京都千代田区霞が関2‐1‐2",
        "東京都千代田区霞が関2–1—2",
        "東京都千代田区霞が関2−1ー2",
        "東京都千代田区霞ガ関2丁目1-2",
        "東京都千代田区霞が関2丁目1番地の2",
    ],
)
def test_notations_of_one_address_meet(text: str) -> None:
    assert normalize_address(text) == "東京都千代田区霞ケ関2-1-2"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("中央区八丁堀三丁目5番地", "中央区八丁堀3-5"),
        ("四日市市一番町二丁目", "四日市市一番町2丁目"),
        ("千代田区二番町5番地", "千代田区二番町5"),
        ("十日町市十日町二丁目十五番地の三", "十日町市十日町2-15-3"),
        ("千代田区九段南一丁目2番1号", "千代田区九段南1-2-1"),
        ("大字一ノ瀬123番地の4", "大字一ノ瀬123-4"),
        ("字山田無番地", "字山田無番地"),
        ("第二地割百二十三番地", "第2地割123"),
        ("札幌市中央区北一条西二丁目", "札幌市中央区北1条西2丁目"),
        ("丸の内一丁目", "丸ノ内1丁目"),
        ("1-2-3 ハイツ101号室", "1-2-3ハイツ101号室"),
        ("二〇三番地", "203"),
    ],
)
def test_place_names_keep_their_numerals(text: str, key: str) -> None:
    assert normalize_address(text) == key


def test_one_level_addresses_stay_apart() -> None:
    assert normalize_address("本町2丁目") != normalize_address("本町2番地")
    assert normalize_address("本町無番地") != normalize_address("本町")


def test_address_difference() -> None:
    assert address_difference("霞が関2-1-2", "霞が関 ２-１-２") is None
    assert address_difference("霞が関2-1-2", "霞ケ関二丁目一番地二号") == ADDRESS_NOTATION
    assert address_difference("霞が関2-1-2", "霞が関2-1-3") == ADDRESS_DIFFERENT
    assert address_difference("霞が関2丁目", "霞が関2番地") == ADDRESS_DIFFERENT


numbers = st.integers(min_value=1, max_value=1999)


@given(numbers, numbers, numbers)
def test_three_notations_of_a_triple_meet(a: int, b: int, c: int) -> None:
    wide = str.maketrans("0123456789-", "０１２３４５６７８９－")
    forms = [
        f"緑町{a}丁目{b}番地{c}号",
        f"緑町{a}丁目{b}番{c}号",
        f"緑町{a}-{b}-{c}",
        f"緑町{a}-{b}-{c}".translate(wide),
        f"緑町{kanji(a)}丁目{kanji(b)}番地{kanji(c)}号",
        f"緑町 {kanji(a)}丁目{kanji(b)}番地の{kanji(c)}",
    ]
    keys = {normalize_address(form) for form in forms}
    assert keys == {f"緑町{a}-{b}-{c}"}


address_text = st.text(
    alphabet=st.sampled_from(
        list("0123456789０１二三十百〇丁目番地号の第割条町霞関ケヶがヵノ-ー－‐ 室無")
    ),
    max_size=16,
)


@given(address_text)
def test_normalisation_is_idempotent(text: str) -> None:
    key = normalize_address(text)
    assert normalize_address(key) == key


@given(st.text(max_size=20))
def test_normalisation_is_idempotent_on_any_text(text: str) -> None:
    key = normalize_address(text)
    assert normalize_address(key) == key
