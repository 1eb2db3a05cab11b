"""異体字 in names: an explicit table, a fold key for search, and an explanation per row.

A legal name is written as the person writes it — 髙 is not 高, 﨑 is not 崎 — yet a
clerk searching 高橋 must be offered 髙橋 (docs/domain.md §5.1). Unicode NFKC does not fold
these pairs, so the table below does. It is a search aid only: stored names are never
rewritten, and a match found through the table is reported as a variant match.

Notes on Unicode that shaped this module:
* CJK compatibility ideographs (塚 U+FA10, 祐 U+FA4F, 隆 U+F9DC …) DO have canonical
  decompositions, so NFC/NFKC silently turn them into the unified form. The exact key
  (``name_exact_key``) therefore keeps them as written; the fold key maps them.
* Ideographic variation selectors (U+E0100–E01EF, U+FE00–FE0F) pick a glyph of the same
  character (辻 with one or two dots): kept in stored names and the exact key, dropped
  from the fold key.
"""

from __future__ import annotations

import re
import unicodedata

import jaconv

# Each string is one group; its first character is the canonical form used in the fold key.
# Compatibility ideographs are written as escapes so no editor can normalise them away.
VARIANT_GROUPS: tuple[str, ...] = (
    "高髙", "崎﨑嵜碕", "辺邊邉", "斎齋齊斉", "浜濱濵", "沢澤", "国國圀", "広廣", "桜櫻",
    "島嶋嶌㠀", "徳德", "恵惠", "真眞", "富冨", "蔵藏", "瀬瀨", "桑桒", "槙槇", "淵渕",
    "条條", "竜龍", "籠篭", "峰峯", "曽曾", "柳栁", "吉\U00020bb7", "土\U0002123d圡",
    "塚\ufa10", "祐\ufa4f", "隆\uf9dc", "郎郞\uf92c", "朗\uf929", "神\ufa19", "祥\ufa1a",
    "福\ufa1b", "禎\ufa53", "都\ufa26", "猪\ufa16", "逸\ufa67", "海\ufa45", "琢\ufa4a",
    "渚\ufa46", "亀龜", "桧檜", "鉄鐵銕", "栄榮", "来來", "万萬", "与與", "礼禮", "寿壽",
    "実實", "学學", "弥彌", "円圓", "関關", "滝瀧", "沖冲", "凛凜", "瑶瑤", "穂穗", "野埜",
    "松枩", "館舘", "黒黑", "恒恆", "晃晄", "晋晉", "清淸", "静靜", "青靑", "秋穐龝",
    "鶴靍靏", "増增", "尭堯", "巌巖", "豊豐", "将將", "壮壯", "伝傳", "児兒", "園薗",
    "村邨", "兎兔", "藪薮籔", "芦蘆", "船舩", "鴎鷗", "蛍螢", "遥遙", "横橫", "緑綠",
    "聡聰", "勲勳", "彦彥", "顕顯", "剣劍劔", "奥奧", "浅淺", "渋澁", "会會", "岳嶽",
    "峡峽", "渓溪", "県縣", "ケヶヵ",
)

CANONICAL: dict[str, str] = {
    ch: group[0] for group in VARIANT_GROUPS for ch in group if ch != group[0]
}

NAME_VARIANT = "異体字"
NAME_DIFFERENT = "氏名の違い"

_SPACES = re.compile(r"\s+")
_ITERATION = "々〻"


def is_variation_selector(ch: str) -> bool:
    """U+FE00–FE0F (standardised) or U+E0100–E01EF (ideographic variation sequences)."""
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _is_compat_ideograph(ch: str) -> bool:
    code = ord(ch)
    return 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F


def _canonical(ch: str) -> str:
    if ch in CANONICAL:
        return CANONICAL[ch]
    if _is_compat_ideograph(ch):  # the other ~1000 compatibility ideographs: their NFC form
        unified = unicodedata.normalize("NFC", ch)
        return CANONICAL.get(unified, unified)
    return ch


