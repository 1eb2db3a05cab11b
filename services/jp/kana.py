"""Kana readings (氏名の振り仮名): one comparison key, and names for the ways two differ.

Readings arrive in hiragana or katakana, full or half width, with spaces, and old data
stored small kana as large (キャ as キヤ). ``normalize_kana`` folds all of that so a
search matches. Voicing (ヤマサキ / ヤマザキ) and long vowels (サイトウ / サイトー) are real
ambiguities of a reading, so they are NOT folded: ``kana_difference`` names them, and the
linkage reviewer sees the flag instead of a silent match (docs/domain.md §8.4).
"""

from __future__ import annotations

import re
import unicodedata
from itertools import combinations

import jaconv

SMALL_TO_LARGE = str.maketrans(
    "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
    "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ",
)
# Word separators in readings of foreign names (ジョン・スミス, ジョン＝スミス) count as spaces;
# dashes typed for the long-vowel mark count as ー.
_SEPARATORS = re.compile(r"[\s・=]+")
_DASHES = re.compile("[-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2500]")
_VOICE_MARKS = "\u3099\u309a"

KANA_SMALL = "小書き"
KANA_VOICING = "清濁"
KANA_LONG = "長音"
KANA_OTHER = "読みの違い"
_KINDS = (KANA_SMALL, KANA_VOICING, KANA_LONG)

_VOWEL_ROWS = {
    "ア": "アカガサザタダナハバパマヤラワァャヮヵ",
    "イ": "イキギシジチヂニヒビピミリヰィ",
    "ウ": "ウクグスズツヅヌフブプムユルヴゥュ",
    "エ": "エケゲセゼテデネヘベペメレヱェヶ",
    "オ": "オコゴソゾトドノホボポモヨロヲォョ",
}
_VOWEL_OF = {ch: vowel for vowel, row in _VOWEL_ROWS.items() for ch in row}
# After a kana of this vowel these letters only lengthen it: コウ = コー, ケイ = ケー, オオ = オー.
_LENGTHENERS = {"ア": "ア", "イ": "イ", "ウ": "ウ", "エ": "エイ", "オ": "オウ"}


def _katakana(text: str) -> str:
    """NFKC, separators out, hiragana as katakana, iteration marks written out."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    # NFKC turns a spacing ゛ into space + combining mark: compose again once spaces are gone.
    text = unicodedata.normalize("NFC", jaconv.hira2kata(text))
    text = _DASHES.sub("ー", text)
    out: list[str] = []
    for ch in text:
        if ch in "ヽヾ" and out:
            base = unicodedata.normalize("NFD", out[-1])[0]
            ch = unicodedata.normalize("NFC", base + "\u3099") if ch == "ヾ" else base
        out.append(ch)
    return "".join(out)


def normalize_kana(text: str) -> str:
    """The comparison key for readings: NFKC, katakana, no spaces, small kana as large.

    ー is kept, voicing is kept: ヤマサキ and ヤマザキ stay different keys.
    """
    # Composed again: a voicing mark left after ヵ composes once ヵ is カ (ヵ゛ → ガ).
    return unicodedata.normalize("NFC", _katakana(text).translate(SMALL_TO_LARGE))


def is_kana(text: str) -> bool:
    """True if the text (spaces and ・ aside) is non-empty and only hiragana/katakana/ー."""
    s = _katakana(text)
    return bool(s) and all(
        "\u3041" <= ch <= "\u309f" or "\u30a0" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff"
        for ch in s
    )


def _unvoiced(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _VOICE_MARKS))


def _short(text: str) -> str:
    out: list[str] = []
    previous = ""
    for ch in text:
        vowel = _VOWEL_OF.get(previous)
        if ch != "ー" and not (vowel and ch in _LENGTHENERS[vowel]):
            out.append(ch)
        previous = ch if ch != "ー" else previous
    return "".join(out)


_FOLDS = {
    KANA_SMALL: lambda s: unicodedata.normalize("NFC", s.translate(SMALL_TO_LARGE)),
    KANA_VOICING: _unvoiced,
    KANA_LONG: _short,
}


def _fold(text: str, kinds: tuple[str, ...]) -> str:
    for kind in _KINDS:  # fixed order: small, voicing, long vowel
        if kind in kinds:
            text = _FOLDS[kind](text)
    return text


def kana_difference(a: str, b: str) -> str | None:
    """How two readings differ, for a reviewer's flag; None if they are the same reading.

    Width, hiragana/katakana and spacing are not differences. Otherwise the answer names
    the fewest kinds that explain it, joined by ・ in the order 小書き・清濁・長音
    (ヤマサキ/ヤマザキ → "清濁", キヤ/キャ → "小書き", サイトウ/サイトー → "長音"), or
    "読みの違い" when none of them does.
    """
    x, y = _katakana(a), _katakana(b)
    if x == y:
        return None
    for size in (1, 2, 3):
        for kinds in combinations(_KINDS, size):
            if _fold(x, kinds) == _fold(y, kinds):
                return "・".join(kinds)
    return KANA_OTHER


def readings_match(a: str, b: str) -> bool:
    """True if two readings have the same ``normalize_kana`` key (what a search matches)."""
    return normalize_kana(a) == normalize_kana(b)


__all__ = [
    "KANA_LONG",
    "KANA_OTHER",
    "KANA_SMALL",
    "KANA_VOICING",
    "is_kana",
    "kana_difference",
    "normalize_kana",
    "readings_match",
]
