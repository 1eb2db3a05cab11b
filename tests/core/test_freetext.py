"""The one free-text rule: bad characters refused naming the field, My Numbers masked."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import BadInput
from core.freetext import field_text, has_my_number, mask_my_numbers, problem

FULL = str.maketrans("0123456789", "０１２３４５６７８９")
SEPARATORS = [" ", "-", "\u3000", "\uff0d", "\u2212", "\u2010"]

# Characters that hide or reorder text: C0/DEL/C1 controls, bidi controls, zero-width
# characters and joiners, BOM, soft hyphen, line/paragraph separators, a tag character.
HIDDEN = (
    [chr(c) for c in range(0x00, 0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
    + [chr(c) for c in (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068,
                        0x2069, 0x200E, 0x200F, 0x061C, 0x200B, 0x200C, 0x200D, 0x2060,
                        0xFEFF, 0x00AD, 0x2028, 0x2029, 0xE0001, 0x180E)]
)
IVS = [chr(c) for c in range(0xE0100, 0xE01F0)]

# Text around a number: anything but a digit or a separator next to it (those would make
# the number part of a longer one, see core.freetext).
filler = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Nd",)),
        st.sampled_from(list("個人番号はですNo.:/（）「」MN佐藤髙﨑")),
    ),
    max_size=12,
)
digits12 = st.text(alphabet="0123456789", min_size=12, max_size=12)


@st.composite
def written(draw: st.DrawFn) -> tuple[str, str]:
    """A 12-digit number as a person might type it, and its ASCII digits."""
    number = draw(digits12)
    groups = [number[:4], number[4:8], number[8:]]
    if draw(st.booleans()):
        seps = [draw(st.sampled_from(["", *SEPARATORS])) for _ in range(2)]
        text = groups[0] + seps[0] + groups[1] + seps[1] + groups[2]
    else:
        text = number
    if draw(st.booleans()):
        text = text.translate(FULL)
    return text, number


JOINERS = set(SEPARATORS) | set("ーｰ\u2011\u2012\u2013\u2014\u2015")


@given(st.lists(st.tuples(filler, written()), min_size=1, max_size=4), filler)
def test_every_my_number_run_is_masked_keeping_its_last_four(
    parts: list[tuple[str, tuple[str, str]]], tail: str
) -> None:
    text, expected = "", ""
    for before, (typed, number) in parts:
        if text and all(ch in JOINERS for ch in before):
            before += "は"  # two numbers joined by a separator would be one longer number
        text += before + typed
        expected += before + "**** **** " + number[-4:]
    text += tail
    expected += tail
    out = mask_my_numbers(text)
    assert out == expected
    assert not has_my_number(out)


@pytest.mark.parametrize("kept", [
    "2025-04-01", "令和7年4月1日", "090-1234-5678", "03-1234-5678", "12345678901",  # 住民票コード
    "1234567890123",  # 13 digits: a 法人番号, not a My Number
    "1234 5678 9012 3456", "1234-5678-9012-3456", "12345678901234567890",
    "電話 0120-123-456", "郵便番号 123-4567", "123 4567 8901",
])
def test_what_is_not_a_12_digit_run_is_left_alone(kept: str) -> None:
    assert mask_my_numbers(kept) == kept


@pytest.mark.parametrize(("typed", "shown"), [
    ("123456789018", "**** **** 9018"),
    ("個人番号は1234 5678 9018です", "個人番号は**** **** 9018です"),
    ("１２３４－５６７８－９０１８", "**** **** 9018"),
    ("MN123456789012。", "MN**** **** 9012。"),
    ("12345678-9012 ", "**** **** 9012 "),
    ("a 123456789012 3件", "a **** **** 9012 3件"),
])
def test_examples(typed: str, shown: str) -> None:
    assert mask_my_numbers(typed) == shown


@given(st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(HIDDEN)),
               max_size=30), st.sampled_from(HIDDEN), st.integers(0, 30))
def test_no_control_bidi_or_zero_width_character_passes(
    text: str, hidden: str, at: int
) -> None:
    value = "佐" + text[:at] + hidden + text[at:] + "藤"  # inside, not trimmed away
    with pytest.raises(BadInput) as caught:
        field_text("氏名", value)
    assert caught.value.message.startswith("氏名: ")
    assert problem(value)


@given(st.text(alphabet=st.one_of(st.sampled_from(IVS), st.sampled_from(list("葛城辻邉髙﨑 𠮷"))),
               min_size=1, max_size=20))
def test_variation_selectors_and_japanese_text_are_kept(value: str) -> None:
    assert problem(value) == ""
    assert field_text("氏名", value) == unicodedata.normalize("NFC", value).strip()


def test_a_multiline_field_keeps_its_newlines_only() -> None:
    assert field_text("備考", "一行目\r\n二行目\tと", multiline=True) == "一行目\n二行目\tと"
    with pytest.raises(BadInput, match=r"^備考: 制御文字 \(U\+000A\)"):
        field_text("備考", "一行目\n二行目")
    with pytest.raises(BadInput, match=r"^備考: 見えない書式文字 \(U\+202E\)"):
        field_text("備考", "一行目\n\u202e二行目", multiline=True)


def test_private_use_gaiji_is_refused_naming_it() -> None:
    assert problem("佐\ue000") == "外字 (私用領域の文字 U+E000) は使えません"


def test_limit_and_required_name_the_field() -> None:
    with pytest.raises(BadInput, match=r"^理由: 5文字以内"):
        field_text("理由", "123456", limit=5)
    with pytest.raises(BadInput, match=r"^理由: 入力してください。"):
        field_text("理由", "  ", required="入力してください。")
