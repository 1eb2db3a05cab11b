"""Address notation: one key for 「2丁目1番地2号」, 「2-1-2」 and 「二丁目一番地二号」.

The same 住所 reaches the register in several notations (docs/domain.md §5.3): kanji or
arabic numerals, 丁目/番地/号 or dashes, ケ/ヶ/が in place names (霞ケ関 = 霞が関),
の/ノ (丸の内 = 丸ノ内), 番地の (123番地の4 = 123-4). ``normalize_address`` maps all of them to
one key; ``address_difference`` tells the linkage reviewer whether two addresses differ
only in notation or really differ (docs/domain.md §8.4: flag, never silently match).

Kanji numerals are read only where they are numbers — before 丁目/丁/番地/番/号/地割/条,
around dashes and after a number's 番地の — so place names keep theirs (八丁堀, 四日市,
一番町, 十日町, 九段南). A 丁目 with nothing after it stays "丁目" so "2丁目" and "2番地"
keep different keys. 無番地 is kept as written.
"""

from __future__ import annotations

import re
import unicodedata

from services.jp.numerals import HYPHENS, NUMERAL_CHARS, kanji_to_int

ADDRESS_NOTATION = "住所表記の違い"
ADDRESS_DIFFERENT = "住所の違い"

_N = NUMERAL_CHARS
_H = re.escape(HYPHENS)
_KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff々"
_SPACES = re.compile(r"\s+")
_RUN = re.compile(f"[{_N}]+")
# What may follow a kanji numeral for it to be a number rather than part of a place name.
_NUMBER_AFTER = re.compile(
    f"(?:丁目|丁(?=[0-9{_N}{_H}]|$)|番地|番(?!町)|号|地割|条|の(?=[0-9{_N}])|[{_H}](?=[0-9{_N}]))"
)
# What may precede it: a number and its unit or separator, or 第 (第二地割).
_NUMBER_BEFORE = re.compile(f"(?:[0-9](?:丁目|丁|番地の|番地|番の|番|号|の|[{_H}])|第)$")
_DASH_BETWEEN = re.compile(f"(?<=[0-9])[{_H}]+(?=[0-9])")
_UNIT_BETWEEN = re.compile(r"(?<=[0-9])(?:丁目|丁|番地の|番地|番の|番|号|の)-?(?=[0-9])")
_UNIT_AT_END = re.compile(r"(?<=[0-9])(?:番地|番(?![町地])|号(?![室棟館線]))")
_KE = re.compile(f"(?<=[{_KANJI}])[ケヶがガヵ](?=[{_KANJI}])")
_NO = re.compile(f"(?<=[{_KANJI}])[のノ](?=[{_KANJI}])")


def _numerals_to_digits(text: str) -> str:
    """Read kanji numerals that stand for numbers; leave the ones inside place names."""
    out: list[str] = []
    pos = 0
    for m in _RUN.finditer(text):
        out.append(text[pos : m.start()])
        run = m.group()
        if _NUMBER_AFTER.match(text, m.end()) or _NUMBER_BEFORE.search("".join(out)):
            try:
                run = str(kanji_to_int(run))
            except ValueError:
                pass
        out.append(run)
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def _once(text: str) -> str:
    text = _SPACES.sub("", unicodedata.normalize("NFKC", text))
    text = _numerals_to_digits(text)
    text = _DASH_BETWEEN.sub("-", text)
    text = _UNIT_BETWEEN.sub("-", text)
    text = _UNIT_AT_END.sub("", text)
    text = _KE.sub("ケ", text)
    return _NO.sub("ノ", text)


def normalize_address(text: str) -> str:
    """The comparison key: 「東京都千代田区霞が関二丁目一番地二号」 → "東京都千代田区霞ケ関2-1-2".

    NFKC, no spaces; kanji numerals read where they are numbers; 丁目/丁/番地/番/号/の
    between numbers and dashes of every kind (-‐‑–—−ー－―) become "-"; a trailing 番地/番/号
    is dropped (号室 is kept); ケ/ヶ/が/ガ/ヵ between kanji become ケ, の/ノ between kanji ノ.
    Applying it twice gives the same key.
    """
    previous, current = text, _once(text)
    # A step can expose a number to another (一丁目二 → 1丁目二 → 1-2); settle in a few passes.
    for _ in range(4):
        if current == previous:
            break
        previous, current = current, _once(current)
    return current


def address_difference(a: str, b: str) -> str | None:
    """None if written the same (width, spaces aside); "住所表記の違い" if only the notation
    differs (2-1-2 / 2丁目1番地2号, 霞ケ関 / 霞が関); "住所の違い" if they are different places.
    """
    x = _SPACES.sub("", unicodedata.normalize("NFKC", a))
    y = _SPACES.sub("", unicodedata.normalize("NFKC", b))
    if x == y:
        return None
    return ADDRESS_NOTATION if normalize_address(a) == normalize_address(b) else ADDRESS_DIFFERENT


__all__ = ["ADDRESS_DIFFERENT", "ADDRESS_NOTATION", "address_difference", "normalize_address"]
