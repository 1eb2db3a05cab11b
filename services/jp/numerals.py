"""Kanji numerals and hyphen-like characters, shared by the date and address rules.

Documents write 令和七年十二月十二日 and 二丁目一番地二号; staff type digits. Both
modules need the same reading of 一〜九, 〇, 十, 百, 千 and the same list of dashes that
people (and IMEs) put between numbers, so they live here once.
"""

from __future__ import annotations

DIGITS: dict[str, int] = {
    "〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
UNITS: dict[str, int] = {"十": 10, "百": 100, "千": 1000}
NUMERAL_CHARS = "".join(DIGITS) + "".join(UNITS)

# Dash-like characters typed between numbers (after NFKC, which already turns － into -):
# hyphen, non-breaking hyphen, figure dash, en dash, em dash, horizontal bar, minus,
# box-drawing line and the katakana long-vowel mark an IME produces for "-".
HYPHENS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2500\u30fc\uff0d"


def kanji_to_int(text: str) -> int:
    """Read a kanji numeral: positional (二十三, 百一, 千二百) or digit by digit (二〇三).

    Raises ValueError for an empty string, a character that is not a numeral, or a
    malformed positional numeral (二三十, 十十).
    """
    if not text or any(ch not in DIGITS and ch not in UNITS for ch in text):
        raise ValueError(f"not a kanji numeral: {text!r}")
    if not any(ch in UNITS for ch in text):
        return int("".join(str(DIGITS[ch]) for ch in text))
    total = 0
    pending: int | None = None
    last_unit = 10_000
    for ch in text:
        if ch in DIGITS:
            if pending is not None:
                raise ValueError(f"malformed kanji numeral: {text!r}")
            pending = DIGITS[ch]
        else:
            unit = UNITS[ch]
            if unit >= last_unit:
                raise ValueError(f"malformed kanji numeral: {text!r}")
            total += (1 if pending is None else pending) * unit
            pending = None
            last_unit = unit
    return total + (pending or 0)


__all__ = ["DIGITS", "HYPHENS", "NUMERAL_CHARS", "UNITS", "kanji_to_int"]