def fold_variants(text: str) -> str:
    """Every character as its group's canonical form; variation selectors dropped.

    々 is written out as the character it repeats (佐々木 → 佐佐木) so both spellings meet.
    Only the table and compatibility ideographs are folded; nothing else changes.
    """
    out: list[str] = []
    for ch in text:
        if is_variation_selector(ch):
            continue
        if ch in _ITERATION and out:
            out.append(out[-1])
            continue
        out.append(_canonical(ch))
    return "".join(out)


def _nfkc_keeping_ideographs(text: str) -> str:
    """NFKC for width and compatibility forms, leaving compatibility ideographs as written."""
    parts: list[str] = []
    run: list[str] = []
    for ch in text:
        if _is_compat_ideograph(ch):
            parts.append(unicodedata.normalize("NFKC", "".join(run)))
            parts.append(ch)
            run = []
        else:
            run.append(ch)
    parts.append(unicodedata.normalize("NFKC", "".join(run)))
    return "".join(parts)


def name_exact_key(text: str) -> str:
    """The key for an exact name match: width folded, spaces out, hiragana as katakana.

    Kanji are kept as written, variation selectors included, so 髙橋 ≠ 高橋 here.
    """
    return jaconv.hira2kata(_SPACES.sub("", _nfkc_keeping_ideographs(text)))


def normalize_name(text: str) -> str:
    """The search key for names: ``name_exact_key`` then ``fold_variants`` (髙橋 → 高橋)."""
    return fold_variants(name_exact_key(text))


def _glyphs(text: str) -> list[str]:
    """Characters with their variation selectors attached (辻 + U+E0100 is one glyph).

    A selector with no character before it selects nothing and is dropped.
    """
    out: list[str] = []
    for ch in text:
        if not is_variation_selector(ch):
            out.append(ch)
        elif out:
            out[-1] += ch
    return out


def variant_chars(text: str) -> list[tuple[str, str]]:
    """The characters of a name that are variants, each with its canonical form: [("髙", "高")].

    Each distinct character is listed once, in order of first appearance; a character
    carrying a variation selector is listed with the selector.
    """
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    for glyph in _glyphs(text):
        canonical = fold_variants(glyph)
        if canonical != glyph and glyph[0] not in _ITERATION and glyph not in seen:
            seen.add(glyph)
            found.append((glyph, canonical))
    return found


def variant_pairs(a: str, b: str) -> list[tuple[str, str]] | None:
    """Where two names differ only by variants: [(char in a, char in b)], else None.

    None means the names are different names (their fold keys differ). An empty list means
    they are the same as written (after width and spacing).
    """
    x, y = _glyphs(name_exact_key(a)), _glyphs(name_exact_key(b))
    if len(x) != len(y) or fold_variants("".join(x)) != fold_variants("".join(y)):
        return None
    pairs: list[tuple[str, str]] = []
    for gx, gy in zip(x, y, strict=True):
        if gx != gy and (gx, gy) not in pairs:
            pairs.append((gx, gy))
    return pairs


def name_difference(a: str, b: str) -> str | None:
    """None if written the same; "異体字" if only variants differ; else "氏名の違い"."""
    pairs = variant_pairs(a, b)
    if pairs is None:
        return NAME_DIFFERENT
    return NAME_VARIANT if pairs else None


def explain_variants(a: str, b: str) -> str:
    """A short reason for a result row: "異体字 高→髙, 崎→﨑" (query → record), or ""."""
    pairs = variant_pairs(a, b) or []
    return f"{NAME_VARIANT} " + ", ".join(f"{x}→{y}" for x, y in pairs) if pairs else ""


__all__ = [
    "CANONICAL",
    "NAME_DIFFERENT",
    "NAME_VARIANT",
    "VARIANT_GROUPS",
    "explain_variants",
    "fold_variants",
    "is_variation_selector",
    "name_difference",
    "name_exact_key",
    "normalize_name",
    "variant_chars",
    "variant_pairs",
]
