"""The one sanitising helper: nothing dangerous survives, Japanese text does."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from textual.content import Content

from core.inert import (
    as_markup,
    as_text,
    clean,
    clean_line,
    dumps,
    has_variation_selector,
    is_inert,
)

DANGEROUS = (
    [chr(c) for c in range(0x00, 0x20) if chr(c) not in "\t\n"]
    + ["\x7f"]
    + [chr(c) for c in range(0x80, 0xA0)]
    + ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
       "\u200e", "\u200f", "\u061c"]
)

any_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(DANGEROUS),
        st.sampled_from(list("[]\\/@=$")),
    ),
    max_size=60,
)


@given(any_text)
def test_no_control_or_bidi_character_survives(value: str) -> None:
    out = clean(value)
    assert not any(ch in DANGEROUS for ch in out)
    assert is_inert(out)
    assert not any(ch in DANGEROUS or ch == "\n" for ch in clean_line(value))


@given(any_text)
def test_markup_is_shown_literally(value: str) -> None:
    """Whatever the value, escaping then parsing as markup gives back the cleaned text."""
    content = Content.from_markup(as_markup(value))
    assert content.plain == clean(value)
    assert not content.spans  # no style, no @click action survives


@given(any_text)
def test_text_cells_are_literal(value: str) -> None:
    cell = as_text(value)
    assert cell.plain == clean_line(value)
    assert not cell.spans


JAPANESE = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x3040, max_codepoint=0x30FF),  # kana
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK
        st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF),  # Ext B (𠮷)
        st.characters(min_codepoint=0xE0100, max_codepoint=0xE01EF),  # IVS
        st.sampled_from(list("髙﨑邊邉齋濱澤國廣櫻嶋ー・　０１２３ｱｲｳ丁目番地号")),
    ),
    max_size=40,
)


@given(JAPANESE)
def test_japanese_text_passes_unchanged(value: str) -> None:
    assert clean(value) == value
    assert Content.from_markup(as_markup(value)).plain == value


def test_known_attacks_are_inert() -> None:
    name = "山田[b]太郎[/b][@click=app.quit]\x1b[2J\x1b]0;pwned\x07\u202eolleh"
    out = clean(name)
    assert out == "山田[b]太郎[/b][@click=app.quit][2J]0;pwnedolleh"
    assert Content.from_markup(as_markup(name)).plain == out


def test_variation_selectors_are_kept() -> None:
    katsuragi = "葛\U000E0100城"  # 葛 with IVS
    assert clean(katsuragi) == katsuragi
    assert has_variation_selector(clean(katsuragi))
    assert unicodedata.normalize("NFC", clean("𠮷田")) == "𠮷田"


# --- JSON for files and terminals: every control, format and separator escaped ------------

# What no JSON the console prints or writes may carry raw: C0 (json escapes these anyway),
# DEL, C1 (NEL splits lines for str.splitlines), bidi controls, zero-width characters and
# tag characters, U+2028/U+2029 (line breaks to JavaScript and to str.splitlines).
JSON_RAW_FORBIDDEN = [
    *DANGEROUS, "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u2028",
    "\u2029", "\U000e0001", "\U000e0041",
]

any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


@given(any_json)
def test_dumps_is_inert_and_gives_back_the_exact_value(value: object) -> None:
    text = dumps(value, sort_keys=True)
    assert not any(ch in JSON_RAW_FORBIDDEN for ch in text)
    assert text.splitlines() == [text] or text == ""  # one line, however it is split
    assert json.loads(text) == value
    text.encode("utf-8")  # no lone surrogate left raw


@given(JAPANESE)
def test_dumps_keeps_japanese_readable(value: str) -> None:
    assert dumps({"氏名": value}) == json.dumps({"氏名": value}, ensure_ascii=False)


def test_dumps_escapes_the_known_attacks() -> None:
    name = "\x1b]0;pwned\x07\x9b31m\u202e\u2028\x85\u200b葛\U000E0100城"
    text = dumps({"氏名": name})
    assert text == ('{"氏名": "\\u001b]0;pwned\\u0007\\u009b31m\\u202e\\u2028\\u0085'
                    '\\u200b葛\U000E0100城"}')
    assert json.loads(text) == {"氏名": name}
