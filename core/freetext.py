"""Free text as people type it: one rule for its characters, one for My Numbers in it.

Every field a person types into — on a screen, on the command line, in an imported file —
passes ``problem`` (or ``field_text``, which names the field): control characters (C0,
DEL, C1), format characters (bidi embeddings, overrides, isolates and marks, zero-width
space/joiners, the BOM, soft hyphen, tag characters), line/paragraph separators, lone
surrogates and private-use characters (外字) are refused, because they hide or reorder
what the next reader sees. Ideographic variation selectors (U+E0100–U+E01EF, IVS) and the
other variation selectors are marks, not format characters: they are kept. A multi-line
field may hold newlines (and tabs).

``mask_my_numbers`` then replaces every My Number-shaped run with ``**** **** 1234`` before
the text is stored or recorded, whether its check digit is valid or not. A run is
12 digits (half- or full-width) written together, or as three groups of four joined by
one space or hyphen each (half- or full-width; a separator may be left out), and not
part of a longer number: no digit directly before or after it, and for the grouped form
no further digit group joined by a separator (so a 13-digit 法人番号, a 16-digit card
number, dates and phone numbers are left alone).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from core.errors import BadInput

# Refused categories: Cc control, Cf format (bidi, zero-width, BOM, tags), Cs surrogate,
# Co private use (外字), Zl/Zp line and paragraph separators.
_REFUSED = frozenset(("Cc", "Cf", "Cs", "Co", "Zl", "Zp"))
_MULTILINE_OK = frozenset("\n\t")
_BLANK = " \t\r\n\u3000"  # trimmed from both ends; other controls are refused, not trimmed

_D = "[0-9\uff10-\uff19]"
# Space, ideographic space, hyphen-minus and its look-alikes, full-width hyphen-minus,
# the katakana long vowel mark (an IME's hyphen).
_S = "[ \u3000\\-\u2010-\u2015\u2212\uff0d\u30fc\uff70]"
_RUN = re.compile(
    f"(?<!{_D}){_D}{{12}}(?!{_D})"
    f"|(?<!{_D})(?<!{_D}{_S}){_D}{{4}}{_S}?{_D}{{4}}{_S}?{_D}{{4}}(?!{_S}?{_D})"
)
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def problem(text: str, *, multiline: bool = False) -> str:
    """Why ``text``'s characters cannot be stored, or "" (the message names the character)."""
    if text.isprintable():  # the usual value: nothing to look at more closely
        return ""
    for ch in text:
        cat = unicodedata.category(ch)
        if cat not in _REFUSED or (multiline and ch in _MULTILINE_OK):
            continue
        if cat == "Co":
            return f"外字 (私用領域の文字 U+{ord(ch):04X}) は使えません"
        if cat == "Cc":
            return f"制御文字 (U+{ord(ch):04X}) を含めないでください"
        return f"見えない書式文字 (U+{ord(ch):04X}) を含めないでください"
    return ""


def mask_my_numbers(text: str) -> str:
    """``text`` with every My Number-shaped run shown as ``**** **** 1234`` (see above)."""
    if len(text) < 12:
        return text
    return _RUN.sub(_mask, text)


def _mask(m: re.Match[str]) -> str:
    return "**** **** " + m.group()[-4:].translate(_FULL_WIDTH)


def has_my_number(text: str) -> bool:
    """True when ``text`` holds a run ``mask_my_numbers`` would mask."""
    return _RUN.search(text) is not None


# A machine-made value — a hash, a fingerprint, a file name with a timestamp, a login:
# printable ASCII without spaces and with a Latin letter in it. Nobody types prose so.
_TOKEN = re.compile(r"[!-~]*[A-Za-z][!-~]*")


def masked_in(value: Any) -> Any:
    """``value`` (text, or dicts and lists of them) with My Numbers masked in every text
    but machine-made ones (above): the audit trail's last line of defence, behind the
    services, which mask every typed value themselves with ``field_text``."""
    if isinstance(value, str):
        return value if _TOKEN.fullmatch(value) else mask_my_numbers(value)
    if isinstance(value, dict):
        return {masked_in(k): masked_in(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked_in(v) for v in value]
    return value


def field_text(
    label: str, value: str | None, *, limit: int | None = None, multiline: bool = False,
    required: str = "",
) -> str:
    """A typed value as it may be stored: NFC, trimmed, its characters checked (BadInput
    naming ``label``), within ``limit`` characters, My Numbers masked.

    ``required`` is the message's end when an empty value is refused ("入力してください").
    """
    text = unicodedata.normalize("NFC", (value or "")).strip(_BLANK)
    if multiline:
        text = text.replace("\r\n", "\n")
    if why := problem(text, multiline=multiline):
        raise BadInput(f"{label}: {why}。")
    if not text and required:
        raise BadInput(f"{label}: {required}")
    if limit is not None and len(text) > limit:
        raise BadInput(f"{label}: {limit}文字以内で入力してください。")
    return mask_my_numbers(text)


__all__ = ["field_text", "has_my_number", "mask_my_numbers", "masked_in", "problem"]
